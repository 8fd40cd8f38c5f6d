//! Governance through the whole app (issue 14): virtual keys (missing, wrong, expired, revoked),
//! model allowlists and aliases, rate limits, budgets with their warning and their accuracy
//! under concurrency, and the Codex-aware in-stream denials. The store is a SQLite file in a
//! temporary `data_dir`; the upstream is the strict Chat Completions mock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const DEV_KEY: &str = "sk-ccp-test-dev-key-000000000001";
const EXPIRED_KEY: &str = "sk-ccp-test-expired-key-0000002";
const LIMITED_KEY: &str = "sk-ccp-test-limited-key-0000003";
const BUDGET_KEY: &str = "sk-ccp-test-budget-key-00000004";

/// Two backends: `main` (the default, model `upstream-model`) and `kimi` serving `kimi-k2.6`,
/// both at `upstream`; keys and prices as the example config.
fn config(upstream: &str, dir: &TempDir, extra: Value) -> String {
    let mut config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": dir.join("logs").to_string_lossy(),
        "data_dir": dir.join("data").to_string_lossy(),
        "backends": [
            {"name": "main", "url": upstream, "api_key": UPSTREAM_KEY, "model": "upstream-model",
             "protocol": "openai", "match_rules": {"default": true}},
            {"name": "kimi", "url": upstream, "api_key": UPSTREAM_KEY, "model": "kimi-k2.6",
             "protocol": "openai", "match_rules": {"models": ["kimi-*"]}}
        ],
        "model_aliases": {"gpt-4o": "kimi-k2.6"},
        // One USD a token: costs are easy to check by hand.
        "pricing": {"*": {"input_per_mtok": 1000000.0, "output_per_mtok": 1000000.0}},
        "virtual_keys": [
            {"name": "dev", "key": DEV_KEY, "principal": "dev1@example.com", "team": "eng",
             "models_allowed": ["kimi-*", "gpt-4o", "upstream-model"]},
            {"name": "old", "key": EXPIRED_KEY, "expires_at": "2020-01-01T00:00:00Z"},
            {"name": "limited", "key": LIMITED_KEY, "rate_limits": {"rpm": 2}},
            {"name": "budget", "key": BUDGET_KEY, "team": "eng",
             "budgets": [{"scope": "team", "window": "day", "limit_usd": 100, "warn_at": 0.8}]}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

async fn post(app: &App, body: &Value, key: Option<&str>) -> reqwest::Response {
    post_json(&app.url("/v1/responses"), body, key).await
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_and_their_state_named() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-gov");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    let body = json!({"model": "upstream-model", "input": "hi"});

    upstream.push(Reply::completion_text("hello"));
    assert_eq!(
        post(&app, &body, Some(DEV_KEY)).await.status().as_u16(),
        200
    );

    let cases = [
        (None, "missing client key"),
        (Some("sk-ccp-not-a-key-at-all-000000"), "matches none"),
        (Some(EXPIRED_KEY), "expired"),
    ];
    for (key, says) in cases {
        let (status, err) = error_of(post(&app, &body, key).await).await;
        assert_eq!(status, 401, "{key:?}: {err}");
        assert_eq!(err["error"]["code"], "invalid_api_key");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(says),
            "{err}"
        );
    }
    // A key created at run time works, then is revoked.
    let created = app
        .gateway
        .governor()
        .create_key(serde_json::from_value(json!({"name": "temp"})).unwrap())
        .await
        .unwrap();
    let secret = created["key"].as_str().unwrap().to_owned();
    upstream.push(Reply::completion_text("hello"));
    assert_eq!(
        post(&app, &body, Some(&secret)).await.status().as_u16(),
        200
    );
    app.gateway
        .governor()
        .revoke_key(created["id"].as_str().unwrap())
        .await
        .unwrap();
    let (status, err) = error_of(post(&app, &body, Some(&secret)).await).await;
    assert_eq!(status, 401, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{err}"
    );
    assert_no_keys(&err.to_string());
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlists_refuse_and_aliases_route() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-gov");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;

    // The alias routes gpt-4o to the kimi backend and its model.
    upstream.push(Reply::completion_text("via alias"));
    let resp = post(
        &app,
        &json!({"model": "gpt-4o", "input": "hi"}),
        Some(DEV_KEY),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-ccp-backend"], "kimi");
    assert_eq!(upstream.request(0).unwrap().body["model"], "kimi-k2.6");

    // Off the list: 403 naming the model and what is allowed; nothing reaches the upstream.
    let (status, err) = error_of(
        post(
            &app,
            &json!({"model": "glm-5", "input": "hi"}),
            Some(DEV_KEY),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["error"]["code"], "model_not_allowed");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("glm-5") && message.contains("kimi-*"),
        "{message}"
    );
    // Streaming (Codex): the denial is a response.failed that makes Codex stop and print it.
    let resp = post(
        &app,
        &json!({"model": "glm-5", "input": "hi", "stream": true}),
        Some(DEV_KEY),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let failed = &events.last().unwrap().1;
    assert_eq!(failed["type"], "response.failed", "{failed}");
    assert_eq!(failed["response"]["error"]["code"], "invalid_prompt");
    assert!(
        failed["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model_not_allowed")
            || failed["response"]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not allowed")
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_headers_or_in_stream() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-gov");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    let body = json!({"model": "upstream-model", "input": "hi"});
    for _ in 0..2 {
        upstream.push(Reply::completion_text("ok"));
        let resp = post(&app, &body, Some(LIMITED_KEY)).await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["x-ratelimit-limit-requests"], "2");
    }
    let resp = post(&app, &body, Some(LIMITED_KEY)).await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "0");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    // Streaming: Codex waits the named time and retries.
    let resp = post(
        &app,
        &json!({"model": "upstream-model", "input": "hi", "stream": true}),
        Some(LIMITED_KEY),
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    let failed = &events.last().unwrap().1["response"]["error"];
    assert_eq!(failed["code"], "rate_limit_exceeded");
    assert!(
        failed["message"].as_str().unwrap().contains("try again in"),
        "{failed}"
    );
    assert_eq!(upstream.requests().len(), 2);
    // Another key is not limited by this one.
    upstream.push(Reply::completion_text("ok"));
    assert_eq!(
        post(&app, &body, Some(DEV_KEY)).await.status().as_u16(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_warn_then_block_naming_the_scope() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-gov");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    // Each answer: 10 prompt + 1 completion token = 11 USD; reserved: body/4 + 1.
    let body = json!({"model": "upstream-model", "input": "hi", "max_output_tokens": 1});
    let mut warned_at = None;
    let mut admitted = 0;
    for n in 0..20 {
        upstream.push(Reply::completion_text("ok"));
        let resp = post(&app, &body, Some(BUDGET_KEY)).await;
        match resp.status().as_u16() {
            200 => {
                admitted += 1;
                if warned_at.is_none() && resp.headers().contains_key("x-ccp-budget-warning") {
                    warned_at = Some(n);
                    let v = resp.headers()["x-ccp-budget-warning"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    assert!(v.starts_with("team:eng:"), "{v}");
                }
            }
            402 => {
                let err: Value = resp.json().await.unwrap();
                assert_eq!(err["error"]["code"], "budget_exceeded");
                let message = err["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains("team") && message.contains("eng"),
                    "{message}"
                );
                assert!(message.contains("resets at"), "{message}");
                break;
            }
            other => panic!("status {other}"),
        }
    }
    // 100 USD at 11 a request: the ninth is admitted at 88 spent + its reservation, the
    // tenth is refused (spent + reserved is past the limit).
    assert!((9..=10).contains(&admitted), "{admitted} admitted");
    let warned_at = warned_at.expect("a warning header from 80 %");
    assert!(
        warned_at >= 6 && warned_at < admitted,
        "warned at {warned_at}"
    );
    // The streaming form: a code that stops Codex at once and prints the message.
    let resp = post(
        &app,
        &json!({"model": "upstream-model", "input": "hi", "stream": true}),
        Some(BUDGET_KEY),
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    let failed = &events.last().unwrap().1["response"]["error"];
    // Codex prints the message of `invalid_prompt` and stops (its text for
    // `insufficient_quota` is fixed and would hide which budget ran out).
    assert_eq!(failed["code"], "invalid_prompt", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("budget_exceeded: ") && message.contains("team `eng`"),
        "{failed}"
    );
    app.gateway.governor().flush_ledger().await;
    let store = app.gateway.state().store().unwrap().clone();
    let spend = store.list_spend("team", "eng").await.unwrap();
    let total: u64 = spend.iter().map(|r| r.spent_micro_usd).sum();
    assert_eq!(total, admitted as u64 * 11_000_000);
    assert_eq!(upstream.requests().len(), admitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_keep_the_budget_ledger_exact() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-gov");
    let app = std::sync::Arc::new(start_opened(&config(&upstream.url(), &dir, json!({}))).await);
    for _ in 0..200 {
        upstream.push(Reply::completion_text("ok"));
    }
    let body = json!({"model": "upstream-model", "input": "hi", "max_output_tokens": 1});
    let estimate_usd = (serde_json::to_vec(&body).unwrap().len() / 4 + 1) as u64;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let app = app.clone();
            let body = body.clone();
            tokio::spawn(async move { post(&app, &body, Some(BUDGET_KEY)).await.status().as_u16() })
        })
        .collect();
    let mut ok = 0u64;
    let mut refused = 0u64;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            402 => refused += 1,
            other => panic!("status {other}"),
        }
    }
    assert_eq!(ok + refused, 200);
    assert!(refused > 100, "{ok} admitted");
    app.gateway.governor().flush_ledger().await;
    let store = app.gateway.state().store().unwrap().clone();
    let spent: u64 = store
        .list_spend("team", "eng")
        .await
        .unwrap()
        .iter()
        .map(|r| r.spent_micro_usd)
        .sum();
    // The ledger is exactly the sum of the per-request costs from the upstream's usage.
    assert_eq!(spent, ok * 11_000_000);
    assert_eq!(upstream.requests().len() as u64, ok);
    // Overshoot bound: admitted while spent + reserved < limit, so at most one estimate past.
    assert!(spent <= (100 + estimate_usd) * 1_000_000, "spent {spent}");
}
