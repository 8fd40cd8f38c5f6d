//! The spend ledger (issue 14): one row per (scope, window), holding the micro-USD settled there
//! and how many requests settled. Rows are only ever added to ([`Store::add_spend`] is an upsert
//! that sums), so replicas writing the same row concurrently never lose an addition, and the row
//! is exactly the sum of the per-request costs written into it.
//!
//! `scope_kind` is `key`, `principal`, `team` or `global`; `window_kind` is `day`, `week` or
//! `month`; `window_start` is the window's first second (Unix seconds). The governance crate
//! owns those meanings.

use sqlx::Row;

use crate::{Dialect, Result, Store};

/// An amount to add to one ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendDelta {
    pub scope_kind: String,
    pub scope_id: String,
    pub window_kind: String,
    pub window_start: i64,
    pub micro_usd: u64,
    pub requests: u64,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    pub scope_kind: String,
    pub scope_id: String,
    pub window_kind: String,
    pub window_start: i64,
    pub spent_micro_usd: u64,
    pub request_count: u64,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Adds each delta to its row (created at zero when absent), all in one transaction.
    pub async fn add_spend(&self, deltas: &[SpendDelta]) -> Result<()> {
        on_pool!(self, pool, _d => {
            let mut tx = pool.begin().await?;
            for delta in deltas {
                sqlx::query(
                    "INSERT INTO spend_ledger (scope_kind, scope_id, window_kind, window_start, \
                     spent_micro_usd, request_count) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (scope_kind, scope_id, window_kind, window_start) DO UPDATE SET \
                     spent_micro_usd = spend_ledger.spent_micro_usd + excluded.spent_micro_usd, \
                     request_count = spend_ledger.request_count + excluded.request_count",
                )
                .bind(&delta.scope_kind)
                .bind(&delta.scope_id)
                .bind(&delta.window_kind)
                .bind(delta.window_start)
                .bind(to_i64(delta.micro_usd))
                .bind(to_i64(delta.requests))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The row of one scope and window, if anything was settled there.
    pub async fn spend(
        &self,
        scope_kind: &str,
        scope_id: &str,
        window_kind: &str,
        window_start: i64,
    ) -> Result<Option<SpendRow>> {
        let rows = self
            .select_spend(
                "scope_kind = $1 AND scope_id = $2 AND window_kind = $3 AND window_start = $4",
                scope_kind,
                scope_id,
                Some((window_kind, window_start)),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Every row of one scope (all windows), oldest window first.
    pub async fn list_spend(&self, scope_kind: &str, scope_id: &str) -> Result<Vec<SpendRow>> {
        self.select_spend(
            "scope_kind = $1 AND scope_id = $2",
            scope_kind,
            scope_id,
            None,
        )
        .await
    }

    /// Every row of one scope kind (all its ids) and window kind whose window starts in
    /// `[since, until)`, by window start then scope id: what the admin API reports as spend.
    pub async fn list_spend_windows(
        &self,
        scope_kind: &str,
        window_kind: &str,
        since: i64,
        until: i64,
    ) -> Result<Vec<SpendRow>> {
        on_pool!(self, pool, _d => {
            let rows = sqlx::query(
                "SELECT scope_kind, scope_id, window_kind, window_start, spent_micro_usd, \
                 request_count FROM spend_ledger WHERE scope_kind = $1 AND window_kind = $2 \
                 AND window_start >= $3 AND window_start < $4 ORDER BY window_start, scope_id",
            )
            .bind(scope_kind)
            .bind(window_kind)
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?;
            rows.iter().map(spend_row).collect()
        })
    }

    async fn select_spend(
        &self,
        filter: &str,
        scope_kind: &str,
        scope_id: &str,
        window: Option<(&str, i64)>,
    ) -> Result<Vec<SpendRow>> {
        on_pool!(self, pool, _d => {
            let sql = format!(
                "SELECT scope_kind, scope_id, window_kind, window_start, spent_micro_usd, \
                 request_count FROM spend_ledger WHERE {filter} ORDER BY window_start, window_kind"
            );
            let mut query = sqlx::query(&sql).bind(scope_kind).bind(scope_id);
            if let Some((kind, start)) = window {
                query = query.bind(kind).bind(start);
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(spend_row).collect()
        })
    }
}

fn spend_row<R: Row>(row: &R) -> Result<SpendRow>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SpendRow {
        scope_kind: row.try_get("scope_kind")?,
        scope_id: row.try_get("scope_id")?,
        window_kind: row.try_get("window_kind")?,
        window_start: row.try_get("window_start")?,
        spent_micro_usd: to_u64(row.try_get("spent_micro_usd")?),
        request_count: to_u64(row.try_get("request_count")?),
    })
}
