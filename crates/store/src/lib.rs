//! The project's one persistence layer (STYLE.md, "One store"; issue 13).
//!
//! [`Store::open`] takes a `postgres://` URL (a pool shared by several proxy replicas), a
//! `sqlite://` URL, or a data directory (default [`DEFAULT_DATA_DIR`]) holding the embedded SQLite
//! file [`SQLITE_FILE`] in WAL mode. Versioned migrations (`migrations/{sqlite,postgres}/`, the
//! two dialects differ a little) are applied at open. Every query is scoped by the owner identity:
//! a row belongs to the identity that wrote it, and another identity never sees it.
//!
//! Times are Unix seconds (`i64`); the caller supplies them, so tests control the clock.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Row;

/// Where the embedded store lives when nothing else is configured (issue 13's `data_dir`).
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "ccp.sqlite3";
/// Size the WAL file is truncated to after a checkpoint.
pub const SQLITE_JOURNAL_SIZE_LIMIT: u64 = 4 * 1024 * 1024;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("stored JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// `after` names no input item of that response.
    #[error("no input item {0} in this response")]
    UnknownCursor(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One input or output item, with its id (the `id` the client or the proxy gave it).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub id: String,
    pub item: Value,
}

/// Whether an item was part of a response's input or its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Input,
    Output,
}

impl ItemKind {
    fn as_str(self) -> &'static str {
        match self {
            ItemKind::Input => "input",
            ItemKind::Output => "output",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "input" {
            ItemKind::Input
        } else {
            ItemKind::Output
        }
    }
}

/// A stored item found by id ([`Store::get_item`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub response_id: String,
    pub kind: ItemKind,
    pub record: ItemRecord,
}

/// One stored response: what a later `previous_response_id`, `GET /v1/responses/{id}` and
/// `input_items` need.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRecord {
    pub id: String,
    /// The client identity that created it.
    pub owner: String,
    pub created_at: i64,
    /// `None`: kept until deleted.
    pub expires_at: Option<i64>,
    pub model: String,
    pub previous_response_id: Option<String>,
    pub instructions: Option<String>,
    pub input_items: Vec<ItemRecord>,
    pub output_items: Vec<ItemRecord>,
    pub usage: Option<Value>,
    pub status: String,
    /// The whole Response object as the terminal event carried it (what GET returns); `None`
    /// for rows written before v2.
    pub response: Option<Value>,
}

/// List order of [`Store::list_input_items`] (OpenAI's `order`, default `desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

/// One page of input items.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    pub items: Vec<ItemRecord>,
    pub has_more: bool,
}

/// The store: one type, the same methods over either database.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds (the query code is textually the
/// same for both; only SQL strings that differ are chosen per dialect).
macro_rules! on_pool {
    ($store:expr, $pool:ident, $dialect:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => {
                let $dialect = Dialect::Sqlite;
                $body
            }
            Store::Postgres($pool) => {
                let $dialect = Dialect::Postgres;
                $body
            }
        }
    };
}

#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A JSON parameter: text in SQLite, text cast to jsonb in PostgreSQL.
    fn json_param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("${n}::jsonb"),
        }
    }

    /// A JSON column read back as text.
    fn json_col(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => col.to_owned(),
            Dialect::Postgres => format!("{col}::text"),
        }
    }
}

// Governance tables (issue 14); declared after `on_pool!` and `Dialect`, which they use.
mod keys;
mod spend;
mod usage;
mod usage_summary;

pub use keys::VirtualKeyRecord;
pub use spend::{SpendDelta, SpendRow};
pub use usage::{UsageGroup, UsageQuery, UsageRecord, UsageTotal};
pub use usage_summary::{UsageSummaryRow, DAY_SECS};

impl Store {
    /// Opens (and migrates) the store named by `url_or_data_dir`: a `postgres://` (or
    /// `postgresql://`) URL, a `sqlite:` URL, or a data directory (created when missing; empty
    /// means [`DEFAULT_DATA_DIR`]) holding [`SQLITE_FILE`].
    pub async fn open(url_or_data_dir: &str) -> Result<Self> {
        if url_or_data_dir.starts_with("postgres://")
            || url_or_data_dir.starts_with("postgresql://")
        {
            return Self::open_postgres(PgConnectOptions::from_str(url_or_data_dir)?).await;
        }
        let options = if url_or_data_dir.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_data_dir)?
        } else {
            let dir = if url_or_data_dir.is_empty() {
                DEFAULT_DATA_DIR
            } else {
                url_or_data_dir
            };
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
            SqliteConnectOptions::new().filename(Path::new(dir).join(SQLITE_FILE))
        };
        Self::open_sqlite(options).await
    }

    /// Opens SQLite with the store's settings (created when missing, WAL, foreign keys, a busy
    /// timeout so concurrent writers wait instead of failing) and migrates it.
    pub async fn open_sqlite(options: SqliteConnectOptions) -> Result<Self> {
        // WAL with `synchronous = NORMAL`: a commit is an append without an fsync (the WAL is
        // synced at checkpoints), so a crash can lose the last moments of writes but never
        // corrupts the file — right for stored responses, and an order of magnitude cheaper per
        // write than FULL. Incremental auto-vacuum lets eviction give pages back to the file
        // system; `journal_size_limit` keeps the WAL file from staying large after a burst.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .pragma("journal_size_limit", SQLITE_JOURNAL_SIZE_LIMIT.to_string())
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // SQLite has no migration lock, and switching a new file to WAL takes an exclusive
        // lock: two processes starting on one file at once can fail with "database is locked"
        // or race to apply the same migration ("table already exists"). A retry finds the file
        // set up and the migration recorded, and goes on.
        let mut attempt = 0;
        loop {
            let result = async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options.clone())
                    .await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
                Ok::<_, StoreError>(pool)
            }
            .await;
            match result {
                Ok(pool) => return Ok(Store::Sqlite(pool)),
                Err(_) if attempt < 8 => {
                    attempt += 1;
                    migration_pause(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens a PostgreSQL pool and migrates the database (into the first schema of the
    /// connection's `search_path`).
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        Ok(Store::Postgres(pool))
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        on_pool!(self, pool, _d => pool.close().await)
    }

    /// Stores a response and its items in one transaction; returns the bytes it counts for
    /// (`size_bytes`). A response id already stored (by any owner) is an error, never an
    /// overwrite. Each item is written once, in `items`; the Response object is kept without its
    /// `output` (rebuilt from the items on read).
    pub async fn put_response(&self, record: &ResponseRecord) -> Result<u64> {
        let usage = record
            .usage
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let response = record
            .response
            .as_ref()
            .map(|r| match r {
                Value::Object(map) => {
                    let mut map = map.clone();
                    map.remove("output");
                    serde_json::to_string(&map)
                }
                other => serde_json::to_string(other),
            })
            .transpose()?;
        let mut item_json =
            Vec::with_capacity(record.input_items.len() + record.output_items.len());
        for (kind, item) in record
            .input_items
            .iter()
            .map(|i| (ItemKind::Input, i))
            .chain(record.output_items.iter().map(|i| (ItemKind::Output, i)))
        {
            item_json.push((kind, &item.id, serde_json::to_string(&item.item)?));
        }
        let size = [
            record.id.len(),
            record.owner.len(),
            record.model.len(),
            record.previous_response_id.as_deref().map_or(0, str::len),
            record.instructions.as_deref().map_or(0, str::len),
            usage.as_deref().map_or(0, str::len),
            response.as_deref().map_or(0, str::len),
            record.status.len(),
        ]
        .iter()
        .sum::<usize>()
            + item_json
                .iter()
                .map(|(_, id, j)| id.len() + j.len())
                .sum::<usize>();
        let size = i64::try_from(size).unwrap_or(i64::MAX);

        on_pool!(self, pool, d => {
            let insert_response = format!(
                "INSERT INTO responses (id, owner, created_at, expires_at, model, \
                 previous_response_id, instructions, input_items, output_items, usage, status, \
                 size_bytes, response) VALUES ($1, $2, $3, $4, $5, $6, $7, {}, {}, {}, $11, $12, {})",
                d.json_param(8),
                d.json_param(9),
                d.json_param(10),
                d.json_param(13)
            );
            let mut tx = pool.begin().await?;
            sqlx::query(&insert_response)
                .bind(&record.id)
                .bind(&record.owner)
                .bind(record.created_at)
                .bind(record.expires_at)
                .bind(&record.model)
                .bind(&record.previous_response_id)
                .bind(&record.instructions)
                .bind("[]")
                .bind("[]")
                .bind(&usage)
                .bind(&record.status)
                .bind(size)
                .bind(&response)
                .execute(&mut *tx)
                .await?;
            // All items in one statement (chunked to stay under the bind-parameter limits).
            for (chunk_no, chunk) in item_json.chunks(150).enumerate() {
                let mut sql = String::from(
                    "INSERT INTO items (response_id, position, id, owner, kind, json) VALUES ",
                );
                for n in 0..chunk.len() {
                    let b = n * 6;
                    if n > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, {})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        d.json_param(b + 6)
                    ));
                }
                let mut query = sqlx::query(&sql);
                for (n, (kind, id, json)) in chunk.iter().enumerate() {
                    let position = chunk_no * 150 + n;
                    query = query
                        .bind(&record.id)
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(*id)
                        .bind(&record.owner)
                        .bind(kind.as_str())
                        .bind(json);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(u64::try_from(size).unwrap_or(0))
        })
    }

    /// The response `id` if `owner` stored it; `None` for an unknown id or another owner's.
    pub async fn get_response(&self, owner: &str, id: &str) -> Result<Option<ResponseRecord>> {
        on_pool!(self, pool, d => {
            let sql = format!(
                "SELECT id, owner, created_at, expires_at, model, previous_response_id, \
                 instructions, {} AS usage, status, {} AS response \
                 FROM responses WHERE owner = $1 AND id = $2",
                d.json_col("usage"),
                d.json_col("response")
            );
            let Some(row) = sqlx::query(&sql).bind(owner).bind(id).fetch_optional(pool).await?
            else {
                return Ok(None);
            };
            let items_sql = format!(
                "SELECT kind, id, {} AS json FROM items WHERE owner = $1 AND response_id = $2 \
                 ORDER BY position",
                d.json_col("json")
            );
            let item_rows = sqlx::query(&items_sql)
                .bind(owner)
                .bind(id)
                .fetch_all(pool)
                .await?;
            let mut input_items = Vec::new();
            let mut output_items = Vec::new();
            for item in &item_rows {
                let kind: String = item.try_get("kind")?;
                let json: String = item.try_get("json")?;
                let record = ItemRecord {
                    id: item.try_get("id")?,
                    item: serde_json::from_str(&json)?,
                };
                match ItemKind::parse(&kind) {
                    ItemKind::Input => input_items.push(record),
                    ItemKind::Output => output_items.push(record),
                }
            }
            let usage: Option<String> = row.try_get("usage")?;
            let response: Option<String> = row.try_get("response")?;
            let response = match response.as_deref().map(serde_json::from_str::<Value>).transpose()? {
                Some(Value::Object(mut map)) => {
                    map.insert(
                        "output".into(),
                        Value::Array(output_items.iter().map(|i| i.item.clone()).collect()),
                    );
                    Some(Value::Object(map))
                }
                other => other,
            };
            Ok(Some(ResponseRecord {
                id: row.try_get("id")?,
                owner: row.try_get("owner")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                model: row.try_get("model")?,
                previous_response_id: row.try_get("previous_response_id")?,
                instructions: row.try_get("instructions")?,
                input_items,
                output_items,
                usage: usage.as_deref().map(serde_json::from_str).transpose()?,
                status: row.try_get("status")?,
                response,
            }))
        })
    }

    /// Deletes the response `id` of `owner` and its items; `false` when there was none (or it is
    /// another owner's).
    pub async fn delete_response(&self, owner: &str, id: &str) -> Result<bool> {
        on_pool!(self, pool, _d => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM items WHERE owner = $1 AND response_id = $2")
                .bind(owner)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM responses WHERE owner = $1 AND id = $2")
                .bind(owner)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// One page of the input items of response `id` (OpenAI's `input_items`): after the item
    /// `after` (exclusive) in `order`, at most `limit`. `None` when `owner` has no such response.
    pub async fn list_input_items(
        &self,
        owner: &str,
        id: &str,
        after: Option<&str>,
        limit: u32,
        order: Order,
    ) -> Result<Option<ItemPage>> {
        on_pool!(self, pool, d => {
            let exists = sqlx::query("SELECT 1 FROM responses WHERE owner = $1 AND id = $2")
                .bind(owner)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            if exists.is_none() {
                return Ok(None);
            }
            let cursor: Option<i64> = match after {
                None => None,
                Some(after) => {
                    let row = sqlx::query(
                        "SELECT position FROM items WHERE owner = $1 AND response_id = $2 \
                         AND kind = 'input' AND id = $3 ORDER BY position LIMIT 1",
                    )
                    .bind(owner)
                    .bind(id)
                    .bind(after)
                    .fetch_optional(pool)
                    .await?;
                    match row {
                        Some(row) => Some(row.try_get::<i64, _>("position")?),
                        None => return Err(StoreError::UnknownCursor(after.to_owned())),
                    }
                }
            };
            let (cmp, dir) = match order {
                Order::Asc => (">", "ASC"),
                Order::Desc => ("<", "DESC"),
            };
            let sql = format!(
                "SELECT id, {} AS json FROM items WHERE owner = $1 AND response_id = $2 \
                 AND kind = 'input' AND ($3 IS NULL OR position {cmp} $3) \
                 ORDER BY position {dir} LIMIT $4",
                d.json_col("json")
            );
            let rows = sqlx::query(&sql)
                .bind(owner)
                .bind(id)
                .bind(cursor)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await?;
            let mut items = Vec::with_capacity(rows.len());
            for row in &rows {
                let json: String = row.try_get("json")?;
                items.push(ItemRecord {
                    id: row.try_get("id")?,
                    item: serde_json::from_str(&json)?,
                });
            }
            let has_more = items.len() > limit as usize;
            items.truncate(limit as usize);
            Ok(Some(ItemPage { items, has_more }))
        })
    }

    /// The item `item_id` as `owner` stored it (an `item_reference`); when several responses
    /// hold that id, the newest response's copy.
    pub async fn get_item(&self, owner: &str, item_id: &str) -> Result<Option<StoredItem>> {
        on_pool!(self, pool, d => {
            let sql = format!(
                "SELECT i.response_id, i.kind, i.id, {} AS json FROM items i \
                 JOIN responses r ON r.id = i.response_id AND r.owner = i.owner \
                 WHERE i.owner = $1 AND i.id = $2 \
                 ORDER BY r.created_at DESC, i.position DESC LIMIT 1",
                d.json_col("i.json")
            );
            let Some(row) = sqlx::query(&sql)
                .bind(owner)
                .bind(item_id)
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let json: String = row.try_get("json")?;
            let kind: String = row.try_get("kind")?;
            Ok(Some(StoredItem {
                response_id: row.try_get("response_id")?,
                kind: ItemKind::parse(&kind),
                record: ItemRecord {
                    id: row.try_get("id")?,
                    item: serde_json::from_str(&json)?,
                },
            }))
        })
    }

    /// Removes every response (of any owner) whose `expires_at` is at or before `now`, with its
    /// items; returns how many responses went.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        on_pool!(self, pool, _d => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM items WHERE response_id IN \
                 (SELECT id FROM responses WHERE expires_at IS NOT NULL AND expires_at <= $1)",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(
                "DELETE FROM responses WHERE expires_at IS NOT NULL AND expires_at <= $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// What the store occupies, the measure `max_bytes` bounds: for SQLite the pages in use
    /// (the file minus its free pages: rows, indexes and page overhead), for PostgreSQL the sum
    /// of the responses' serialized sizes.
    pub async fn used_bytes(&self) -> Result<u64> {
        match self {
            Store::Sqlite(pool) => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(pool)
                    .await?;
                let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                    .fetch_one(pool)
                    .await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(pool)
                    .await?;
                Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
            }
            Store::Postgres(_) => self.size_bytes().await,
        }
    }

    /// Removes the oldest responses (of any owner) until [`Store::used_bytes`] is at most
    /// `max_bytes`; returns how many went. Each round deletes one batch (sized from the excess,
    /// at most 1000 rows) in one short transaction, so eviction never holds the database for
    /// long; SQLite then hands the freed pages back to the file system.
    pub async fn evict_to(&self, max_bytes: u64) -> Result<u64> {
        let mut removed = 0u64;
        loop {
            let used = self.used_bytes().await?;
            if used <= max_bytes {
                if removed > 0 {
                    if let Store::Sqlite(pool) = self {
                        sqlx::query("PRAGMA incremental_vacuum")
                            .execute(pool)
                            .await?;
                    }
                }
                return Ok(removed);
            }
            let excess = used - max_bytes;
            // Rows occupy more than their serialized size (indexes, page overhead): scale the
            // excess to serialized bytes by the store's current ratio, plus a tenth.
            let logical = self.size_bytes().await?.max(1);
            let target =
                (u128::from(excess) * u128::from(logical) / u128::from(used.max(1))) * 11 / 10;
            let target = i64::try_from(target).unwrap_or(i64::MAX).max(1);
            let batch = on_pool!(self, pool, _d => {
                let rows = sqlx::query(
                    "SELECT id, size_bytes FROM responses ORDER BY created_at, id LIMIT 1000",
                )
                .fetch_all(pool)
                .await?;
                let mut ids = Vec::new();
                let mut freed = 0i64;
                for row in &rows {
                    if freed >= target {
                        break;
                    }
                    ids.push(row.try_get::<String, _>("id")?);
                    freed += row.try_get::<i64, _>("size_bytes")?;
                }
                if !ids.is_empty() {
                    let list = (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
                    let mut tx = pool.begin().await?;
                    for table_sql in [
                        format!("DELETE FROM items WHERE response_id IN ({list})"),
                        format!("DELETE FROM responses WHERE id IN ({list})"),
                    ] {
                        let mut q = sqlx::query(&table_sql);
                        for id in &ids {
                            q = q.bind(id);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                }
                ids.len() as u64
            });
            if batch == 0 {
                return Ok(removed);
            }
            removed += batch;
        }
    }

    /// The setting `name`, written as `init` first when absent. Every replica sharing the
    /// database gets the same value, whoever wrote it first.
    pub async fn setting_or_init(&self, name: &str, init: &str) -> Result<String> {
        on_pool!(self, pool, _d => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(init)
                .execute(pool)
                .await?;
            let value: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await?;
            Ok(value)
        })
    }

    /// The total size of what is stored, in bytes (the sum of each response's `size_bytes`:
    /// its fields and items as serialized), for the `max_bytes` bound.
    pub async fn size_bytes(&self) -> Result<u64> {
        on_pool!(self, pool, _d => {
            let row = sqlx::query("SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS total FROM responses")
                .fetch_one(pool)
                .await?;
            let total: i64 = row.try_get("total")?;
            Ok(u64::try_from(total).unwrap_or(0))
        })
    }
}

/// A short, growing pause between migration attempts.
async fn migration_pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
}
