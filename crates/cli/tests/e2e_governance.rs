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

/// Issue 14, acceptance 2: what the OpenAI Python SDK sees for each denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_gets_documented_statuses_codes_and_headers() {
    const EXPIRED_KEY: &str = "sk-ccp-e2e-expired-key-000000004";
    const SLOW_KEY: &str = "sk-ccp-e2e-slow-key-000000000005";
    let upstream = MockUpstream::start(Strictness::default()).await;
    let data = ccp_testkit::locate::TempDir::new("ccp-gov-data");
    let mut cfg = config(&upstream.url());
    cfg["data_dir"] = json!(data.path().to_string_lossy());
    let keys = cfg["virtual_keys"].as_array_mut().unwrap();
    keys.push(json!({"name": "old", "key": EXPIRED_KEY, "expires_at": "2021-06-01T00:00:00Z"}));
    keys.push(json!({"name": "slow", "key": SLOW_KEY, "rate_limits": {"rpm": 1}}));
    let proxy = Proxy::start(cfg.clone());

    // A key created and revoked in the store by another process on the same data_dir.
    let mut other_cfg = cfg.clone();
    other_cfg["log_dir"] = json!(data.join("other-logs").to_string_lossy());
    let other = ccp_gateway::config::parse_str(&other_cfg.to_string(), &|_| None).unwrap();
    let other = ccp_gateway::Gateway::open(other).await.unwrap();
    let created = other
        .governor()
        .create_key(serde_json::from_value(json!({"name": "gone"})).unwrap())
        .await
        .unwrap();
    other
        .governor()
        .revoke_key(created["id"].as_str().unwrap())
        .await
        .unwrap();
    let revoked = created["key"].as_str().unwrap().to_owned();

    upstream.push(Reply::completion_text("fine"));
    upstream.push(Reply::completion_text("first"));
    let keys = json!({"dev": DEV_KEY, "revoked": revoked, "expired": EXPIRED_KEY,
                      "broke": BROKE_KEY, "busy": SLOW_KEY});
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/governance_sdk.py");
    let out = tokio::process::Command::new(ccp_testkit::locate::python_bin())
        .arg(script)
        .arg(proxy.url("/v1"))
        .env("CCP_GOV_KEYS", keys.to_string())
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    for (case, says) in [
        ("missing", "missing"),
        ("wrong", "matches none"),
        ("revoked", "revoked"),
        ("expired", "expired"),
    ] {
        let r = &report[case];
        assert_eq!(r["raised"], "AuthenticationError", "{case}: {r}");
        assert_eq!(
            (r["status"].as_u64(), r["code"].as_str()),
            (Some(401), Some("invalid_api_key")),
            "{case}: {r}"
        );
        assert!(r["message"].as_str().unwrap().contains(says), "{case}: {r}");
    }
    assert_eq!(report["ok"]["raised"], Value::Null, "{}", report["ok"]);
    let r = &report["model_not_allowed"];
    assert_eq!(
        (
            r["raised"].as_str(),
            r["status"].as_u64(),
            r["code"].as_str()
        ),
        (
            Some("PermissionDeniedError"),
            Some(403),
            Some("model_not_allowed")
        ),
        "{r}"
    );
    assert_eq!(r["param"], "model");
    let r = &report["budget_exceeded"];
    assert_eq!(
        (r["status"].as_u64(), r["code"].as_str()),
        (Some(402), Some("budget_exceeded")),
        "{r}"
    );
    assert!(
        r["message"].as_str().unwrap().contains("team `interns`"),
        "{r}"
    );
    assert!(
        r["headers"]["retry-after"].as_str().is_some(),
        "when it resets: {r}"
    );
    assert_eq!(
        report["rate_first"]["raised"],
        Value::Null,
        "{}",
        report["rate_first"]
    );
    assert_eq!(
        report["rate_first"]["headers"]["x-ratelimit-limit-requests"],
        "1"
    );
    let r = &report["rate_limited"];
    assert_eq!(
        (
            r["raised"].as_str(),
            r["status"].as_u64(),
            r["code"].as_str()
        ),
        (
            Some("RateLimitError"),
            Some(429),
            Some("rate_limit_exceeded")
        ),
        "{r}"
    );
    let retry: u64 = r["headers"]["retry-after"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{r}");
    assert_eq!(r["headers"]["x-ratelimit-remaining-requests"], "0", "{r}");
    assert!(
        r["headers"]["x-ratelimit-reset-requests"]
            .as_str()
            .is_some(),
        "{r}"
    );
    assert_eq!(
        upstream.chat_requests().len(),
        2,
        "only the two admitted requests reached the upstream"
    );
    let text = stdout.to_string();
    for key in [DEV_KEY, BROKE_KEY, SLOW_KEY, EXPIRED_KEY, revoked.as_str()] {
        assert!(!text.contains(key), "a key in an error body");
    }
}
