//! The `anthropic` kind, the whole app against the strict Anthropic mock: what reaches the
//! upstream (`x-api-key` with the backend's key and never the client's, `anthropic-version`,
//! `max_tokens`, cache breakpoints, alternating turns), a thinking model's tool loop whose signed
//! thinking block travels through the client and comes back byte-identical, usage with cache
//! tokens, and every Anthropic error row of `docs/errors.md` before the first byte and
//! mid-stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::anthropic_upstream::AnthropicUsage;
use ccp_testkit::{AnthropicReply, AnthropicScript, AnthropicUpstream};
use common::*;
use serde_json::{json, Value};

fn config(url: &str) -> String {
    backend_config(
        url,
        json!({"protocol": "anthropic", "model": "claude-sonnet-4-5", "max_retries": 0}),
        true,
    )
}

fn tools() -> Value {
    json!([{"type": "function", "name": "exec_command", "description": "run",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}])
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

async fn post(app: &App, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = post_json(&app.url("/v1/responses"), body, Some(CLIENT_KEY)).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    (status, headers, text)
}

/// The terminal event's response object of an SSE answer.
fn terminal(sse: &str) -> Value {
    let events = parse_sse(sse);
    let (_, last) = events.last().unwrap_or_else(|| panic!("no events: {sse}"));
    assert!(
        matches!(
            last["type"].as_str(),
            Some("response.completed" | "response.failed")
        ),
        "{sse}"
    );
    last["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_tool_loop_replays_the_signed_block_byte_identical() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url())).await;
    let thinking = "The user wants files listed. \"ls\" \\ ✓";
    let signature = "EqQBCkYIBxgCKkDx+/sig==";
    upstream.push(
        AnthropicScript::default()
            .thinking(thinking, signature)
            .tool_use("toolu_01", "exec_command", json!({"cmd": "ls -la"}))
            .json_pieces(3)
            .with_pings(),
    );
    let first = json!({"model": "claude", "stream": true, "tools": tools(),
        "reasoning": {"effort": "medium"}, "input": [user("list files")]});
    let (status, _, sse) = post(&app, &first).await;
    assert_eq!(status, 200, "{sse}");
    let response = terminal(&sse);
    assert_eq!(response["status"], "completed", "{sse}");
    let output = response["output"].as_array().unwrap().clone();
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[0]["summary"][0]["text"], thinking);
    assert_eq!(output[1]["type"], "function_call");
    assert_eq!(output[1]["call_id"], "toolu_01");
    assert_eq!(output[1]["arguments"], r#"{"cmd":"ls -la"}"#);

    let sent = &upstream.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(UPSTREAM_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.authorization().is_none());
    assert!(!format!("{:?}", sent.headers).contains(CLIENT_KEY));
    assert_eq!(sent.body["thinking"]["type"], "enabled");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert_eq!(sent.body["max_tokens"], 64000);

    upstream.push(AnthropicScript::text("Here are the files."));
    let mut input = vec![user("list files")];
    input.extend(output.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": "toolu_01", "output": "a.txt"}));
    let second = json!({"model": "claude", "stream": true, "tools": tools(),
        "reasoning": {"effort": "medium"}, "input": input});
    let (status, _, sse) = post(&app, &second).await;
    assert_eq!(status, 200, "{sse}");
    assert_eq!(terminal(&sse)["status"], "completed", "{sse}");
    upstream.assert_no_violations();
    let replayed = &upstream.requests()[1].body["messages"][1]["content"];
    assert_eq!(
        replayed[0],
        json!({"type": "thinking", "thinking": thinking, "signature": signature})
    );
    assert_eq!(replayed[1]["type"], "tool_use");
    assert_eq!(
        upstream.requests()[1].body["messages"][2]["content"][0]["tool_use_id"],
        "toolu_01"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_thinking_blob_is_refused_by_the_proxy_before_the_upstream() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url())).await;
    upstream.push(
        AnthropicScript::default()
            .thinking("plan", "sig-original")
            .tool_use("toolu_9", "exec_command", json!({"cmd": "pwd"})),
    );
    let first = json!({"model": "claude", "stream": false, "tools": tools(),
        "reasoning": {"effort": "low"}, "input": [user("where am I")]});
    let (status, _, text) = post(&app, &first).await;
    assert_eq!(status, 200, "{text}");
    let output: Vec<Value> = serde_json::from_str::<Value>(&text).unwrap()["output"]
        .as_array()
        .unwrap()
        .clone();
    let mut reasoning = output[0].clone();
    let blob = reasoning["encrypted_content"].as_str().unwrap();
    // Sealed: the signature is not readable, so it cannot be edited in place…
    assert!(blob.starts_with("ccp:v2:"), "{blob}");
    assert!(!blob.contains("sig-original"), "{blob}");
    // …and any change to the blob is refused by the proxy, naming the item.
    let mut bytes = blob.as_bytes().to_vec();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    reasoning["encrypted_content"] = json!(String::from_utf8(bytes).unwrap());
    let second = json!({"model": "claude", "stream": true, "tools": tools(),
        "reasoning": {"effort": "low"}, "input": [user("where am I"), reasoning, output[1],
        {"type": "function_call_output", "call_id": "toolu_9", "output": "/"}]});
    let (status, _, text) = post(&app, &second).await;
    assert_eq!(status, 400, "{text}");
    let err: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(err["error"]["code"], "invalid_encrypted_content");
    assert_eq!(err["error"]["param"], "input[1].encrypted_content");
    assert_eq!(
        upstream.requests().len(),
        1,
        "the upstream never saw the altered turn"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_usage_reports_cache_tokens_and_the_body_has_breakpoints() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url())).await;
    upstream.push(AnthropicScript::text("hi").usage(AnthropicUsage {
        input_tokens: 10,
        output_tokens: 4,
        cache_read_input_tokens: 1000,
        cache_creation_input_tokens: 200,
    }));
    let body = json!({"model": "claude", "instructions": "be brief", "tools": tools(),
        "max_output_tokens": 500, "input": [user("hello")]});
    let (status, _, text) = post(&app, &body).await;
    assert_eq!(status, 200, "{text}");
    let response: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(response["output"][0]["content"][0]["text"], "hi");
    assert_eq!(response["usage"]["input_tokens"], 1210);
    assert_eq!(
        response["usage"]["input_tokens_details"]["cached_tokens"],
        1200
    );
    assert_eq!(response["usage"]["output_tokens"], 4);
    let sent = &upstream.requests()[0].body;
    let eph = json!({"type": "ephemeral"});
    assert_eq!(sent["system"][0]["cache_control"], eph);
    assert_eq!(sent["tools"][0]["cache_control"], eph);
    assert_eq!(sent["messages"][0]["content"][0]["cache_control"], eph);
    assert_eq!(sent["max_tokens"], 500);
    upstream.assert_no_violations();
}

/// (reply, non-streaming status, code, retry-after header)
fn error_rows() -> Vec<(AnthropicReply, u16, &'static str, Option<&'static str>)> {
    vec![
        (
            AnthropicReply::error(529, "overloaded_error", "Overloaded"),
            503,
            "server_is_overloaded",
            None,
        ),
        (
            AnthropicReply::rate_limited(7),
            429,
            "rate_limit_exceeded",
            Some("7"),
        ),
        (
            AnthropicReply::error(
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            400,
            "context_length_exceeded",
            None,
        ),
        (
            AnthropicReply::error(401, "authentication_error", "invalid x-api-key"),
            401,
            "invalid_api_key",
            None,
        ),
        (
            AnthropicReply::error(402, "billing_error", "Your credit balance is too low"),
            429,
            "insufficient_quota",
            None,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_the_first_byte_map_per_the_error_table() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url())).await;
    for (reply, http, code, retry_after) in error_rows() {
        upstream.push(reply.clone());
        let (status, headers, text) = post(&app, &body(false)).await;
        assert_eq!(status, http, "{code}: {text}");
        let err: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(err["error"]["code"], code, "{text}");
        assert_eq!(
            headers.get("retry-after").map(|v| v.to_str().unwrap()),
            retry_after,
            "{code}"
        );
        upstream.push(reply);
        let (status, _, sse) = post(&app, &body(true)).await;
        assert_eq!(status, 200, "{code}");
        let response = terminal(&sse);
        assert_eq!(response["error"]["code"], code, "{sse}");
        if code == "rate_limit_exceeded" {
            let message = response["error"]["message"].as_str().unwrap();
            assert!(message.contains("try again in 7s"), "{message}");
        }
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_mid_stream_end_in_response_failed_with_the_mapped_code() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url())).await;
    for (kind, message, code) in [
        ("overloaded_error", "Overloaded", "server_is_overloaded"),
        ("rate_limit_error", "rate limited", "rate_limit_exceeded"),
        (
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            "context_length_exceeded",
        ),
        ("api_error", "Internal server error", "server_error"),
    ] {
        // message_start, block start, two text deltas, then the error.
        upstream.push(AnthropicScript::text("partial answer").error_after(4, kind, message));
        let (status, _, sse) = post(&app, &body(true)).await;
        assert_eq!(status, 200);
        let types = event_types(&parse_sse(&sse));
        assert!(
            types.contains(&"response.output_text.delta".to_owned()),
            "{types:?}"
        );
        assert!(
            !types.contains(&"response.completed".to_owned()),
            "{types:?}"
        );
        assert_eq!(terminal(&sse)["error"]["code"], code, "{sse}");
    }
    upstream.assert_no_violations();
}
