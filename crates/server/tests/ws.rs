//! Responses over WebSocket: prewarm, chaining, unknown previous ids, failures, cancellation,
//! concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply};
use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn connect(app: &App) -> Ws {
    let url = format!("ws://{}/v1/responses", app.addr);
    let (ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn create(input: Value, previous: Option<&str>) -> Value {
    let mut v = json!({"type": "response.create", "model": "m", "stream": true, "input": input});
    if let Some(p) = previous {
        v["previous_response_id"] = json!(p);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prewarm_then_chained_requests_rebuild_the_full_history() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::tool_call_stream(&[(
        "call_1",
        "exec_command",
        r#"{"cmd":"ls"}"#,
    )]));
    upstream.push(Reply::text_stream("listed"));
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut ws = connect(&app).await;
    let dev = json!([{"type":"message","role":"developer","content":[{"type":"input_text","text":"rules"}]}]);
    let mut warm = create(dev, None);
    warm["generate"] = json!(false);
    send(&mut ws, warm).await;
    let events = read_ws_response(&mut ws).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["response.created", "response.completed"]);
    assert!(
        upstream.chat_requests().is_empty(),
        "prewarm never calls the upstream"
    );
    let warm_id = events[1]["response"]["id"].as_str().unwrap().to_owned();

    let tools = json!([{"type":"function","name":"exec_command","parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}]);
    let mut first = create(
        json!([{"type":"message","role":"user","content":"list files"}]),
        Some(&warm_id),
    );
    first["tools"] = tools.clone();
    send(&mut ws, first).await;
    let events = read_ws_response(&mut ws).await;
    let done = events.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    let resp_id = done["response"]["id"].as_str().unwrap().to_owned();
    assert_eq!(done["response"]["output"][0]["type"], "function_call");

    let mut second = create(
        json!([{"type":"function_call_output","call_id":"call_1","output":"a.txt"}]),
        Some(&resp_id),
    );
    second["tools"] = tools;
    send(&mut ws, second).await;
    let events = read_ws_response(&mut ws).await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    upstream.assert_no_violations();
    let msgs = upstream.chat_requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool"],
        "prewarm input + turn + returned call + output"
    );
    assert_eq!(msgs[2]["tool_calls"][0]["id"], "call_1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_previous_response_gets_previous_response_not_found() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("after resend"));
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut ws = connect(&app).await;
    send(
        &mut ws,
        create(
            json!([{"type":"message","role":"user","content":"hi"}]),
            Some("resp_unknown"),
        ),
    )
    .await;
    let events = read_ws_response(&mut ws).await;
    let err = &events[0];
    assert_eq!(err["type"], "error");
    assert_eq!(err["status"], 400);
    assert_eq!(err["error"]["code"], "previous_response_not_found");
    assert!(upstream.chat_requests().is_empty());
    // The connection stays usable: a full resend works.
    send(
        &mut ws,
        create(
            json!([{"type":"message","role":"user","content":"hi"}]),
            None,
        ),
    )
    .await;
    assert_eq!(
        read_ws_response(&mut ws).await.last().unwrap()["type"],
        "response.completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failure_mid_response_ends_with_response_failed() {
    let upstream = MockUpstream::strict().await;
    upstream.push(
        Reply::sse_json([
            chunk(json!({"role":"assistant","content":"partial "}), None),
            chunk(json!({"content":"more"}), None),
            chunk(json!({}), Some("stop")),
            usage_chunk(2),
        ])
        .drop_after(2),
    );
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut ws = connect(&app).await;
    send(&mut ws, create(json!("hi"), None)).await;
    let events = read_ws_response(&mut ws).await;
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert!(!events.iter().any(|e| e["type"] == "response.completed"));
    // A failed response is not remembered: chaining on it asks for a resend.
    let id = last["response"]["id"].as_str().unwrap().to_owned();
    send(&mut ws, create(json!([]), Some(&id))).await;
    assert_eq!(
        read_ws_response(&mut ws).await[0]["error"]["code"],
        "previous_response_not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closing_mid_response_cancels_the_upstream() {
    let upstream = MockUpstream::strict().await;
    upstream.push(
        Reply::sse_json([
            chunk(json!({"role":"assistant","content":"first "}), None),
            chunk(json!({"content":"second"}), None),
            chunk(json!({}), Some("stop")),
            usage_chunk(2),
        ])
        .silence_after_first(Duration::from_secs(30)),
    );
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut ws = connect(&app).await;
    send(&mut ws, create(json!("hi"), None)).await;
    // Read until the first text delta, then hang up.
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("stream ended early")
        };
        if t.contains("response.output_text.delta") {
            break;
        }
    }
    ws.close(None).await.unwrap();
    drop(ws);
    let dropped = upstream.wait_for_drop(0, Duration::from_secs(1)).await;
    assert!(
        dropped.is_some(),
        "the upstream request was not cancelled within 1 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_connections() {
    let upstream = MockUpstream::strict().await;
    for i in 0..50 {
        upstream.push(Reply::text_stream(&format!("answer number {i}")));
    }
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let url = format!("ws://{}/v1/responses", app.addr);
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            send(&mut ws, create(json!("hi"), None)).await;
            let events = read_ws_response(&mut ws).await;
            let last = events.last().unwrap().clone();
            assert_eq!(last["type"], "response.completed");
            last["response"]["output"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers.sort();
    answers.dedup();
    assert_eq!(
        answers.len(),
        50,
        "every connection got its own complete answer"
    );
    assert_eq!(upstream.chat_requests().len(), 50);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_style_frame_gets_an_error_naming_messages() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("after the fix"));
    let app = start(&single_backend_config(&upstream.url())).await;
    let mut ws = connect(&app).await;
    let frame = json!({"type": "response.create", "model": "m", "messages": [{"role": "user", "content": "hi"}]});
    send(&mut ws, frame).await;
    let events = read_ws_response(&mut ws).await;
    let err = &events[0];
    assert_eq!(err["type"], "error");
    assert_eq!(err["status"], 400);
    assert_eq!(err["error"]["param"], "messages");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Chat Completions API") && message.contains("expects `input`"),
        "{message}"
    );
    assert!(upstream.chat_requests().is_empty());
    // The connection stays usable.
    send(&mut ws, create(json!("hi"), None)).await;
    assert_eq!(
        read_ws_response(&mut ws).await.last().unwrap()["type"],
        "response.completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_under_a_prefix_reach_that_backend_and_are_counted() {
    let main = MockUpstream::strict().await;
    let kimi = MockUpstream::strict().await;
    let config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "backends": [
            {"name": "main", "url": main.url(), "api_key": "k-main", "model": "main-model", "protocol": "openai", "match_rules": {"default": true}},
            {"name": "kimi", "url": kimi.url(), "api_key": "k-kimi", "model": "kimi-model", "protocol": "openai", "match_rules": {"path_prefix": "/kimi"}}
        ]
    });
    let app = start(&config.to_string()).await;
    for path in ["/kimi/v1/responses", "/kimi/responses", "/kimi"] {
        kimi.push(Reply::text_stream("from kimi"));
        let url = format!("ws://{}{path}", app.addr);
        let (mut ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(resp.status(), 101, "{path}");
        assert!(resp.headers().contains_key("x-request-id"), "{path}");
        send(&mut ws, create(json!("hi"), None)).await;
        let events = read_ws_response(&mut ws).await;
        assert_eq!(
            events.last().unwrap()["type"],
            "response.completed",
            "{path}"
        );
    }
    assert_eq!(kimi.chat_requests().len(), 3);
    assert!(kimi
        .chat_requests()
        .iter()
        .all(|r| r.body["model"] == "kimi-model"));
    assert!(main.chat_requests().is_empty());
    let health = get_json(&app.url("/health")).await;
    assert_eq!(health["stats"]["websocket_connections"], 3, "{health}");
    assert_eq!(
        health["stats"]["websocket_responses_requests"], 3,
        "{health}"
    );
    kimi.assert_no_violations();
}
