//! Probes of the `anthropic` kind: one minimal Messages request against the strict Anthropic
//! mock (or a fake Chat server), one test per classification.

use ccp_testkit::{AnthropicReply, AnthropicScript, AnthropicUpstream, CompatRules};
use serde_json::json;

use crate::support::*;

async fn run(tag: &str, backend: serde_json::Value) -> (i32, serde_json::Value) {
    let dir = TempDir::new(tag);
    let mut b = json!({"name": "claude", "protocol": "anthropic", "model": "claude-test",
                       "api_key": SECRET, "connect_timeout_secs": 3,
                       "match_rules": {"default": true}});
    for (k, v) in backend.as_object().unwrap() {
        b[k] = v.clone();
    }
    let config = json!({"listen": "127.0.0.1:18999",
        "log_dir": dir.path().join("logs").display().to_string(), "backends": [b]});
    let path = dir.write("proxy.json", &config.to_string());
    doctor_json(&path, &dir.path().join("codex"), &[], &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_backend_answering_messages_is_ok() {
    let mock = AnthropicUpstream::start(SECRET).await;
    mock.push(AnthropicScript::text("p"));
    let (code, report) = run("anth-ok", json!({"url": mock.url()})).await;
    assert_check(&report, "backend.claude", "ok", "Messages API");
    assert_eq!(code, 0, "{report:#}");
    mock.assert_no_violations();
    let request = &mock.requests()[0];
    assert_eq!(request.body["max_tokens"], 1);
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialect_with_bearer_auth_is_probed_with_its_header() {
    let rules = CompatRules {
        bearer_auth: true,
        ..CompatRules::default()
    };
    let mock = AnthropicUpstream::start_compat(SECRET, rules).await;
    mock.push(AnthropicScript::text("p"));
    let (code, report) = run("anth-glm", json!({"url": mock.url(), "provider": "glm"})).await;
    assert_check(&report, "backend.claude", "ok", "Messages API");
    assert_eq!(code, 0, "{report:#}");
    mock.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_wrong_key_is_reported_with_the_header_used() {
    let mock = AnthropicUpstream::start("another-key").await;
    let (code, report) = run("anth-401", json!({"url": mock.url()})).await;
    assert_check(&report, "backend.claude", "fail", "wrong API key");
    assert_check(&report, "backend.claude", "fail", "x-api-key");
    assert!(!report.to_string().contains(SECRET), "{report:#}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_url_ending_in_v1_that_is_not_served_is_a_wrong_path_with_a_hint() {
    let mock = AnthropicUpstream::start(SECRET).await;
    let url = format!("{}/api/v1", mock.url());
    let (code, report) = run("anth-404", json!({"url": url})).await;
    assert_check(&report, "backend.claude", "fail", "wrong path");
    let fix = check(&report, "backend.claude")["fix"].as_str().unwrap();
    assert!(fix.contains("ends in /v1"), "{fix}");
    assert!(fix.contains("https://api.anthropic.com"), "{fix}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_backend_on_a_chat_server_is_a_protocol_mismatch() {
    let port = fake(Fake::ChatUnderV1).await;
    let url = format!("http://127.0.0.1:{port}");
    let (code, report) = run("anth-chat", json!({"url": url, "provider": "deepseek"})).await;
    assert_check(&report, "backend.claude", "fail", "protocol mismatch");
    let fix = check(&report, "backend.claude")["fix"].as_str().unwrap();
    assert!(fix.contains("\"protocol\": \"chat\""), "{fix}");
    assert!(fix.contains("https://api.deepseek.com/anthropic"), "{fix}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_unknown_model_is_model_not_found() {
    let mock = AnthropicUpstream::start(SECRET).await;
    mock.push(AnthropicReply::error(
        404,
        "not_found_error",
        "model: claude-test",
    ));
    let (code, report) = run("anth-model", json!({"url": mock.url()})).await;
    assert_check(&report, "backend.claude", "fail", "model not found");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_rate_limit_is_a_warning() {
    let mock = AnthropicUpstream::start(SECRET).await;
    mock.push(AnthropicReply::rate_limited(30));
    let (code, report) = run("anth-429", json!({"url": mock.url()})).await;
    assert_check(&report, "backend.claude", "warn", "rate limited");
    assert_eq!(code, 0, "{report:#}");
}
