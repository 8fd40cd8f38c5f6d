//! The `responses` kind (Responses passthrough), the whole app against the strict OpenAI and
//! Azure mocks: what reaches the upstream (the client's bytes, the model substituted, declared
//! fields dropped, the backend's key and never the client's, Azure's `api-version` and
//! `api-key`), what reaches the client (upstream events and JSON verbatim, the mapped error of
//! each error-table row, `response.failed` after a mid-stream failure, keep-alives), retries
//! before the first byte, cancellation on hang-up, and a WebSocket client chaining two responses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use ccp_testkit::{
    RecordedRequest, Reply, ResponseStream, ResponsesReply, ResponsesStrictness, ResponsesUpstream,
    SseScript,
};
use common::*;
use futures_util::SinkExt as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

/// The backend's own model: a client asking for it gets no substitution.
const BACKEND_MODEL: &str = "upstream-model";

/// One `responses` backend `main` at `url`, behind [`CLIENT_KEY`], with `extra` merged in.
fn config(url: &str, extra: Value) -> String {
    let mut settings = json!({"protocol": "responses", "max_retries": 0});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    backend_config(url, settings, true)
}

/// POSTs `body` as it is (bytes) with the client key.
async fn post_raw(app: &App, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Status, headers and body text of an answer; fails if a key appears in any of them.
async fn read(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, String) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    for (name, value) in &headers {
        assert_no_keys(&format!("{name}: {}", value.to_str().unwrap_or("")));
    }
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    (status, headers, text)
}

/// The `data:` payload of every SSE event, as text.
fn data_lines(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// The upstream saw the backend's key as Bearer and nothing of the client's.
fn assert_backend_key_only(request: &RecordedRequest) {
    assert_eq!(
        request.authorization(),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    for (name, value) in &request.headers {
        assert!(
            !value.contains(CLIENT_KEY),
            "client key forwarded in {name}"
        );
    }
    assert!(request.header("x-api-key").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_model_forwards_the_clients_bytes_and_only_the_backend_key() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    // Odd spacing, key order, escapes and number spellings survive only if nothing re-serializes.
    let sent = r#"{ "input" : [{"type":"message","role":"user","content":[{"type":"input_text","text":"h\u00e9llo \"you\""}]}],
        "model":"upstream-model", "metadata": {"b": "2", "a": "1"}, "temperature": 1.50,
        "text": {"verbosity": "low"}, "store": false, "stream": STREAM }"#;
    for (i, stream) in ["false", "true"].into_iter().enumerate() {
        upstream.push(ResponseStream::text("ok"));
        let body = sent.replace("STREAM", stream);
        let (status, _, text) = read(post_raw(&app, &body).await).await;
        assert_eq!(status, 200, "{text}");
        let recorded = upstream.request(i).unwrap();
        assert_eq!(
            std::str::from_utf8(&recorded.raw_body).unwrap(),
            body,
            "stream: {stream}"
        );
        assert_eq!(recorded.path, "/v1/responses");
        assert_backend_key_only(&recorded);
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn substituted_model_leaves_every_other_value_byte_identical() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    upstream.push(ResponseStream::text("ok"));
    let sent = r#"{"input": [ {"role": "user", "content": "h\u00e9llo"} ],  "model": "client-model",
        "metadata": {"k": "v" }, "temperature": 1.50, "stream": false}"#;
    let (status, headers, text) = read(post_raw(&app, sent).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-ccp-upstream-model"], BACKEND_MODEL);
    let recorded = upstream.request(0).unwrap();
    assert_eq!(
        std::str::from_utf8(&recorded.raw_body).unwrap(),
        r#"{"input":[ {"role": "user", "content": "h\u00e9llo"} ],"model":"upstream-model","metadata":{"k": "v" },"temperature":1.50,"stream":false}"#
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_drop_fields_are_removed_and_nothing_else() {
    // The strict mock refuses an unknown top-level field: the request passes only if it is gone.
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let quirks = json!({"quirks": {"drop_fields": ["client_trace", "prompt_cache_retention"]}});
    let app = start(&config(&upstream.url(), quirks)).await;
    upstream.push(ResponseStream::text("ok"));
    let sent = r#"{"model": "upstream-model", "client_trace": {"id": 7}, "input": "hi",
        "prompt_cache_retention": "24h", "metadata": {"client_trace": "kept"}, "stream": false}"#;
    let (status, _, text) = read(post_raw(&app, sent).await).await;
    assert_eq!(status, 200, "{text}");
    let recorded = upstream.request(0).unwrap();
    assert_eq!(
        std::str::from_utf8(&recorded.raw_body).unwrap(),
        r#"{"model":"upstream-model","input":"hi","metadata":{"client_trace": "kept"},"stream":false}"#
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_gets_api_version_and_api_key_and_no_authorization() {
    let upstream = ResponsesUpstream::start(
        ResponsesStrictness::azure(UPSTREAM_KEY).api_version("2025-04-01-preview"),
    )
    .await;
    let url = format!("{}/openai/v1", upstream.origin());
    let azure = json!({"auth_header": "api-key", "api_version": "2025-04-01-preview"});
    let app = start(&config(&url, azure)).await;
    for (i, stream) in [false, true].into_iter().enumerate() {
        upstream.push(ResponseStream::text("from azure"));
        let mut body = json!({"model": "client-model", "input": "hi", "stream": stream});
        body["store"] = json!(false);
        let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("from"), "{text}");
        let recorded = upstream.request(i).unwrap();
        assert_eq!(recorded.path, "/openai/v1/responses");
        assert_eq!(
            recorded.query_param("api-version"),
            Some("2025-04-01-preview")
        );
        assert_eq!(recorded.header("api-key"), Some(UPSTREAM_KEY));
        assert_eq!(recorded.authorization(), None);
        assert!(recorded.headers.values().all(|v| !v.contains(CLIENT_KEY)));
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_events_reach_the_client_verbatim() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    let script = ResponseStream::text("Hello there, world")
        .id("resp_verbatim")
        .header("x-ratelimit-remaining-requests", "99")
        .header("openai-model", "gpt-5.5-2026-01-01");
    upstream.push(script.clone());
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let (status, headers, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "99");
    assert!(
        headers.get("openai-model").is_none(),
        "openai-model is not relayed"
    );
    let recorded = upstream.request(0).unwrap();
    let expected: Vec<String> = script
        .events(&recorded.body)
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(data_lines(&text), expected);
    assert_eq!(
        parse_sse(&text).last().unwrap().1["type"],
        "response.completed"
    );

    // Hand-written events with spacing and key order no serializer would produce.
    let events = [
        r#"{"sequence_number":0,"type":"response.created","response":{"id":"resp_hand","object":"response","created_at":1,"status":"in_progress","model":"upstream-model","output":[]}}"#,
        r#"{ "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "h\u00e9", "sequence_number": 1 }"#,
        r#"{"type":"response.completed","response":{"id":"resp_hand","object":"response","created_at":1,"status":"completed","model":"upstream-model","output":[{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"hé","annotations":[]}]}]},"sequence_number":2}"#,
    ];
    let mut hand = SseScript::new(Vec::<String>::new()).no_done();
    for e in events {
        let kind = serde_json::from_str::<Value>(e).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned();
        hand = hand.event(kind, e);
    }
    upstream.push(hand);
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(data_lines(&text), events);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_answer_is_the_upstreams_json_as_it_came() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    let script = ResponseStream::text("Hello there").id("resp_json");
    upstream.push(script.clone());
    let body = json!({"model": BACKEND_MODEL, "input": "hi"});
    let (status, headers, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let recorded = upstream.request(0).unwrap();
    assert_eq!(text, script.response_object(&recorded.body).to_string());

    let odd = r#"{ "id": "resp_odd", "object": "response", "status": "completed", "model": "upstream-model",
      "output": [ {"type": "message", "id": "msg_1", "role": "assistant", "content": [{"type": "output_text", "text": "caf\u00e9", "annotations": []}]} ],
      "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4} }"#;
    upstream.push(Reply::raw(200, "application/json", odd));
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, odd);
    upstream.assert_no_violations();
}

/// One row of docs/errors.md for an upstream that answers an error status.
struct Row {
    reply: ResponsesReply,
    status: u16,
    code: &'static str,
    error_type: &'static str,
    retry_after: Option<&'static str>,
}

fn error_rows() -> Vec<Row> {
    let row = |reply: ResponsesReply, status, code, error_type| Row {
        reply,
        status,
        code,
        error_type,
        retry_after: None,
    };
    vec![
        row(
            ResponsesReply::error(
                400,
                "invalid_value",
                "Invalid value: 'loud'. Supported values are: 'low'.",
            ),
            400,
            "invalid_prompt",
            "invalid_request_error",
        ),
        row(
            ResponsesReply::error(
                401,
                "invalid_api_key",
                &format!("Incorrect API key provided: {UPSTREAM_KEY}."),
            ),
            401,
            "invalid_api_key",
            "authentication_error",
        ),
        row(
            ResponsesReply::error(403, "", "You are not allowed to sample from this model"),
            401,
            "invalid_api_key",
            "authentication_error",
        ),
        row(
            ResponsesReply::error(
                404,
                "model_not_found",
                "The model `upstream-model` does not exist",
            ),
            404,
            "invalid_request_error",
            "invalid_request_error",
        ),
        Row {
            reply: ResponsesReply::error(429, "rate_limit_exceeded", "Rate limit reached.")
                .with_header("retry-after", "7"),
            status: 429,
            code: "rate_limit_exceeded",
            error_type: "rate_limit_error",
            retry_after: Some("7"),
        },
        row(
            ResponsesReply::error(
                429,
                "insufficient_quota",
                "You exceeded your current quota.",
            ),
            429,
            "insufficient_quota",
            "insufficient_quota",
        ),
        row(
            ResponsesReply::error(500, "server_error", "The server had an error."),
            502,
            "server_error",
            "server_error",
        ),
        row(
            ResponsesReply::overloaded(),
            503,
            "server_is_overloaded",
            "server_error",
        ),
        row(
            ResponsesReply::error(
                400,
                "context_length_exceeded",
                "Your input exceeds the context window of this model.",
            ),
            400,
            "context_length_exceeded",
            "invalid_request_error",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_row_is_an_openai_shaped_http_error_streaming_or_not() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    let mut sent = 0;
    for row in error_rows() {
        for stream in [false, true] {
            upstream.push(row.reply.clone());
            let body = json!({"model": "client-model", "input": "hi", "stream": stream});
            let (status, headers, text) = read(post_raw(&app, &body.to_string()).await).await;
            sent += 1;
            let what = format!("row {} (stream {stream}): {text}", row.code);
            assert_eq!(status, row.status, "{what}");
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {what}"));
            let error = v["error"].as_object().unwrap();
            let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["code", "message", "param", "type"], "{what}");
            assert_eq!(error["code"], row.code, "{what}");
            assert_eq!(error["type"], row.error_type, "{what}");
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("backend `main`"),
                "{what}"
            );
            assert_eq!(
                headers.get("retry-after").map(|v| v.to_str().unwrap()),
                row.retry_after,
                "{what}"
            );
            if let Some(secs) = row.retry_after {
                let message = error["message"].as_str().unwrap();
                assert!(
                    message.ends_with(&format!("try again in {secs}s.")),
                    "{what}"
                );
            }
            assert_eq!(upstream.requests().len(), sent, "no retry: {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_before_the_first_byte() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    upstream.push(ResponsesReply::error(500, "server_error", "boom"));
    upstream.push(ResponsesReply::overloaded());
    upstream.push(ResponseStream::text("third time lucky"));
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        parse_sse(&text).last().unwrap().1["type"],
        "response.completed"
    );
    assert_eq!(upstream.requests().len(), 3, "two retries");
    let bodies: Vec<_> = upstream
        .requests()
        .into_iter()
        .map(|r| r.raw_body)
        .collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the same body each time"
    );

    // Out of retries: the last failure is the answer.
    for _ in 0..3 {
        upstream.push(ResponsesReply::error(500, "server_error", "boom"));
    }
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 502, "{text}");
    // A fourth attempt would have found no scripted reply and been recorded.
    assert_eq!(upstream.requests().len(), 6);
    // A 4xx is never retried.
    upstream.push(ResponsesReply::error(400, "invalid_value", "bad"));
    let (status, _, _) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 400);
    assert_eq!(upstream.requests().len(), 7);
}

/// Asserts exactly one terminal event, last, a `response.failed` with `code`; returns it.
fn failed<'a>(events: &'a [(String, Value)], code: &str) -> &'a Value {
    let types = event_types(events);
    let terminals = types
        .iter()
        .filter(|t| {
            [
                "response.completed",
                "response.failed",
                "response.incomplete",
            ]
            .contains(&t.as_str())
        })
        .count();
    assert_eq!(terminals, 1, "{types:?}");
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.failed", "{types:?}");
    assert_eq!(last["response"]["error"]["code"], code, "{last}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_stream_drop_ends_with_response_failed() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    upstream.push(
        ResponseStream::text("one two three four")
            .id("resp_cut")
            .drop_after(4),
    );
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200);
    let events = parse_sse(&text);
    assert_eq!(events[0].1["type"], "response.created");
    let last = failed(&events, "server_error");
    assert_eq!(last["response"]["id"], "resp_cut", "the upstream's id");
    assert!(
        last["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mid-answer"),
        "{last}"
    );
    // A retry would have found no scripted reply and been recorded.
    assert_eq!(upstream.requests().len(), 1, "never re-sent after a byte");

    // Without streaming the answer is a 502.
    let body = json!({"model": BACKEND_MODEL, "input": "hi"});
    upstream.push(ResponseStream::text("cut").drop_after(0));
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (502, Some("server_error")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_mid_stream_ends_with_response_failed_and_drops_the_upstream() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let settings = json!({"idle_timeout_secs": 1, "keepalive_interval_secs": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(
        ResponseStream::text("slow answer")
            .id("resp_idle")
            .silence_after_first(Duration::from_secs(30)),
    );
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let started = Instant::now();
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    let events = parse_sse(&text);
    let last = failed(&events, "server_error");
    assert_eq!(last["response"]["id"], "resp_idle");
    assert!(
        last["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("idle timeout"),
        "{last}"
    );
    assert!(upstream
        .wait_for_drop(0, Duration::from_secs(1))
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_event_mid_stream_becomes_response_failed_with_its_code() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    let created = r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_err","object":"response","status":"in_progress","model":"upstream-model","output":[]}}"#;
    let cases = [
        (
            r#"{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached.","param":null,"sequence_number":1}"#,
            "rate_limit_exceeded",
        ),
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","code":"context_length_exceeded","message":"Your input exceeds the context window of this model."},"sequence_number":1}"#,
            "context_length_exceeded",
        ),
    ];
    for (error, code) in cases {
        upstream.push(
            SseScript::new(Vec::<String>::new())
                .no_done()
                .event("response.created", created)
                .event("error", error),
        );
        let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
        let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
        assert_eq!(status, 200);
        assert_eq!(data_lines(&text)[0], created, "relayed verbatim");
        let events = parse_sse(&text);
        let last = failed(&events, code);
        assert_eq!(last["response"]["id"], "resp_err");
        assert!(
            !event_types(&events).contains(&"error".to_owned()),
            "the raw error event is not relayed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_fill_upstream_silence() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(
        &upstream.url(),
        json!({"keepalive_interval_secs": 1}),
    ))
    .await;
    upstream.push(
        ResponseStream::text("after a pause")
            .id("resp_slow")
            .silence_after_first(Duration::from_millis(2600)),
    );
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200);
    let events = parse_sse(&text);
    // The upstream's own in_progress carries a sequence_number; the proxy's keep-alives do not.
    let keepalives: Vec<&Value> = events
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["type"] == "response.in_progress" && v.get("sequence_number").is_none())
        .collect();
    assert!(!keepalives.is_empty(), "{:?}", event_types(&events));
    for k in &keepalives {
        assert_eq!(k["response"]["id"], "resp_slow", "{k}");
    }
    assert_eq!(events[0].1["type"], "response.created");
    assert_eq!(
        events.last().unwrap().1["type"],
        "response.completed",
        "{:?}",
        event_types(&events)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hang_up_drops_the_upstream_within_a_second() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    upstream.push(
        ResponseStream::text("first then silence").silence_after_first(Duration::from_secs(30)),
    );
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let mut resp = post_raw(&app, &body.to_string()).await;
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("response.created"));
    let hung_up = Instant::now();
    drop(resp);
    let dropped = upstream
        .wait_for_drop(0, Duration::from_secs(1))
        .await
        .expect("the upstream request was not dropped within 1 s");
    assert!(dropped.duration_since(hung_up) < Duration::from_secs(1));
    assert!(!upstream.request(0).unwrap().completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_chain_sends_the_full_history_with_the_backend_key_only() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    upstream.push(ResponseStream::function_call(
        "call_1",
        "exec_command",
        r#"{"cmd":"ls"}"#,
    ));
    upstream.push(ResponseStream::text("two files"));

    let mut request = format!("ws://{}/v1/responses", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let tools = json!([{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]);
    let user = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]});
    let first =
        json!({"type": "response.create", "model": BACKEND_MODEL, "input": [user], "tools": tools});
    ws.send(Message::Text(first.to_string().into()))
        .await
        .unwrap();
    let events = read_ws_response(&mut ws).await;
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed", "{done}");
    let id = done["response"]["id"].as_str().unwrap().to_owned();

    let output =
        json!({"type": "function_call_output", "call_id": "call_1", "output": "a.txt b.txt"});
    let second = json!({"type": "response.create", "model": BACKEND_MODEL, "previous_response_id": id, "input": [output], "tools": tools});
    ws.send(Message::Text(second.to_string().into()))
        .await
        .unwrap();
    let events = read_ws_response(&mut ws).await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    for e in &events {
        assert_no_keys(&e.to_string());
    }

    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_backend_key_only(r);
        assert_eq!(r.body["stream"], true);
        assert!(r.body.get("type").is_none(), "the frame type is not sent");
    }
    let second = &requests[1].body;
    assert!(
        second.get("previous_response_id").is_none(),
        "the proxy expanded the chain itself: {second}"
    );
    let items = requests[1].input_items();
    let kinds: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["message", "function_call", "function_call_output"],
        "{second}"
    );
    assert_eq!(items[1]["call_id"], "call_1");
    upstream.assert_no_violations();
}

#[test]
fn responses_url_problems_name_their_path_and_the_fix() {
    let problems = |url: &str, extra: Value| {
        let mut backend = json!({"name": "main", "protocol": "responses", "url": url,
                                 "model": "m", "match_rules": {"default": true}});
        for (k, v) in extra.as_object().unwrap() {
            backend[k] = v.clone();
        }
        let text = json!({"backends": [backend]}).to_string();
        ccp_gateway::config::parse_str(&text, &|_| None)
            .unwrap_err()
            .0
    };
    let p = problems("https://api.example.com/v1/chat/completions", json!({}));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "backends[0].url");
    assert!(
        p[0].message.contains("\"https://api.example.com/v1\"")
            && p[0].message.contains("\"protocol\": \"chat\""),
        "{}",
        p[0].message
    );
    let p = problems("https://api.example.com/v1/v1", json!({}));
    assert_eq!(p[0].path, "backends[0].url");
    assert!(
        p[0].message.contains("\"https://api.example.com/v1\""),
        "{}",
        p[0].message
    );
    let p = problems("https://api.example.com/v1/responses/responses", json!({}));
    assert_eq!(p[0].path, "backends[0].url");
    assert!(p[0].message.contains("write it once"), "{}", p[0].message);
    let p = problems(
        "https://api.example.com/v1",
        json!({"auth_file": "/tmp/auth.json"}),
    );
    assert_eq!(p[0].path, "backends[0].auth_file");
    assert!(
        p[0].message.contains("only applies to protocol \"codex\""),
        "{}",
        p[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answer_to_a_streaming_request_is_replayed_as_events() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    upstream.push(ResponseStream::text("as json").id("resp_obj").as_object());
    let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": true});
    let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
    assert_eq!(status, 200, "{text}");
    let events = parse_sse(&text);
    assert_eq!(
        event_types(&events),
        [
            "response.created",
            "response.output_item.added",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let done = &events[3].1["response"];
    assert_eq!(done["id"], "resp_obj");
    assert_eq!(done["output"][0]["content"][0]["text"], "as json");
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_says_where_it_points() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    for stream in [false, true] {
        upstream.push(Reply::json(307, json!({})).with_header(
            "location",
            "https://elsewhere.example/v2/responses?token=abc",
        ));
        let body = json!({"model": BACKEND_MODEL, "input": "hi", "stream": stream});
        let (status, _, text) = read(post_raw(&app, &body.to_string()).await).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (502, Some("server_error")),
            "{v}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("redirect (HTTP 307 to https://elsewhere.example/v2/responses)")
                && message.contains("set the backend's url"),
            "{message}"
        );
        assert!(!message.contains("token=abc"), "{message}");
    }
    assert_eq!(upstream.requests().len(), 2, "neither followed nor retried");
}
