//! Shared by the store's test files: each case runs on SQLite (a temporary directory) and on
//! PostgreSQL (a fresh schema per test, dropped at the end). PostgreSQL comes from
//! `CCP_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`); when it is
//! unreachable the PostgreSQL tests fail, they never skip (.ci/run starts it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;

use ccp_store::Store;
use futures_util::FutureExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn pg_url() -> String {
    std::env::var("CCP_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
    body(store.clone()).await;
    store.close().await;
}

pub async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = pg_url();
    let mut admin = PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} is unreachable ({e}); start it (.ci/run does) or set CCP_TEST_POSTGRES_URL")
    });
    let schema = format!("ccp_test_{:016x}", fastrand::u64(..));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let outcome = AssertUnwindSafe(async {
        let store = Store::open_postgres(options).await.unwrap();
        body(store.clone()).await;
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

/// `name` run on both databases: `sqlite_name` and `postgres_name`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                super::with_sqlite(super::$name).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                super::with_postgres(super::$name).await;
            })*
        }
    };
}
