//! Client authentication with `client_keys`: the key is required everywhere but `/health`, is
//! accepted as `Authorization: Bearer` or `x-api-key`, is checked before the body is read, is
//! never echoed, and is never forwarded upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

const OTHER_CLIENT_KEY: &str = "sk-second-client-key-5555";

fn config(upstream_url: &str) -> String {
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "client_keys": [CLIENT_KEY, OTHER_CLIENT_KEY],
        "backends": [{
            "name": "main", "url": upstream_url, "api_key": UPSTREAM_KEY, "model": "upstream-model",
            "protocol": "openai", "match_rules": {"default": true}
        }]
    })
    .to_string()
}

fn body() -> Value {
    json!({"model": "m", "input": "hi"})
}

/// Asserts a 401 `invalid_api_key` whose body names none of the keys (nor `presented`).
async fn assert_unauthorized(resp: reqwest::Response, presented: Option<&str>) -> String {
    assert_eq!(resp.status(), 401);
    let text = resp.text().await.unwrap();
    for key in [CLIENT_KEY, OTHER_CLIENT_KEY, UPSTREAM_KEY]
        .into_iter()
        .chain(presented)
    {
        assert!(!text.contains(key), "401 body echoes a key: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    assert_eq!(v["error"]["param"], Value::Null, "{v}");
    v["error"]["message"].as_str().unwrap().to_owned()
}

fn post(app: &App) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .json(&body())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_client_key_is_rejected() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;

    let message = assert_unauthorized(post(&app).send().await.unwrap(), None).await;
    assert!(
        message.contains("Authorization: Bearer"),
        "says what to send: {message}"
    );

    for wrong in [
        "sk-wrong-key-000000000000",
        &CLIENT_KEY[..CLIENT_KEY.len() - 1],
        "",
    ] {
        let resp = post(&app).bearer_auth(wrong).send().await.unwrap();
        assert_unauthorized(resp, Some(wrong).filter(|w| !w.is_empty())).await;
        let resp = post(&app).header("x-api-key", wrong).send().await.unwrap();
        assert_unauthorized(resp, Some(wrong).filter(|w| !w.is_empty())).await;
    }
    // A key in the wrong scheme is not a bearer token.
    let resp = post(&app)
        .header("authorization", format!("Basic {CLIENT_KEY}"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp, None).await;
    // Auth is checked before the body is parsed, so a malformed body is still a 401.
    let resp = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp, None).await;
    // Other endpoints need the key too.
    let resp = reqwest::Client::new()
        .get(app.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(resp, None).await;

    assert!(
        upstream.chat_requests().is_empty(),
        "no unauthenticated request reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_client_key_via_bearer_or_x_api_key() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;

    upstream.push(Reply::completion_text("bearer ok"));
    let resp = post(&app).bearer_auth(CLIENT_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], "bearer ok");

    upstream.push(Reply::completion_text("x-api-key ok"));
    let resp = post(&app)
        .header("x-api-key", OTHER_CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "any configured key works");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], "x-api-key ok");

    upstream.push(Reply::text_stream("streamed ok"));
    let resp = post(&app)
        .json(&json!({"model": "m", "input": "hi", "stream": true}))
        .header("authorization", format!("bearer {CLIENT_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let types = event_types(&parse_sse(&resp.text().await.unwrap()));
    assert_eq!(types.last().unwrap(), "response.completed");

    let resp = reqwest::Client::new()
        .get(app.url("/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The client key stays at the proxy; the upstream gets the backend's key.
    let sent = upstream.chat_requests();
    assert_eq!(sent.len(), 3);
    for r in &sent {
        assert_eq!(
            r.authorization(),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        assert!(!r
            .headers
            .values()
            .any(|v| v.contains(CLIENT_KEY) || v.contains(OTHER_CLIENT_KEY)));
        assert!(!r.body.to_string().contains(CLIENT_KEY));
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_key_and_shows_none() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let resp = reqwest::Client::new()
        .get(app.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for key in [CLIENT_KEY, OTHER_CLIENT_KEY, UPSTREAM_KEY] {
        assert!(!text.contains(key), "/health shows a key: {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "ok");
}
