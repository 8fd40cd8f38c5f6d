//! End-to-end: Responses state shared by proxy processes (issue 13, acceptance 4). Two proxy
//! binaries on one PostgreSQL (a fresh schema per test, from `CCP_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; .ci/run starts PostgreSQL when none answers) share
//! every stored response: a chain started through one continues through the other, and 100
//! concurrent writes spread over both are all there. On SQLite, a chain survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};
use sqlx::Connection as _;

fn pg_url() -> String {
    std::env::var("CCP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema, dropped when the guard goes.
struct Schema {
    name: String,
}

impl Schema {
    async fn create() -> Schema {
        let url = pg_url();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} is unreachable ({e}); start it (.ci/run does) or set CCP_TEST_POSTGRES_URL")
        });
        let name = format!("ccp_e2e_{:016x}", fastrand::u64(..));
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        Schema { name }
    }

    /// The store URL replicas are configured with (the schema through `options`).
    fn url(&self) -> String {
        let url = pg_url();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{}", self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url()).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

async fn create(proxy: &Proxy, body: &Value) -> Value {
    let resp = reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let json: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{json}");
    json
}

fn user_texts(upstream: &MockUpstream, n: usize) -> Vec<String> {
    upstream.request(n).unwrap().body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            parts => parts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgres_share_chains_and_lose_no_write() {
    let schema = Schema::create().await;
    let upstream = MockUpstream::start(Strictness::default()).await;
    let config = |url: &str| {
        let mut c = one_backend(&upstream.url(), "upstream-model");
        c["storage"] = json!({"url": url});
        c
    };
    let a = Proxy::start(config(&schema.url()));
    let b = Proxy::start(config(&schema.url()));

    // A chain across replicas: A, then B, then A.
    upstream.push(Reply::completion_text("one"));
    let first = create(&a, &json!({"model": "m", "input": "turn 1"})).await;
    upstream.push(Reply::completion_text("two"));
    let second = create(
        &b,
        &json!({"model": "m", "input": "turn 2", "previous_response_id": first["id"]}),
    )
    .await;
    upstream.push(Reply::completion_text("three"));
    create(
        &a,
        &json!({"model": "m", "input": "turn 3", "previous_response_id": second["id"]}),
    )
    .await;
    assert_eq!(
        user_texts(&upstream, 2),
        ["turn 1", "one", "turn 2", "two", "turn 3"]
    );

    // 100 concurrent writes, half through each replica; every one readable through the other.
    for _ in 0..100 {
        upstream.push(Reply::completion_text("concurrent"));
    }
    let writes: Vec<_> = (0..100)
        .map(|n| {
            let url = if n % 2 == 0 {
                a.url("/v1/responses")
            } else {
                b.url("/v1/responses")
            };
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .json(&json!({"model": "m", "input": format!("write {n}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200);
                let v: Value = resp.json().await.unwrap();
                (n, v["id"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    let mut ids = Vec::new();
    for w in writes {
        ids.push(w.await.unwrap());
    }
    for (n, id) in &ids {
        let other = if n % 2 == 0 { &b } else { &a };
        let got: Value = reqwest::get(other.url(&format!("/v1/responses/{id}/input_items")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got["data"][0]["content"][0]["text"],
            format!("write {n}"),
            "{got}"
        );
    }
    let mut conn = sqlx::PgConnection::connect(&schema.url()).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM responses")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 103, "3 chained + 100 concurrent responses, none lost");
    // One server secret for both: a sealed blob from one opens on the other.
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM settings WHERE name = 'server_secret'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(secrets, 1);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_continues_after_a_restart_on_sqlite() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let data = TempDir::new("ccp-data");
    let mut config = one_backend(&upstream.url(), "upstream-model");
    config["data_dir"] = json!(data.path().to_string_lossy());
    let proxy = Proxy::start(config.clone());
    upstream.push(Reply::completion_text("before the restart"));
    let first = create(&proxy, &json!({"model": "m", "input": "remember me"})).await;
    drop(proxy);
    assert!(data.join(ccp_store::SQLITE_FILE).is_file());

    let proxy = Proxy::start(config);
    upstream.push(Reply::completion_text("after the restart"));
    create(
        &proxy,
        &json!({"model": "m", "input": "still there?", "previous_response_id": first["id"]}),
    )
    .await;
    assert_eq!(
        user_texts(&upstream, 1),
        ["remember me", "before the restart", "still there?"]
    );
}
