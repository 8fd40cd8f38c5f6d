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

const ADMIN_KEY: &str = "sk-admin-e2e-replicas-0123456789abcdef";

async fn admin(
    proxy: &Proxy,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, proxy.url(path))
        .bearer_auth(ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn status_with(proxy: &Proxy, key: &str) -> u16 {
    reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "input": "hi", "max_output_tokens": 1, "store": false}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until `check` holds, at most `within`; returns how long it took.
async fn within<F, Fut>(within: std::time::Duration, mut check: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Issue 14, acceptance 6: two proxy processes on one PostgreSQL and one Redis share keys
/// (created or revoked on one, in force on the other within a second), one rate limit and one
/// budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_keys_budgets_and_rate_limits() {
    let schema = Schema::create().await;
    let upstream = MockUpstream::start(Strictness::default()).await;
    for _ in 0..64 {
        upstream.push(Reply::completion_text("ok"));
    }
    let redis =
        std::env::var("CCP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = one_backend(&upstream.url(), "upstream-model");
    config["storage"] = json!({"url": schema.url()});
    config["redis_url"] = json!(redis);
    config["admin_keys"] = json!([ADMIN_KEY]);
    // One USD a token: every answer (10 prompt + 1 completion tokens) costs 11 USD.
    config["pricing"] = json!({"*": {"input_per_mtok": 1000000.0, "output_per_mtok": 1000000.0}});
    let a = Proxy::start(config.clone());
    let b = Proxy::start(config);
    let team = format!("t{:08x}", fastrand::u32(..));

    // A key created through A works through B within a second.
    let (status, limited) = admin(
        &a,
        reqwest::Method::POST,
        "/admin/v1/keys",
        Some(json!({"name": "limited", "team": team, "rate_limits": {"rpm": 4}})),
    )
    .await;
    assert_eq!(status, 201, "{limited}");
    let limited_key = limited["key"].as_str().unwrap().to_owned();
    let took = within(std::time::Duration::from_secs(1), || async {
        status_with(&b, &limited_key).await == 200
    })
    .await;
    assert!(
        took.is_some(),
        "the key created on A did not work on B within 1 s"
    );

    // One rate limit across both: 4 a minute in all (one already used above).
    let mut ok = 1;
    for n in 0..9 {
        let proxy = if n % 2 == 0 { &a } else { &b };
        match status_with(proxy, &limited_key).await {
            200 => ok += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    assert_eq!(ok, 4, "the rate limit held across replicas");

    // One budget across both: 50 USD at 11 a request admits four or five in all, not per replica.
    let (_, budgeted) = admin(
        &b,
        reqwest::Method::POST,
        "/admin/v1/keys",
        Some(json!({"name": "budgeted", "team": team,
                    "budgets": [{"scope": "team", "window": "day", "limit_usd": 50}]})),
    )
    .await;
    let budget_key = budgeted["key"].as_str().unwrap().to_owned();
    assert!(within(std::time::Duration::from_secs(1), || async {
        status_with(&a, &budget_key).await == 200
    })
    .await
    .is_some());
    let mut admitted = 1;
    for n in 0..12 {
        let proxy = if n % 2 == 0 { &b } else { &a };
        match status_with(proxy, &budget_key).await {
            200 => admitted += 1,
            402 => {}
            other => panic!("status {other}"),
        }
    }
    assert!(
        (4..=5).contains(&admitted),
        "{admitted} admitted across both replicas"
    );

    // A revocation through B is in force on A within a second.
    let id = limited["id"].as_str().unwrap();
    let (status, _) = admin(
        &b,
        reqwest::Method::DELETE,
        &format!("/admin/v1/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let took = within(std::time::Duration::from_secs(1), || async {
        status_with(&a, &limited_key).await == 401
    })
    .await;
    assert!(
        took.is_some(),
        "the revocation on B did not reach A within 1 s"
    );
    for p in [&a, &b] {
        let logs = p.all_logs();
        assert!(
            !logs.contains(&limited_key)
                && !logs.contains(&budget_key)
                && !logs.contains(ADMIN_KEY)
        );
    }
}
