//! What a newcomer sees when a model or a URL is wrong: `strict_models` answers 404
//! `model_not_found` naming the served models (without it an unknown model still goes to the
//! default backend, and the routing headers say so), and an upstream 404 names the URL the
//! proxy called, without its query.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::MockUpstream;
use common::{post_json, start};
use serde_json::json;

fn config(strict: bool) -> String {
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "strict_models": strict,
        "backends": [
            {"name": "mock", "protocol": "mock", "model": "mock-model", "models": ["mock-2"],
             "match_rules": {"default": true}},
            {"name": "other", "protocol": "mock", "model": "other-model",
             "match_rules": {"models": ["kimi-*"]}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn strict_models_answers_model_not_found_listing_the_served_models() {
    let app = start(&config(true)).await;
    let body = json!({"model": "gpt-4o", "input": "hi"});
    let resp = post_json(&app.url("/v1/responses"), &body, None).await;
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(v["error"]["param"], "model");
    let msg = v["error"]["message"].as_str().unwrap();
    for m in ["gpt-4o", "mock-model", "mock-2", "other-model"] {
        assert!(msg.contains(m), "{msg}");
    }
    // Served names and model rules still work.
    for model in ["mock-2", "kimi-k2"] {
        let resp = post_json(
            &app.url("/v1/responses"),
            &json!({"model": model, "input": "hi"}),
            None,
        )
        .await;
        assert_eq!(resp.status(), 200, "{model}");
    }
}

#[tokio::test]
async fn without_strict_models_an_unknown_model_goes_to_the_default_and_says_so() {
    let app = start(&config(false)).await;
    let resp = post_json(
        &app.url("/v1/responses"),
        &json!({"model": "gpt-4o", "input": "hi"}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-ccp-backend"], "mock");
    assert_eq!(resp.headers()["x-ccp-upstream-model"], "mock-model");
}

#[tokio::test]
async fn an_upstream_404_names_the_url_the_proxy_called_without_its_query() {
    let mock = MockUpstream::start(ccp_testkit::Strictness::default()).await;
    mock.push(ccp_testkit::Reply::error(404, "not_found", "Not Found"));
    let url = format!("{}/wrong/path", mock.url());
    let app = start(&common::single_backend_config(&url)).await;
    let resp = post_json(&app.url("/v1/responses"), &common::body(false), None).await;
    assert_eq!(resp.status(), 404);
    let v: serde_json::Value = resp.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("POST {url}/chat/completions")),
        "{msg}"
    );
    common::assert_no_keys(msg);
}
