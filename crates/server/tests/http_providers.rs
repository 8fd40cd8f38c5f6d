//! Provider profiles applied by the real pipeline: strict emulations of each provider's rules
//! accept what the proxy sends, LKEAP's plan endpoint path is composed right, and a `quirks`
//! override reaches the upstream body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/codex-requests/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["body"].clone()
}

fn backend_config(name: &str, url: &str, extra: Value) -> String {
    let mut b = json!({"name": name, "url": url, "api_key": UPSTREAM_KEY, "model": "upstream-model",
                        "protocol": "openai", "match_rules": {"default": true}});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            b[k] = v;
        }
    }
    json!({"listen": "127.0.0.1:0", "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
           "backends": [b]})
    .to_string()
}

async fn complete(app: &App, body: &Value) -> Value {
    let text = post_json(&app.url("/v1/responses"), body, None)
        .await
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let last = events.last().unwrap().1.clone();
    assert_eq!(last["type"], "response.completed", "{text}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lkeap_plan_endpoint_posts_to_plan_v3_chat_completions() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("from the plan endpoint"));
    let url = format!("{}/plan/v3", upstream.origin());
    let app = start(&backend_config(
        "tencent-plan",
        &url,
        json!({"provider": "lkeap"}),
    ))
    .await;
    complete(&app, &json!({"model": "m", "input": "hi", "stream": true})).await;
    let reqs = upstream.chat_requests();
    assert_eq!(reqs[0].path, "/plan/v3/chat/completions");
    let health = get_json(&app.url("/health")).await;
    assert!(health.to_string().contains("\"lkeap\""), "{health}");
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_named_backend_sends_one_leading_system_message() {
    // MiniMax rejects a second system message (error 2013); the strict mock emulates that.
    let upstream =
        MockUpstream::start(Strictness::minimax().allow_fields(["reasoning_split"])).await;
    upstream.push(Reply::text_stream("ok"));
    let app = start(&backend_config("minimax", &upstream.url(), json!({}))).await;
    let mut body = fixture("tool-turn-followup.json");
    body["stream"] = json!(true);
    body["max_output_tokens"] = json!(500);
    complete(&app, &body).await;
    upstream.assert_no_violations();
    let sent = &upstream.chat_requests()[0].body;
    let systems = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .count();
    assert_eq!(systems, 1);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["max_completion_tokens"], 500, "MiniMax's token field");
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(sent["reasoning_split"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek_profile_replays_reasoning_and_maps_effort() {
    let upstream =
        MockUpstream::start(Strictness::thinking_provider().allow_fields(["thinking"])).await;
    upstream.push(Reply::text_stream("ok"));
    let app = start(&backend_config(
        "ds",
        &upstream.url(),
        json!({"provider": "deepseek"}),
    ))
    .await;
    let mut body = fixture("parallel-followup.json");
    body["stream"] = json!(true);
    body["reasoning"] = json!({"effort": "medium", "summary": "auto"});
    complete(&app, &body).await;
    upstream.assert_no_violations();
    let sent = &upstream.chat_requests()[0].body;
    let assistant = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .unwrap();
    assert!(!assistant["reasoning_content"].as_str().unwrap().is_empty());
    assert_eq!(sent["thinking"]["type"], "enabled");
    assert_eq!(
        sent["reasoning_effort"], "high",
        "DeepSeek only knows high|max"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quirks_override_reaches_the_upstream_body() {
    let upstream = MockUpstream::start(Strictness::default().allow_fields(["x_custom"])).await;
    upstream.push(Reply::text_stream("ok"));
    let quirks = json!({"quirks": {"max_tokens_field": "max_completion_tokens", "extra_body": {"x_custom": 7},
                                   "drop_fields": ["user"]}});
    let app = start(&backend_config("main", &upstream.url(), quirks)).await;
    complete(&app, &json!({"model": "m", "input": "hi", "stream": true, "max_output_tokens": 99, "user": "u1"})).await;
    upstream.assert_no_violations();
    let sent = &upstream.chat_requests()[0].body;
    assert_eq!(sent["max_completion_tokens"], 99);
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(sent["x_custom"], 7);
    assert!(sent.get("user").is_none());
}

#[test]
fn bad_provider_and_quirks_are_config_errors_with_paths() {
    let config = json!({"backends": [{"name": "a", "url": "http://127.0.0.1:1/v1", "model": "m", "protocol": "openai",
        "provider": "nope", "quirks": {"bogus": 1, "flatten_content": "yes"}, "match_rules": {"default": true}}]});
    let errors = ccp_gateway::config::parse_str(&config.to_string(), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(errors.contains("backends[0].provider"), "{errors}");
    assert!(
        errors.contains("deepseek"),
        "lists the valid providers: {errors}"
    );
    assert!(errors.contains("backends[0].quirks.bogus"), "{errors}");
    assert!(
        errors.contains("backends[0].quirks.flatten_content"),
        "{errors}"
    );
}
