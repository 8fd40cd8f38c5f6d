//! The Chat Completions ingress over HTTP, the whole app against the strict mocks: the Chat
//! passthrough (the upstream body shaped by the provider profile, the backend's key and never
//! the client's, chunks relayed with the usage chunk only when asked, errors in Chat's shape),
//! and the conversion onto a Responses upstream, the ChatGPT backend (codex kind) and the
//! built-in mock (messages → input items, tool calls and results, `chat.completion` and chunks
//! with `tool_calls` deltas, a failure mid-stream as an error frame then `[DONE]`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::{
    write_auth_json, ChatGptTokens, MockUpstream, Reply, ResponseStream, ResponsesUpstream,
    Strictness, TempDir, TokenEndpoint,
};
use common::*;
use serde_json::{json, Value};

/// POSTs a Chat body to `path` with the client key.
async fn chat(app: &App, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = post_json(&app.url(path), body, Some(CLIENT_KEY)).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    (status, headers, text)
}

/// The `data:` payloads of a Chat stream; asserts it ends with exactly one `[DONE]`.
fn chat_frames(sse: &str) -> Vec<Value> {
    let data: Vec<&str> = sse
        .split("\n\n")
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{sse}");
    assert_eq!(data.iter().filter(|d| **d == "[DONE]").count(), 1, "{sse}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn content_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// A tool loop's second turn: the call and its result, then a question.
fn tool_turn(stream: bool) -> Value {
    json!({
        "model": "client-model",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "max_tokens": 300,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
            {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    })
}

// ---- Chat backend: the passthrough ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_shapes_for_the_profile_and_sends_only_the_backend_key() {
    // MiniMax rejects `developer` messages, a second system message and `max_tokens`; the strict
    // mock emulates it, so the client's body only passes once the profile shaped it.
    let upstream =
        MockUpstream::start(Strictness::minimax().allow_fields(["reasoning_split"])).await;
    let mut settings = json!({"max_retries": 0});
    settings["name"] = json!("minimax");
    let app = start(&backend_config(&upstream.url(), settings, true)).await;

    upstream.push(Reply::completion_text("It is sunny."));
    let (status, headers, text) = chat(&app, "/v1/chat/completions", &tool_turn(false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-ccp-backend"], "minimax");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "It is sunny.");

    upstream.push(Reply::text_stream("It is sunny."));
    let (status, _, text) = chat(&app, "/chat/completions", &tool_turn(true)).await;
    assert_eq!(status, 200, "{text}");
    let frames = chat_frames(&text);
    assert_eq!(content_of(&frames), "It is sunny.");
    let usage = frames.last().unwrap();
    assert_eq!(usage["choices"], json!([]), "usage chunk kept: {text}");
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    upstream.assert_no_violations();
    for req in upstream.chat_requests() {
        assert_eq!(
            req.authorization(),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        assert!(req.headers.values().all(|v| !v.contains(CLIENT_KEY)));
        let body = &req.body;
        assert_eq!(body["model"], "upstream-model");
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"], "{body}");
        assert_eq!(body["max_completion_tokens"], 300);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_holds_back_a_usage_chunk_the_client_did_not_ask_for() {
    let upstream = MockUpstream::strict().await;
    let app = start(&backend_config(
        &upstream.url(),
        json!({"max_retries": 0}),
        true,
    ))
    .await;
    upstream.push(Reply::text_stream("hello there"));
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, text) = chat(&app, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let frames = chat_frames(&text);
    assert_eq!(content_of(&frames), "hello there");
    assert!(frames.iter().all(|f| f["choices"] != json!([])), "{text}");
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_errors_have_the_chat_shape_and_status() {
    let upstream = MockUpstream::strict().await;
    let app = start(&backend_config(
        &upstream.url(),
        json!({"max_retries": 0}),
        true,
    ))
    .await;
    upstream.push(
        Reply::error(429, "rate_limit_exceeded", "slow down").with_header("retry-after", "7"),
    );
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, text) = chat(&app, "/v1/chat/completions", &body).await;
    assert_eq!(status, 429, "{text}");
    assert_eq!(headers["retry-after"], "7");
    let v: Value = serde_json::from_str(&text).unwrap();
    for key in ["message", "type", "code", "param"] {
        assert!(v["error"].get(key).is_some(), "{key} missing: {text}");
    }
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    // A Responses body on the Chat endpoint is named as such, and never reaches the upstream.
    let (status, _, text) = chat(&app, "/v1/chat/completions", &body_responses()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("POST /v1/responses"), "{text}");
    assert_eq!(upstream.chat_requests().len(), 1);
}

fn body_responses() -> Value {
    json!({"model": "m", "input": "hi"})
}

// ---- Responses backend ----

fn responses_config(url: &str) -> String {
    backend_config(
        url,
        json!({"protocol": "responses", "max_retries": 0}),
        true,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_backend_gets_input_items_and_answers_chat() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&responses_config(&upstream.url())).await;

    upstream.push(ResponseStream::text("Sunny in Paris."));
    let (status, _, text) = chat(&app, "/v1/chat/completions", &tool_turn(false)).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "client-model");
    assert_eq!(v["choices"][0]["message"]["content"], "Sunny in Paris.");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].is_u64(), "{text}");

    let sent = &upstream.request(0).unwrap().body;
    assert_eq!(sent["model"], "upstream-model");
    assert_eq!(sent["instructions"], "be brief\n\nuse tools");
    assert_eq!(sent["max_output_tokens"], 300);
    assert_eq!(sent["input"][1]["type"], "function_call");
    assert_eq!(
        sent["input"][2],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "sunny"})
    );
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        upstream.request(0).unwrap().authorization(),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );

    upstream.push(ResponseStream::parallel_calls(&[
        ("call_a", "read", "{\"path\":\"a\"}"),
        ("call_b", "list", "{}"),
    ]));
    let (status, _, text) = chat(&app, "/v1/chat/completions", &tool_turn(true)).await;
    assert_eq!(status, 200, "{text}");
    let frames = chat_frames(&text);
    assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
    let calls: Vec<&Value> = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    let firsts: Vec<(u64, &str)> = calls
        .iter()
        .filter(|c| c.get("id").is_some())
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["function"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(firsts, [(0, "read"), (1, "list")]);
    let finish: Vec<&Value> = frames
        .iter()
        .filter_map(|f| f["choices"].get(0).map(|c| &c["finish_reason"]))
        .filter(|r| !r.is_null())
        .collect();
    assert_eq!(finish, [&json!("tool_calls")]);
    assert_eq!(frames.last().unwrap()["choices"], json!([]));
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_backend_failures_before_and_after_the_first_chunk() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&responses_config(&upstream.url())).await;
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});

    upstream.push(ResponseStream::text("partial").failed("server_error", "upstream broke"));
    let (status, _, text) = chat(&app, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    let frames = chat_frames(&text);
    let last = frames.last().unwrap();
    assert_eq!(last["error"]["code"], "server_error", "{text}");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream broke"));

    upstream.push(ccp_testkit::ResponsesReply::Plain(Reply::error(
        401,
        "invalid_api_key",
        "bad key",
    )));
    let (status, _, text) = chat(&app, "/v1/chat/completions", &body).await;
    assert_eq!(status, 401, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["param"], Value::Null);

    let bad = json!({"model": "m", "n": 3, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, text) = chat(&app, "/v1/chat/completions", &bad).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["param"],
        "n"
    );
}

// ---- ChatGPT backend (codex kind) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_backend_answers_chat_streaming_and_not() {
    let tokens = ChatGptTokens::new("acct-chat");
    let endpoint = TokenEndpoint::for_backend(&tokens).await;
    let mock = ResponsesUpstream::chatgpt(&tokens).await;
    let login = endpoint.login("acct-chat");
    let dir = TempDir::new("chat-codex");
    let auth_file = write_auth_json(
        dir.path(),
        &login.access_token,
        &login.refresh_token,
        "acct-chat",
    );
    let config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "client_keys": [CLIENT_KEY],
        "backends": [{
            "name": "chatgpt", "protocol": "codex", "model": "gpt-5.5",
            "auth_file": auth_file, "token_url": endpoint.url(),
            "url": mock.chatgpt_url(), "max_retries": 0, "match_rules": {"default": true}
        }]
    });
    let app = start(&config.to_string()).await;
    for stream in [false, true] {
        mock.push(ResponseStream::text("Subscription says hi."));
        let (status, _, text) = chat(&app, "/v1/chat/completions", &tool_turn(stream)).await;
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains(&login.access_token));
        if stream {
            let frames = chat_frames(&text);
            assert_eq!(content_of(&frames), "Subscription says hi.");
            assert!(
                frames.last().unwrap()["usage"]["prompt_tokens"].is_u64(),
                "{text}"
            );
        } else {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["choices"][0]["message"]["content"],
                "Subscription says hi."
            );
        }
    }
    mock.assert_no_violations();
    let sent = &mock.responses_requests()[0].body;
    assert!(
        sent["input"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["role"] != "system"),
        "{sent}"
    );
}

// ---- built-in mock and the model list ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_backend_and_prefixes_serve_chat_and_models_lists_every_kind() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "client_keys": [CLIENT_KEY],
        "backends": [
            {"name": "builtin", "protocol": "mock", "model": "mock-model", "match_rules": {"default": true}},
            {"name": "resp", "protocol": "responses", "url": upstream.url(), "api_key": UPSTREAM_KEY,
             "model": "resp-model", "max_retries": 0, "match_rules": {"path_prefix": "/resp"}}
        ]
    });
    let app = start(&config.to_string()).await;
    let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": "ping"}]});
    let (status, headers, text) = chat(&app, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-ccp-backend"], "builtin");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("ping"));

    upstream.push(ResponseStream::text("via prefix"));
    let (status, headers, text) = chat(&app, "/resp/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-ccp-backend"], "resp");
    assert_eq!(upstream.request(0).unwrap().body["model"], "resp-model");

    let resp = reqwest::Client::new()
        .get(app.url("/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    let models: Value = resp.json().await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"mock-model") && ids.contains(&"resp-model"),
        "{models}"
    );
}
