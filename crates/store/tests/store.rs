//! The same store tests against SQLite (a temporary directory) and PostgreSQL (a fresh schema per
//! test, dropped at the end). PostgreSQL comes from `CCP_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); when it is unreachable the PostgreSQL tests fail,
//! they never skip (.ci/run starts it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use std::panic::AssertUnwindSafe;
use std::str::FromStr;

use ccp_store::{ItemKind, ItemRecord, Order, ResponseRecord, Store, StoreError};
use common::{pg_url, with_postgres, with_sqlite};
use futures_util::FutureExt;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

both!(
    migrations_from_empty,
    put_get_delete_round_trip,
    owner_isolation,
    input_items_pagination,
    purge_expired,
    concurrent_puts_all_land,
    evict_to_a_size_bound,
    settings_are_written_once,
);

fn item(id: &str, text: &str) -> ItemRecord {
    ItemRecord {
        id: id.to_owned(),
        item: json!({"type": "message", "id": id, "role": "user", "content": [{"type": "input_text", "text": text}]}),
    }
}

fn record(id: &str, owner: &str, inputs: usize) -> ResponseRecord {
    let output = json!({"type": "reasoning", "id": format!("{id}_out"), "summary": [], "content": [{"type": "reasoning_text", "text": "hmm ✓"}]});
    ResponseRecord {
        id: id.to_owned(),
        owner: owner.to_owned(),
        created_at: 1_000,
        expires_at: Some(1_000 + 30 * 86_400),
        model: "glm-4.6".to_owned(),
        previous_response_id: None,
        instructions: Some("be brief".to_owned()),
        input_items: (0..inputs)
            .map(|n| item(&format!("{id}_in{n}"), &format!("question {n}")))
            .collect(),
        output_items: vec![ItemRecord {
            id: format!("{id}_out"),
            item: output.clone(),
        }],
        usage: Some(json!({"input_tokens": 12, "output_tokens": 3, "total_tokens": 15})),
        status: "completed".to_owned(),
        // The Response object's `output` is what the output items are (the store keeps them
        // once and puts them back on read).
        response: Some(
            json!({"id": id, "object": "response", "status": "completed", "output": [output]}),
        ),
    }
}

async fn migrations_from_empty(store: Store) {
    let versions: Vec<i64> = match &store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await
                .unwrap()
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(versions, vec![1, 2, 3]);
    assert_eq!(store.size_bytes().await.unwrap(), 0);
    assert_eq!(store.get_response("a", "resp_x").await.unwrap(), None);
    assert_eq!(store.purge_expired(i64::MAX).await.unwrap(), 0);
}

async fn put_get_delete_round_trip(store: Store) {
    let mut first = record("resp_1", "alice", 2);
    first.expires_at = None;
    store.put_response(&first).await.unwrap();
    let mut second = record("resp_2", "alice", 1);
    second.previous_response_id = Some("resp_1".to_owned());
    second.instructions = None;
    second.usage = None;
    store.put_response(&second).await.unwrap();

    assert_eq!(
        store.get_response("alice", "resp_1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.get_response("alice", "resp_2").await.unwrap(),
        Some(second.clone())
    );
    assert!(store.size_bytes().await.unwrap() > 0);

    // A duplicate id is refused, never an overwrite.
    assert!(matches!(
        store.put_response(&record("resp_1", "bob", 0)).await,
        Err(StoreError::Database(_))
    ));
    assert_eq!(
        store.get_response("alice", "resp_1").await.unwrap(),
        Some(first)
    );

    let stored = store
        .get_item("alice", "resp_2_out")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.response_id, "resp_2");
    assert_eq!(stored.kind, ItemKind::Output);
    assert_eq!(stored.record, second.output_items[0]);
    let input = store
        .get_item("alice", "resp_1_in1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (input.kind, input.record),
        (ItemKind::Input, item("resp_1_in1", "question 1"))
    );

    assert!(store.delete_response("alice", "resp_1").await.unwrap());
    assert!(!store.delete_response("alice", "resp_1").await.unwrap());
    assert_eq!(store.get_response("alice", "resp_1").await.unwrap(), None);
    assert_eq!(store.get_item("alice", "resp_1_in0").await.unwrap(), None);
    assert!(store
        .get_response("alice", "resp_2")
        .await
        .unwrap()
        .is_some());
    assert!(store.delete_response("alice", "resp_2").await.unwrap());
    assert_eq!(store.size_bytes().await.unwrap(), 0);
}

async fn owner_isolation(store: Store) {
    store
        .put_response(&record("resp_a", "alice", 3))
        .await
        .unwrap();
    assert_eq!(store.get_response("bob", "resp_a").await.unwrap(), None);
    assert_eq!(store.get_item("bob", "resp_a_in0").await.unwrap(), None);
    assert_eq!(store.get_item("bob", "resp_a_out").await.unwrap(), None);
    assert_eq!(
        store
            .list_input_items("bob", "resp_a", None, 10, Order::Asc)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_response("bob", "resp_a").await.unwrap());
    assert!(store
        .get_response("alice", "resp_a")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .list_input_items("alice", "resp_a", None, 10, Order::Asc)
            .await
            .unwrap()
            .unwrap()
            .items
            .len(),
        3
    );
}

async fn input_items_pagination(store: Store) {
    store
        .put_response(&record("resp_p", "alice", 5))
        .await
        .unwrap();
    let ids =
        |page: &ccp_store::ItemPage| page.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();

    let page = store
        .list_input_items("alice", "resp_p", None, 2, Order::Asc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), ["resp_p_in0", "resp_p_in1"]);
    assert!(page.has_more);
    assert_eq!(page.items[1], item("resp_p_in1", "question 1"));
    let page = store
        .list_input_items("alice", "resp_p", Some("resp_p_in1"), 2, Order::Asc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), ["resp_p_in2", "resp_p_in3"]);
    assert!(page.has_more);
    let page = store
        .list_input_items("alice", "resp_p", Some("resp_p_in3"), 2, Order::Asc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), ["resp_p_in4"]);
    assert!(!page.has_more);

    let page = store
        .list_input_items("alice", "resp_p", None, 3, Order::Desc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), ["resp_p_in4", "resp_p_in3", "resp_p_in2"]);
    assert!(page.has_more);
    let page = store
        .list_input_items("alice", "resp_p", Some("resp_p_in2"), 3, Order::Desc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&page), ["resp_p_in1", "resp_p_in0"]);
    assert!(!page.has_more);

    // Output items are not input items; an unknown cursor is an error naming it.
    assert!(matches!(
        store.list_input_items("alice", "resp_p", Some("resp_p_out"), 3, Order::Desc).await,
        Err(StoreError::UnknownCursor(id)) if id == "resp_p_out"
    ));
    let empty = store
        .list_input_items("alice", "resp_p", Some("resp_p_in4"), 3, Order::Asc)
        .await
        .unwrap()
        .unwrap();
    assert!(empty.items.is_empty() && !empty.has_more);
    assert_eq!(
        store
            .list_input_items("alice", "resp_none", None, 3, Order::Asc)
            .await
            .unwrap(),
        None
    );
}

async fn purge_expired(store: Store) {
    let mut soon = record("resp_soon", "alice", 1);
    soon.expires_at = Some(2_000);
    let mut later = record("resp_later", "bob", 1);
    later.expires_at = Some(3_000);
    let mut never = record("resp_never", "alice", 1);
    never.expires_at = None;
    for r in [&soon, &later, &never] {
        store.put_response(r).await.unwrap();
    }
    let before = store.size_bytes().await.unwrap();
    assert_eq!(store.purge_expired(1_999).await.unwrap(), 0);
    assert_eq!(store.purge_expired(2_000).await.unwrap(), 1);
    assert_eq!(
        store.get_response("alice", "resp_soon").await.unwrap(),
        None
    );
    assert_eq!(
        store.get_item("alice", "resp_soon_in0").await.unwrap(),
        None
    );
    assert!(store.size_bytes().await.unwrap() < before);
    assert!(store
        .get_response("bob", "resp_later")
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.purge_expired(i64::MAX).await.unwrap(), 1);
    assert_eq!(store.get_response("bob", "resp_later").await.unwrap(), None);
    assert_eq!(
        store.get_response("alice", "resp_never").await.unwrap(),
        Some(never)
    );
}

async fn concurrent_puts_all_land(store: Store) {
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_response(&record(&format!("resp_c{n}"), "alice", 2))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for n in 0..100 {
        let id = format!("resp_c{n}");
        assert_eq!(
            store.get_response("alice", &id).await.unwrap(),
            Some(record(&id, "alice", 2))
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested/data");
    let data_dir = data_dir.to_str().unwrap();
    let store = Store::open(data_dir).await.unwrap();
    store
        .put_response(&record("resp_r", "alice", 2))
        .await
        .unwrap();
    store.close().await;
    assert!(dir
        .path()
        .join("nested/data")
        .join(ccp_store::SQLITE_FILE)
        .is_file());

    let store = Store::open(data_dir).await.unwrap();
    assert_eq!(
        store.get_response("alice", "resp_r").await.unwrap(),
        Some(record("resp_r", "alice", 2))
    );
    let mode: String = match &store {
        Store::Sqlite(pool) => sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap(),
        Store::Postgres(_) => unreachable!("a data directory opens SQLite"),
    };
    assert_eq!(mode, "wal");
    store.close().await;

    // The same file through a sqlite:// URL.
    let url = format!("sqlite://{data_dir}/{}", ccp_store::SQLITE_FILE);
    let store = Store::open(&url).await.unwrap();
    assert!(store
        .get_response("alice", "resp_r")
        .await
        .unwrap()
        .is_some());
    store.close().await;
}

/// `Store::open` takes a `postgres://` URL as it is configured (`storage.url`); the schema comes
/// through the URL's `options`.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_open_by_url() {
    let url = pg_url();
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is unreachable ({e})"));
    let schema = format!("ccp_test_{:016x}", fastrand::u64(..));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let outcome = AssertUnwindSafe(async {
        let store = Store::open(&format!("{url}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap();
        assert!(matches!(store, Store::Postgres(_)));
        store
            .put_response(&record("resp_u", "alice", 1))
            .await
            .unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 \
             AND table_name IN ('responses', 'items', '_sqlx_migrations')",
        )
        .bind(&schema)
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(tables, 3);
        store.close().await;
    })
    .catch_unwind()
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn evict_to_a_size_bound(store: Store) {
    let big = "x".repeat(2_000);
    for n in 0..200 {
        let mut r = record(&format!("resp_e{n:03}"), "alice", 1);
        r.created_at = 1_000 + n;
        r.instructions = Some(big.clone());
        store.put_response(&r).await.unwrap();
    }
    let used = store.used_bytes().await.unwrap();
    assert!(used > 400_000, "{used}");
    assert_eq!(store.evict_to(used).await.unwrap(), 0);
    let bound = used / 2;
    let removed = store.evict_to(bound).await.unwrap();
    assert!((90..=150).contains(&removed), "{removed} removed");
    assert!(store.used_bytes().await.unwrap() <= bound);
    // Oldest first: every survivor is newer than every evicted response.
    let kept: Vec<bool> = {
        let mut v = Vec::new();
        for n in 0..200 {
            let id = format!("resp_e{n:03}");
            v.push(store.get_response("alice", &id).await.unwrap().is_some());
        }
        v
    };
    let first_kept = kept.iter().position(|k| *k).unwrap();
    assert_eq!(first_kept as u64, removed);
    assert!(kept[first_kept..].iter().all(|k| *k));
    assert_eq!(
        store.get_item("alice", "resp_e000_in0").await.unwrap(),
        None
    );
    assert_eq!(store.evict_to(0).await.unwrap(), 200 - removed);
    assert_eq!(store.size_bytes().await.unwrap(), 0);
}

async fn settings_are_written_once(store: Store) {
    assert_eq!(
        store.setting_or_init("secret", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.setting_or_init("secret", "second").await.unwrap(),
        "first"
    );
    assert_eq!(store.setting_or_init("other", "x").await.unwrap(), "x");
}

/// A temporary directory holding only the first migration of `dialect`, to build a v1 database.
fn v1_migrations(dialect: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect)
        .join("0001_responses.sql");
    std::fs::copy(&src, dir.path().join("0001_responses.sql")).unwrap();
    dir
}

const V1_INSERT: &str = "INSERT INTO responses (id, owner, created_at, expires_at, model, \
    previous_response_id, instructions, input_items, output_items, usage, status, size_bytes) \
    VALUES ('resp_v1', 'alice', 1000, NULL, 'm', NULL, NULL, '[]', '[]', NULL, 'completed', 10)";

/// A database written by v1 of the schema opens under the current version: the migration adds
/// what is new and the old row still reads (without the v2 `response` column's value).
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_upgrade_from_v1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(ccp_store::SQLITE_FILE);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let v1 = v1_migrations("sqlite");
    sqlx::migrate::Migrator::new(v1.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(V1_INSERT).execute(&pool).await.unwrap();
    pool.close().await;

    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    let old = store
        .get_response("alice", "resp_v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((old.status.as_str(), old.response), ("completed", None));
    assert_eq!(store.setting_or_init("k", "v").await.unwrap(), "v");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_upgrade_from_v1() {
    let url = pg_url();
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is unreachable ({e})"));
    let schema = format!("ccp_test_{:016x}", fastrand::u64(..));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let outcome = AssertUnwindSafe(async {
        let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
        let v1 = v1_migrations("postgres");
        sqlx::migrate::Migrator::new(v1.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(V1_INSERT).execute(&pool).await.unwrap();
        pool.close().await;

        let store = Store::open_postgres(options).await.unwrap();
        let old = store
            .get_response("alice", "resp_v1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((old.status.as_str(), old.response), ("completed", None));
        assert_eq!(store.setting_or_init("k", "v").await.unwrap(), "v");
        store.close().await;
    })
    .catch_unwind()
    .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Several processes starting on one data directory at once (two proxies, parallel tests): every
/// open succeeds, whoever applies the migrations.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_concurrent_first_opens_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { Store::open(&path).await })
        })
        .collect();
    for open in opens {
        let store = open.await.unwrap().unwrap();
        assert_eq!(store.size_bytes().await.unwrap(), 0);
        store.close().await;
    }
}
