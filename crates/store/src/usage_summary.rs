//! Usage summed by day, key and model (issue 15: the `usage` command and the console's spend
//! charts). The sums are taken in the database, so a report over months reads one row per
//! (day, key, model), not one per request.
//!
//! Days are UTC: `day` is the first second of the day (`created_at - created_at mod 86400`).

use sqlx::Row;

use crate::{Dialect, Result, Store};

/// Seconds in a UTC day.
pub const DAY_SECS: i64 = 86_400;

/// The usage of one key with one model on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummaryRow {
    /// First second of the UTC day.
    pub day: i64,
    pub key_id: Option<String>,
    pub model: String,
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
    /// Requests answered from the response cache.
    pub cache_hits: u64,
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The usage rows with `since <= created_at < until`, summed per (day, key, model), ordered
    /// by day, then key, then model.
    pub async fn summarize_usage(&self, since: i64, until: i64) -> Result<Vec<UsageSummaryRow>> {
        on_pool!(self, pool, _d => {
            // PostgreSQL sums BIGINT into NUMERIC: cast back (SQLite keeps integers anyway).
            let rows = sqlx::query(
                "SELECT created_at / 86400 * 86400 AS day, key_id, model, \
                 CAST(COUNT(*) AS BIGINT) AS requests, \
                 CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
                 CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens, \
                 CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
                 CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens, \
                 CAST(SUM(cost_micro_usd) AS BIGINT) AS cost_micro_usd, \
                 CAST(SUM(CASE WHEN cache = 'hit' THEN 1 ELSE 0 END) AS BIGINT) AS cache_hits \
                 FROM usage_records WHERE created_at >= $1 AND created_at < $2 \
                 GROUP BY created_at / 86400 * 86400, key_id, model \
                 ORDER BY day, key_id, model",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(UsageSummaryRow {
                    day: row.try_get("day")?,
                    key_id: row.try_get("key_id")?,
                    model: row.try_get("model")?,
                    requests: to_u64(row.try_get("requests")?),
                    input_tokens: to_u64(row.try_get("input_tokens")?),
                    cached_input_tokens: to_u64(row.try_get("cached_input_tokens")?),
                    output_tokens: to_u64(row.try_get("output_tokens")?),
                    reasoning_tokens: to_u64(row.try_get("reasoning_tokens")?),
                    cost_micro_usd: to_u64(row.try_get("cost_micro_usd")?),
                    cache_hits: to_u64(row.try_get("cache_hits")?),
                });
            }
            Ok(out)
        })
    }
}
