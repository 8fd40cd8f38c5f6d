//! Issue 2, acceptance 2 and 4: the app on port 0 against the strict scripted mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::upstream::{MockUpstream, Reply, RESPONSES_ONLY_FIELDS};
use common::*;
use serde_json::{json, Value};

/// Responses-only fields the upstream must never see: the testkit's list plus `metadata`.
fn responses_only() -> impl Iterator<Item = &'static str> {
    RESPONSES_ONLY_FIELDS.iter().copied().chain(["metadata"])
}

fn codex_like_body(stream: bool) -> Value {
    json!({
        "model": "client-model",
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}
        ],
        "stream": stream,
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "abc",
        "client_metadata": {"x": "y"},
        "reasoning": {"summary": "auto"},
        "text": {"verbosity": "low"},
        "truncation": "disabled",
        "max_output_tokens": 333,
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "tools": []
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_sequence_usage_and_upstream_hygiene() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("Hello there, friend!"));
    let app = start(&single_backend_config(&upstream.url())).await;

    let resp = post_json(
        &app.url("/v1/responses"),
        &codex_like_body(true),
        Some(CLIENT_KEY),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert!(
        resp.headers().get("openai-model").is_none(),
        "must not send openai-model"
    );
    let body = resp.text().await.unwrap();
    let events = parse_sse(&body);
    let types = event_types(&events);
    let text_deltas = types
        .iter()
        .filter(|t| *t == "response.output_text.delta")
        .count();
    assert!(
        text_deltas >= 2,
        "text streamed in several deltas: {types:?}"
    );
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n(
        "response.output_text.delta",
        text_deltas,
    ));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(types, expected);
    // SSE event names equal the data types.
    for (name, data) in &events {
        assert_eq!(name, data["type"].as_str().unwrap());
    }
    // Strictly increasing sequence numbers from 0.
    let seqs: Vec<u64> = events
        .iter()
        .map(|(_, v)| v["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    // Text reassembles; ids are prefixed; the response object is complete.
    let text: String = events
        .iter()
        .filter(|(_, v)| v["type"] == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello there, friend!");
    let completed = &events.last().unwrap().1["response"];
    assert!(completed["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(completed["object"], "response");
    assert_eq!(completed["status"], "completed");
    assert_eq!(
        completed["model"], "client-model",
        "model echoes what the client asked for"
    );
    assert!(completed["created_at"].as_u64().unwrap() > 1_600_000_000);
    let item = &completed["output"][0];
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(item["content"][0]["text"], "Hello there, friend!");
    let usage = &completed["usage"];
    assert_eq!(usage["input_tokens"], 10);
    assert!(usage["output_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );

    // What the upstream saw.
    upstream.assert_no_violations();
    let reqs = upstream.chat_requests();
    assert_eq!(reqs.len(), 1);
    let sent = &reqs[0];
    for field in responses_only() {
        assert!(
            sent.body.get(field).is_none(),
            "Responses-only field `{field}` leaked upstream"
        );
    }
    assert_eq!(sent.body["model"], "upstream-model");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(sent.body["max_tokens"], 333);
    assert_eq!(
        sent.authorization(),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    assert!(
        !sent.headers.values().any(|v| v.contains(CLIENT_KEY)),
        "client key forwarded upstream"
    );
    let roles: Vec<&str> = sent
        .messages()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(!roles.contains(&"developer"));
    assert_eq!(roles.last(), Some(&"user"));
    assert_eq!(sent.messages()[0]["role"], "system");
    assert!(sent.messages()[0]["content"]
        .as_str()
        .unwrap()
        .contains("Be brief."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_mapping_cached_and_reasoning_tokens() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::sse_json([
        json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"}}]}),
        json!({"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
        json!({"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
            "prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":12}}}),
    ]));
    let app = start(&single_backend_config(&upstream.url())).await;
    let body = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"m","input":"hi","stream":true}),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    let events = parse_sse(&body);
    let usage = &events.last().unwrap().1["response"]["usage"];
    assert_eq!(
        usage,
        &json!({"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":30,
                 "output_tokens_details":{"reasoning_tokens":12},"total_tokens":150})
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_returns_the_response_object() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::completion_text("Plain answer."));
    let app = start(&single_backend_config(&upstream.url())).await;
    let resp = post_json(&app.url("/v1/responses"), &codex_like_body(false), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "client-model");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["text"], "Plain answer.");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    upstream.assert_no_violations();
    let sent = &upstream.chat_requests()[0];
    assert_ne!(sent.body["stream"], true);
    for field in responses_only() {
        assert!(
            sent.body.get(field).is_none(),
            "Responses-only field `{field}` leaked upstream"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_prefix_model_header_and_default() {
    let main = MockUpstream::strict().await;
    let kimi = MockUpstream::strict().await;
    let glob = MockUpstream::strict().await;
    let hdr = MockUpstream::strict().await;
    let config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "backends": [
            {"name":"main","url":main.url(),"api_key":"k-main","model":"main-model","protocol":"openai","match_rules":{"default":true}},
            {"name":"kimi","url":kimi.url(),"api_key":"k-kimi","model":"kimi-model","protocol":"openai","match_rules":{"path_prefix":"/kimi"}},
            {"name":"glob","url":glob.url(),"api_key":"k-glob","model":"glob-model","models":["deepseek-v4-pro"],"protocol":"openai","match_rules":{"models":["deepseek-*"]}},
            {"name":"hdr","url":hdr.url(),"api_key":"k-hdr","model":"hdr-model","protocol":"openai","match_rules":{"header":{"name":"x-backend","value":"hdr"}}}
        ]
    });
    let app = start(&config.to_string()).await;
    for path in ["/", "/responses", "/v1/responses"] {
        main.push(Reply::text_stream("main"));
        let r = post_json(
            &app.url(path),
            &json!({"model":"x","input":"hi","stream":true}),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.unwrap().contains("response.completed"));
    }
    for path in ["/kimi", "/kimi/responses", "/kimi/v1/responses"] {
        kimi.push(Reply::text_stream("kimi"));
        let r = post_json(
            &app.url(path),
            &json!({"model":"x","input":"hi","stream":true}),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("\"delta\":\"kimi\"") || body.contains("kimi"),
            "{path}: {body}"
        );
    }
    glob.push(Reply::text_stream("glob"));
    let r = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"deepseek-v4-pro","input":"hi","stream":true}),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    glob.push(Reply::text_stream("glob"));
    let r = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"deepseek-other","input":"hi","stream":true}),
        None,
    )
    .await;
    r.text().await.unwrap();
    hdr.push(Reply::text_stream("hdr"));
    let r = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .header("x-backend", "hdr")
        .json(&json!({"model":"x","input":"hi","stream":true}))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap();

    assert_eq!(main.chat_requests().len(), 3);
    assert_eq!(kimi.chat_requests().len(), 3);
    assert_eq!(glob.chat_requests().len(), 2);
    assert_eq!(hdr.chat_requests().len(), 1);
    // Prefix routing picks the backend's model and key; the prefix is not forwarded upstream.
    assert_eq!(kimi.chat_requests()[0].body["model"], "kimi-model");
    assert_eq!(
        kimi.chat_requests()[0].authorization(),
        Some("Bearer k-kimi")
    );
    assert!(kimi
        .chat_requests()
        .iter()
        .all(|r| r.path == "/v1/chat/completions"));
    // A model in `models` passes through; another glob match is replaced by `model`.
    assert_eq!(glob.chat_requests()[0].body["model"], "deepseek-v4-pro");
    assert_eq!(glob.chat_requests()[1].body["model"], "glob-model");
    assert_eq!(hdr.chat_requests()[0].body["model"], "hdr-model");
    for u in [&main, &kimi, &glob, &hdr] {
        u.assert_no_violations();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_models_and_helpful_404s() {
    let upstream = MockUpstream::strict().await;
    let app = start(&single_backend_config(&upstream.url())).await;
    let health = get_json(&app.url("/health")).await;
    assert_eq!(health["status"], "ok");
    assert!(!health.to_string().contains(UPSTREAM_KEY));
    assert!(health.to_string().contains("main"));
    let models = get_json(&app.url("/v1/models")).await;
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "upstream-model");
    for (path, needle) in [
        (
            "/v1/chat/completions/responses",
            "ends in /chat/completions",
        ),
        ("/v1/v1/responses", "doubled /v1"),
        ("/v1/responses/chat/completions", "ends in /responses"),
        ("/nope", "no such endpoint"),
    ] {
        let r = reqwest::Client::new()
            .post(app.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{path}: {msg}");
        assert!(msg.contains("/v1"), "names the base URL to use: {msg}");
    }
    assert!(upstream.chat_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_mock_backend_answers_without_network() {
    let config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "backends": [{"name":"mock","protocol":"mock","model":"mock-model","match_rules":{"default":true}}]
    });
    let app = start(&config.to_string()).await;
    let body = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"mock-model","input":"ping pong","stream":true}),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    let events = parse_sse(&body);
    let deltas = event_types(&events)
        .iter()
        .filter(|t| *t == "response.output_text.delta")
        .count();
    assert!(deltas >= 3, "streamed in several deltas");
    let done = &events.last().unwrap().1;
    assert_eq!(done["type"], "response.completed");
    assert!(done["response"]["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("ping pong"));
    assert!(done["response"]["usage"]["total_tokens"].as_u64().unwrap() > 0);
    // Non-streaming too, deterministic.
    let a: Value = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"mock-model","input":"same"}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let b: Value = post_json(
        &app.url("/v1/responses"),
        &json!({"model":"mock-model","input":"same"}),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(a["output"][0]["content"], b["output"][0]["content"]);
}
