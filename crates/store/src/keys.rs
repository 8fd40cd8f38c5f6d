//! Virtual keys at rest (issue 14). A key is stored by the keyed hash of its secret
//! (`key_hash`, unique), never by the secret; looking a presented key up is one indexed read of
//! its hash. The policy (allowlist, aliases, budgets, limits, cache mode) is one JSON document
//! owned by `ccp-governance`; this layer stores it and never interprets it.
//!
//! Revocation is one-way: `revoked_at` is set once and never cleared.

use serde_json::Value;
use sqlx::Row;

use crate::{Dialect, Result, Store};

/// One virtual key as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualKeyRecord {
    pub id: String,
    /// Hex HMAC-SHA256 of the secret under the server's secret (`ccp_governance::keys`).
    pub key_hash: String,
    pub name: String,
    pub principal: Option<String>,
    pub team: Option<String>,
    /// The key's policy as `ccp-governance` serializes it.
    pub policy: Value,
    /// Free-form metadata, returned verbatim.
    pub metadata: Value,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, key_hash, name, principal, team, expires_at, revoked_at, created_at";

impl Store {
    /// Stores a new key. An id or hash already stored is an error, never an overwrite.
    pub async fn put_virtual_key(&self, record: &VirtualKeyRecord) -> Result<()> {
        let policy = serde_json::to_string(&record.policy)?;
        let metadata = serde_json::to_string(&record.metadata)?;
        on_pool!(self, pool, d => {
            let sql = format!(
                "INSERT INTO virtual_keys ({COLUMNS}, policy, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {}, {})",
                d.json_param(9),
                d.json_param(10)
            );
            sqlx::query(&sql)
                .bind(&record.id)
                .bind(&record.key_hash)
                .bind(&record.name)
                .bind(&record.principal)
                .bind(&record.team)
                .bind(record.expires_at)
                .bind(record.revoked_at)
                .bind(record.created_at)
                .bind(&policy)
                .bind(&metadata)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Replaces what may change of key `id` (name, principal, team, expiry, policy, metadata;
    /// never its secret, creation or revocation); `false` when there is no such key.
    pub async fn update_virtual_key(&self, record: &VirtualKeyRecord) -> Result<bool> {
        let policy = serde_json::to_string(&record.policy)?;
        let metadata = serde_json::to_string(&record.metadata)?;
        on_pool!(self, pool, d => {
            let sql = format!(
                "UPDATE virtual_keys SET name = $2, principal = $3, team = $4, expires_at = $5, \
                 policy = {}, metadata = {} WHERE id = $1",
                d.json_param(6),
                d.json_param(7)
            );
            let done = sqlx::query(&sql)
                .bind(&record.id)
                .bind(&record.name)
                .bind(&record.principal)
                .bind(&record.team)
                .bind(record.expires_at)
                .bind(&policy)
                .bind(&metadata)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The key whose secret hashes to `key_hash` (revoked and expired keys included: the caller
    /// decides what they mean).
    pub async fn virtual_key_by_hash(&self, key_hash: &str) -> Result<Option<VirtualKeyRecord>> {
        self.select_virtual_keys("WHERE key_hash = $1", Some(key_hash))
            .await
            .map(|mut rows| rows.pop())
    }

    /// The key `id`.
    pub async fn virtual_key(&self, id: &str) -> Result<Option<VirtualKeyRecord>> {
        self.select_virtual_keys("WHERE id = $1", Some(id))
            .await
            .map(|mut rows| rows.pop())
    }

    /// Every stored key, by creation time then id.
    pub async fn list_virtual_keys(&self) -> Result<Vec<VirtualKeyRecord>> {
        self.select_virtual_keys("", None).await
    }

    /// Marks the key `id` revoked at `at`; `false` when there is no such key or it was revoked
    /// already (the first revocation time stays).
    pub async fn revoke_virtual_key(&self, id: &str, at: i64) -> Result<bool> {
        on_pool!(self, pool, _d => {
            let done = sqlx::query(
                "UPDATE virtual_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Deletes the key `id`; `false` when there was none. Its ledger and usage rows stay.
    pub async fn delete_virtual_key(&self, id: &str) -> Result<bool> {
        on_pool!(self, pool, _d => {
            let done = sqlx::query("DELETE FROM virtual_keys WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn select_virtual_keys(
        &self,
        filter: &str,
        param: Option<&str>,
    ) -> Result<Vec<VirtualKeyRecord>> {
        on_pool!(self, pool, d => {
            let sql = format!(
                "SELECT {COLUMNS}, {} AS policy, {} AS metadata FROM virtual_keys {filter} \
                 ORDER BY created_at, id",
                d.json_col("policy"),
                d.json_col("metadata")
            );
            let mut query = sqlx::query(&sql);
            if let Some(param) = param {
                query = query.bind(param);
            }
            let rows = query.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let policy: String = row.try_get("policy")?;
                let metadata: String = row.try_get("metadata")?;
                out.push(VirtualKeyRecord {
                    id: row.try_get("id")?,
                    key_hash: row.try_get("key_hash")?,
                    name: row.try_get("name")?,
                    principal: row.try_get("principal")?,
                    team: row.try_get("team")?,
                    policy: serde_json::from_str(&policy)?,
                    metadata: serde_json::from_str(&metadata)?,
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    created_at: row.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }
}
