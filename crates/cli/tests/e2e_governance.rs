//! End-to-end: the real Codex CLI with virtual keys through the built binary (issue 14,
//! acceptance 1). An allowed model and an alias work; an off-list model and an exhausted budget
//! stop Codex at once with the message (one request, nothing upstream); a rate-limited key makes
//! Codex wait and then succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::codex::CodexRun;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const DEV_KEY: &str = "sk-ccp-e2e-dev-key-0000000000001";
const BROKE_KEY: &str = "sk-ccp-e2e-broke-key-00000000002";
const BUSY_KEY: &str = "sk-ccp-e2e-busy-key-000000000003";

fn config(upstream: &str) -> Value {
    json!({
        "backends": [
            {"name": "main", "url": upstream, "api_key": UPSTREAM_KEY, "model": "upstream-model",
             "protocol": "openai", "match_rules": {"default": true}},
            {"name": "kimi", "url": upstream, "api_key": UPSTREAM_KEY, "model": "kimi-k2.6",
             "protocol": "openai", "match_rules": {"models": ["kimi-*"]}},
            {"name": "local", "protocol": "mock", "model": "mock-model",
             "match_rules": {"models": ["mock-*"]}}
        ],
        "model_aliases": {"gpt-4o": "kimi-k2.6"},
        "pricing": {"*": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}},
        "virtual_keys": [
            {"name": "dev", "key": DEV_KEY, "team": "eng", "models_allowed": ["kimi-*", "gpt-4o"]},
            {"name": "broke", "key": BROKE_KEY, "team": "interns",
             "budgets": [{"scope": "team", "window": "day", "limit_usd": 0}]},
            {"name": "busy", "key": BUSY_KEY, "rate_limits": {"rpm": 60}}
        ]
    })
}

fn codex(proxy: &Proxy, key: &str, model: &str) -> CodexRun {
    CodexRun::new(proxy.url("/v1"))
        .model(model)
        .client_key(key)
        .stream_max_retries(3)
}

/// Responses requests the proxy answered over HTTP (its `/health` counter).
async fn proxy_requests(proxy: &Proxy) -> u64 {
    let health: Value = reqwest::get(proxy.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["stats"]["http_responses_requests"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_with_virtual_keys_allowed_alias_refused_broke_and_busy() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let proxy = Proxy::start(config(&upstream.url()));

    // An allowed model, by its alias: routed to the kimi backend and its model.
    upstream.push(Reply::text_stream("Hello through the alias."));
    let out = codex(&proxy, DEV_KEY, "gpt-4o").exec("hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["Hello through the alias.".to_owned()],
        "{}",
        out.dump()
    );
    assert_eq!(upstream.chat_requests()[0].body["model"], "kimi-k2.6");

    // Off the key's list: Codex prints the message and stops after one request.
    let before = proxy_requests(&proxy).await;
    let out = codex(&proxy, DEV_KEY, "glm-5").exec("hello").await;
    assert!(!out.success(), "{}", out.dump());
    let printed = out.dump();
    assert!(
        printed.contains("model_not_allowed") && printed.contains("glm-5"),
        "{printed}"
    );
    assert_eq!(
        proxy_requests(&proxy).await - before,
        1,
        "Codex did not retry: {printed}"
    );

    // An exhausted team budget: the message names the scope; one attempt, nothing upstream.
    let upstream_before = upstream.chat_requests().len();
    let before = proxy_requests(&proxy).await;
    let out = codex(&proxy, BROKE_KEY, "upstream-model")
        .exec("hello")
        .await;
    assert!(!out.success(), "{}", out.dump());
    let printed = out.dump();
    assert!(printed.contains("interns"), "the scope is named: {printed}");
    assert_eq!(
        proxy_requests(&proxy).await - before,
        1,
        "exactly one attempt: {printed}"
    );
    assert_eq!(upstream.chat_requests().len(), upstream_before);

    // A rate-limited key: its burst used up, Codex is told to try again in 1 s, waits, succeeds.
    let client = reqwest::Client::new();
    for _ in 0..60 {
        let resp = client
            .post(proxy.url("/v1/responses"))
            .bearer_auth(BUSY_KEY)
            .json(&json!({"model": "mock-model", "input": "x", "store": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let before = proxy_requests(&proxy).await;
    let started = std::time::Instant::now();
    let out = codex(&proxy, BUSY_KEY, "mock-model").exec("hello").await;
    out.assert_success();
    assert!(
        proxy_requests(&proxy).await - before >= 2,
        "Codex retried after the rate limit"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "Codex waited"
    );
    proxy.assert_no_keys_in_logs();
    let logs = proxy.all_logs();
    for key in [DEV_KEY, BROKE_KEY, BUSY_KEY] {
        assert!(!logs.contains(key), "a virtual key in the logs");
    }
}
