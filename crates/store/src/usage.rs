//! Usage records (issue 14, read by a later issue's reports): one row per request, written once
//! and never updated. Token counts follow the governance crate's usage shape (cached input is a
//! part of input, reasoning a part of output); the cost is the integer micro-USD that was charged.

use sqlx::Row;

use crate::{Dialect, Result, Store};

/// One request's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub request_id: String,
    /// Unix seconds when the request finished.
    pub created_at: i64,
    pub key_id: Option<String>,
    pub principal: Option<String>,
    pub team: Option<String>,
    pub backend: String,
    pub model: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
    pub latency_ms: u64,
    /// The outcome (`completed`, `failed`, `cancelled`, an error code…).
    pub status: String,
    /// The response cache's verdict (`hit`, `miss`, `bypass`).
    pub cache: String,
    /// How many fallbacks were taken before the backend that answered (0: the first choice).
    pub fallback: u64,
}

/// Which usage rows [`Store::list_usage`] returns: `since <= created_at < until`, optionally of
/// one key, newest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub since: i64,
    pub until: i64,
    pub key_id: Option<String>,
    pub limit: u32,
}

/// What [`Store::usage_totals`] groups usage rows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Key,
    Principal,
    Team,
    Model,
    /// The UTC day the request finished (its first second).
    Day,
}

impl UsageGroup {
    /// The grouping expression, as text (both dialects).
    fn expr(self) -> &'static str {
        match self {
            UsageGroup::Key => "key_id",
            UsageGroup::Principal => "principal",
            UsageGroup::Team => "team",
            UsageGroup::Model => "model",
            UsageGroup::Day => "CAST(created_at - (created_at % 86400) AS TEXT)",
        }
    }
}

/// The sums of one group's usage rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
    /// The group's value (`None`: rows without one, e.g. requests with no virtual key).
    pub group: Option<String>,
    pub requests: u64,
    pub cost_micro_usd: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Appends one usage row.
    pub async fn insert_usage(&self, record: &UsageRecord) -> Result<()> {
        self.insert_usage_batch(std::slice::from_ref(record)).await
    }

    /// Appends usage rows, all in one transaction (the gateway writes them in batches, so a
    /// request never waits on a commit of its own).
    pub async fn insert_usage_batch(&self, records: &[UsageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool, _d => {
            let mut tx = pool.begin().await?;
            for record in records {
                sqlx::query(
                    "INSERT INTO usage_records (request_id, created_at, key_id, principal, team, \
                     backend, model, input_tokens, cached_input_tokens, output_tokens, \
                     reasoning_tokens, cost_micro_usd, latency_ms, status, cache, fallback) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&record.request_id)
                .bind(record.created_at)
                .bind(&record.key_id)
                .bind(&record.principal)
                .bind(&record.team)
                .bind(&record.backend)
                .bind(&record.model)
                .bind(to_i64(record.input_tokens))
                .bind(to_i64(record.cached_input_tokens))
                .bind(to_i64(record.output_tokens))
                .bind(to_i64(record.reasoning_tokens))
                .bind(to_i64(record.cost_micro_usd))
                .bind(to_i64(record.latency_ms))
                .bind(&record.status)
                .bind(&record.cache)
                .bind(to_i64(record.fallback))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The usage rows finished in `[since, until)` summed per `group`, by group value.
    pub async fn usage_totals(
        &self,
        group: UsageGroup,
        since: i64,
        until: i64,
    ) -> Result<Vec<UsageTotal>> {
        let expr = group.expr();
        // SUM of a BIGINT is NUMERIC in PostgreSQL: cast back, so both dialects decode i64.
        let sql = format!(
            "SELECT {expr} AS grp, COUNT(*) AS requests, \
             CAST(SUM(cost_micro_usd) AS BIGINT) AS cost, \
             CAST(SUM(input_tokens) AS BIGINT) AS input, \
             CAST(SUM(output_tokens) AS BIGINT) AS output \
             FROM usage_records WHERE created_at >= $1 AND created_at < $2 \
             GROUP BY {expr} ORDER BY {expr}"
        );
        on_pool!(self, pool, _d => {
            let rows = sqlx::query(&sql)
                .bind(since)
                .bind(until)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(UsageTotal {
                    group: row.try_get("grp")?,
                    requests: to_u64(row.try_get("requests")?),
                    cost_micro_usd: to_u64(row.try_get("cost")?),
                    input_tokens: to_u64(row.try_get("input")?),
                    output_tokens: to_u64(row.try_get("output")?),
                });
            }
            Ok(out)
        })
    }

    /// The usage rows matching `query`, newest first.
    pub async fn list_usage(&self, query: &UsageQuery) -> Result<Vec<UsageRecord>> {
        on_pool!(self, pool, _d => {
            let rows = sqlx::query(
                "SELECT request_id, created_at, key_id, principal, team, backend, model, \
                 input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, \
                 cost_micro_usd, latency_ms, status, cache, fallback FROM usage_records \
                 WHERE created_at >= $1 AND created_at < $2 AND ($3 IS NULL OR key_id = $3) \
                 ORDER BY created_at DESC, id DESC LIMIT $4",
            )
            .bind(query.since)
            .bind(query.until)
            .bind(&query.key_id)
            .bind(i64::from(query.limit))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(UsageRecord {
                    request_id: row.try_get("request_id")?,
                    created_at: row.try_get("created_at")?,
                    key_id: row.try_get("key_id")?,
                    principal: row.try_get("principal")?,
                    team: row.try_get("team")?,
                    backend: row.try_get("backend")?,
                    model: row.try_get("model")?,
                    input_tokens: to_u64(row.try_get("input_tokens")?),
                    cached_input_tokens: to_u64(row.try_get("cached_input_tokens")?),
                    output_tokens: to_u64(row.try_get("output_tokens")?),
                    reasoning_tokens: to_u64(row.try_get("reasoning_tokens")?),
                    cost_micro_usd: to_u64(row.try_get("cost_micro_usd")?),
                    latency_ms: to_u64(row.try_get("latency_ms")?),
                    status: row.try_get("status")?,
                    cache: row.try_get("cache")?,
                    fallback: to_u64(row.try_get("fallback")?),
                });
            }
            Ok(out)
        })
    }
}
