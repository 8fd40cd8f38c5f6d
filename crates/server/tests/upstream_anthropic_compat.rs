//! The `anthropic` kind against other providers' Anthropic-compatible endpoints: the strict
//! Anthropic mock is told to require one provider's documented deviations
//! ([`CompatRules`]), and the backend names that `provider`. The same request — an image, a
//! redacted thinking block replayed before a tool call, `temperature: 0`, prompt caching on —
//! must reach each endpoint in the shape it accepts, with the key in the header it reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::{AnthropicScript, AnthropicUpstream, CompatRules, Rule};
use common::*;
use serde_json::{json, Value};

const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

fn config(url: &str, provider: &str) -> String {
    backend_config(
        url,
        json!({"protocol": "anthropic", "provider": provider, "model": "compat-model",
            "max_retries": 0}),
        true,
    )
}

/// A tool loop's second request: the user's image, the model's redacted thinking (as the proxy
/// hands it out: sealed by `app`) and call, the call's output.
fn request(app: &App) -> Value {
    let blob = app
        .gateway
        .state()
        .sealer()
        .seal(&ccp_gateway::state::seal::Sealed {
            inner: Some(
                "ccp:anthropic:v1:[{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}]".into(),
            ),
            text: None,
            origin: None,
        })
        .unwrap();
    json!({"model": "client-model", "stream": false, "temperature": 0,
    "instructions": "Be brief.",
    "tools": [{"type": "function", "name": "exec_command", "description": "run",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
    "input": [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "what is in this picture?"},
            {"type": "input_image", "image_url": PNG}]},
        {"type": "reasoning", "id": "rs_1", "summary": [],
            "encrypted_content": blob},
        {"type": "function_call", "call_id": "toolu_1", "name": "exec_command",
            "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"}
    ]})
}

/// Sends [`request`] through a backend with `provider` to a mock requiring `rules`; returns the
/// body the mock received.
async fn through(provider: &str, rules: CompatRules) -> (AnthropicUpstream, Value) {
    let upstream = AnthropicUpstream::start_compat(UPSTREAM_KEY, rules).await;
    upstream.push(AnthropicScript::text("A cat."));
    let app = start(&config(&upstream.url(), provider)).await;
    let resp = post_json(&app.url("/v1/responses"), &request(&app), Some(CLIENT_KEY)).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    assert_eq!(
        status,
        200,
        "{provider}: {text}\n{:?}",
        upstream.violations()
    );
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["output"][0]["content"][0]["text"], "A cat.",
        "{text}"
    );
    let body = upstream.requests()[0].body.clone();
    (upstream, body)
}

fn bearer() -> CompatRules {
    CompatRules {
        bearer_auth: true,
        ..CompatRules::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kimi_and_glm_get_the_key_as_bearer_and_the_body_unchanged() {
    for provider in ["kimi", "glm"] {
        let (upstream, body) = through(provider, bearer()).await;
        upstream.assert_no_violations();
        let r = &upstream.requests()[0];
        assert_eq!(r.header("x-api-key"), None, "{provider}");
        assert!(r.header("anthropic-version").is_some());
        let text = body.to_string();
        assert!(text.contains("cache_control"), "{provider}: {text}");
        assert!(text.contains("\"type\":\"image\""), "{provider}: {text}");
        assert!(text.contains("redacted_thinking"), "{provider}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek_gets_no_breakpoints_and_no_redacted_thinking() {
    let rules = CompatRules {
        no_cache_control: true,
        no_redacted_thinking: true,
        ..CompatRules::default()
    };
    let (upstream, body) = through("deepseek", rules).await;
    upstream.assert_no_violations();
    assert_eq!(
        upstream.requests()[0].header("x-api-key"),
        Some(UPSTREAM_KEY)
    );
    let text = body.to_string();
    assert!(!text.contains("cache_control"), "{text}");
    assert!(!text.contains("redacted_thinking"), "{text}");
    // The call and its result still pair up; the image is kept.
    assert_eq!(
        body["messages"][1]["content"][0]["type"], "tool_use",
        "{text}"
    );
    assert!(text.contains("\"type\":\"image\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimax_gets_bearer_no_images_and_a_positive_temperature() {
    let rules = CompatRules {
        bearer_auth: true,
        no_images: true,
        positive_temperature: true,
        ..CompatRules::default()
    };
    let (upstream, body) = through("minimax", rules).await;
    upstream.assert_no_violations();
    let text = body.to_string();
    assert!(!text.contains("\"type\":\"image\""), "{text}");
    assert!(text.contains("image omitted"), "{text}");
    assert_eq!(body["temperature"], 0.01, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_provider_the_strict_compat_mock_refuses_the_request() {
    let body_rules = CompatRules {
        no_cache_control: true,
        no_redacted_thinking: true,
        no_images: true,
        positive_temperature: true,
        ..CompatRules::default()
    };
    let cases = [
        (bearer(), 401, vec![Rule::Auth]),
        (
            body_rules,
            400,
            vec![
                Rule::CacheControl,
                Rule::ContentPart,
                Rule::ContentPart,
                Rule::UnsupportedParameter,
            ],
        ),
    ];
    for (rules, status, broken) in cases {
        let upstream = AnthropicUpstream::start_compat(UPSTREAM_KEY, rules).await;
        upstream.push(AnthropicScript::text("never"));
        // No `provider`, and a backend name and URL host that select none: Anthropic's dialect.
        let app = start(&backend_config(
            &upstream.url(),
            json!({"protocol": "anthropic", "model": "compat-model", "max_retries": 0}),
            true,
        ))
        .await;
        let resp = post_json(&app.url("/v1/responses"), &request(&app), Some(CLIENT_KEY)).await;
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(upstream.violation_rules(), broken);
    }
}
