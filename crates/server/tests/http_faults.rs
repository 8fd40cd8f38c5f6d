//! Transport faults: retries before the first byte (and never after it), connect failures, each
//! upstream timeout naming itself, keep-alives during upstream silence, and a client hang-up
//! reaching the upstream connection.
//!
//! Timeouts are 1–2 s in these configs, so the tests use real time with generous margins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

/// One backend at `upstream_url` with `extra` merged into its settings.
fn config(upstream_url: &str, extra: Value) -> String {
    backend_config(upstream_url, extra, false)
}

async fn stream(app: &App) -> Vec<(String, Value)> {
    let resp = post_json(&app.url("/v1/responses"), &body(true), None).await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    assert_no_keys(&raw);
    parse_sse(&raw)
}

async fn json_answer(app: &App) -> (u16, Value) {
    let resp = post_json(&app.url("/v1/responses"), &body(false), None).await;
    let status = resp.status().as_u16();
    let raw = resp.text().await.unwrap();
    assert_no_keys(&raw);
    (
        status,
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}")),
    )
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(_, v)| v["type"] == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts one terminal event, last, and that it is `response.failed` with `code`; returns
/// the message.
fn failed(events: &[(String, Value)], code: &str) -> String {
    let types = event_types(events);
    assert_eq!(types[0], "response.created", "{types:?}");
    let terminal = |t: &String| {
        [
            "response.completed",
            "response.failed",
            "response.incomplete",
        ]
        .contains(&t.as_str())
    };
    assert_eq!(types.iter().filter(|t| terminal(t)).count(), 1, "{types:?}");
    assert_eq!(types.last().unwrap(), "response.failed", "{types:?}");
    let error = &events.last().unwrap().1["response"]["error"];
    assert_eq!(error["code"], code, "{error}");
    error["message"].as_str().unwrap().to_owned()
}

fn completed(events: &[(String, Value)]) {
    let types = event_types(events);
    assert_eq!(types.last().unwrap(), "response.completed", "{types:?}");
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("response.") && t.ends_with("completed"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_500_once_then_success_is_retried() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    upstream.push(Reply::error(500, "server_error", "transient"));
    upstream.push(Reply::text_stream("The complete answer."));
    let events = stream(&app).await;
    completed(&events);
    assert_eq!(text_of(&events), "The complete answer.");
    assert_eq!(
        upstream.chat_requests().len(),
        2,
        "one failed attempt, one retry"
    );

    upstream.push(Reply::error(503, "", "busy"));
    upstream.push(Reply::completion_text("Also complete."));
    let (status, v) = json_answer(&app).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["output"][0]["content"][0]["text"], "Also complete.");
    assert_eq!(upstream.chat_requests().len(), 4);
    upstream.assert_no_violations();
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_error_to_a_closed_port() {
    let url = format!("http://127.0.0.1:{}/v1", closed_port().await);
    let app = start(&config(&url, json!({"max_retries": 2}))).await;
    let message = failed(&stream(&app).await, "server_error");
    assert!(
        message.contains("could not connect") && message.contains("`main`"),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("refused"),
        "names the connect failure: {message}"
    );
    let (status, v) = json_answer(&app).await;
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (502, "server_error"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{v}"
    );
}

/// Counts TCP connections and closes each at once, before any response.
async fn slamming_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_are_tried_max_retries_plus_one_times() {
    let (url, count) = slamming_listener().await;
    let app = start(&config(&url, json!({"max_retries": 3}))).await;
    let message = failed(&stream(&app).await, "server_error");
    assert!(
        message.contains("`main`") && message.contains("could not connect"),
        "{message}"
    );
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "max_retries + 1 attempts"
    );
    let (status, _) = json_answer(&app).await;
    assert_eq!(status, 502);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_not_retried_by_the_proxy() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    upstream.push(Reply::error(429, "rate_limit_exceeded", "slow down"));
    upstream.push(Reply::text_stream("never served"));
    failed(&stream(&app).await, "rate_limit_exceeded");
    assert_eq!(
        upstream.chat_requests().len(),
        1,
        "Codex does the waiting, not the proxy"
    );
    assert_eq!(upstream.pending_replies(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_once_a_byte_reached_the_client() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    upstream.push(Reply::text_stream("one two three four").drop_after(2));
    upstream.push(Reply::text_stream("never served"));
    let events = stream(&app).await;
    failed(&events, "server_error");
    assert_eq!(text_of(&events), "one ");
    assert_eq!(
        upstream.chat_requests().len(),
        1,
        "a POST is never re-sent after the first byte"
    );
    assert_eq!(upstream.pending_replies(), 1);
    // Same for a 5xx-like in-band error after content.
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 2}))).await;
    let mut script = Reply::text_stream("partial");
    script.items.truncate(2);
    let error = json!({"error": {"message": "internal", "type": "server_error"}});
    upstream.push(script.data(error.to_string()));
    upstream.push(Reply::text_stream("never served"));
    let events = stream(&app).await;
    failed(&events, "server_error");
    assert_eq!(text_of(&events), "partial");
    assert_eq!(upstream.chat_requests().len(), 1);
    assert_eq!(upstream.pending_replies(), 1);
}

/// Mid-stream disconnects and truncated streams end in `response.failed`, never in a
/// `response.completed` that Codex would keep as the final answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_stream_disconnect_and_truncation_never_complete() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 0}))).await;
    upstream.push(Reply::text_stream("one two three four five six").drop_after(3));
    let events = stream(&app).await;
    let message = failed(&events, "server_error");
    assert!(
        message.contains("broke mid-answer") && message.contains("not completed"),
        "{message}"
    );
    assert_eq!(text_of(&events), "one two ");
    // The stream ends cleanly but without finish_reason and without [DONE]: truncated.
    let chunks = [
        chunk(json!({"role": "assistant", "content": "cut "}), None),
        chunk(json!({"content": "off"}), None),
    ];
    upstream.push(Reply::sse_json(chunks).no_done());
    let events = stream(&app).await;
    assert!(failed(&events, "server_error").contains("truncated"));
    assert_eq!(text_of(&events), "cut off");
    // Non-streaming: the body breaks while being read.
    upstream.push(Reply::text_stream("one two three").drop_after(2));
    let (status, v) = json_answer(&app).await;
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (502, "server_error"),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke mid-answer"),
        "{v}"
    );
    upstream.assert_no_violations();
}

/// A stream with content in its first frame, then the rest.
fn hello_world() -> ccp_testkit::upstream::SseScript {
    Reply::sse_json([
        chunk(json!({"role": "assistant", "content": "Hello"}), None),
        chunk(json!({"content": " world"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(2),
    ])
}

/// Streams one answer that must end in `response.failed` (`server_error`) within `limit`;
/// returns the events and the failure message.
async fn stream_fails_within(app: &App, limit: Duration) -> (Vec<(String, Value)>, String) {
    let started = Instant::now();
    let events = stream(app).await;
    assert!(
        started.elapsed() < limit,
        "failed after {:?}",
        started.elapsed()
    );
    let message = failed(&events, "server_error");
    (events, message)
}

/// A non-streaming answer that must be a 504 `server_error` naming `setting`.
async fn json_504_naming(app: &App, setting: &str) {
    let (status, v) = json_answer(app).await;
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (504, "server_error"),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains(setting),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_byte_timeout_names_itself() {
    let upstream = MockUpstream::strict().await;
    let settings =
        json!({"first_byte_timeout_secs": 1, "total_timeout_secs": 10, "max_retries": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(hello_world().header_delay(Duration::from_secs(3)));
    let (_, message) = stream_fails_within(&app, Duration::from_millis(2500)).await;
    assert!(
        message.contains("first byte timeout") && message.contains("first_byte_timeout_secs"),
        "{message}"
    );
    upstream.push(hello_world().header_delay(Duration::from_secs(3)));
    json_504_naming(&app, "first_byte_timeout_secs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_names_itself() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"idle_timeout_secs": 1, "keepalive_interval_secs": 0, "max_retries": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(hello_world().silence_after_first(Duration::from_secs(4)));
    let (events, message) = stream_fails_within(&app, Duration::from_millis(3000)).await;
    assert!(
        message.contains("idle timeout") && message.contains("idle_timeout_secs"),
        "{message}"
    );
    assert!(message.contains("not completed"), "{message}");
    assert_eq!(
        text_of(&events),
        "Hello",
        "what arrived before the silence was streamed"
    );
}

/// Content every 300 ms for ~9 s.
fn slow_stream() -> ccp_testkit::upstream::SseScript {
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": "tick "}),
        None,
    )];
    chunks.extend((0..30).map(|_| chunk(json!({"content": "tick "}), None)));
    chunks.push(chunk(json!({}), Some("stop")));
    Reply::sse_json(chunks).chunk_delay(Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_timeout_names_itself() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"first_byte_timeout_secs": 1, "idle_timeout_secs": 5, "total_timeout_secs": 2, "max_retries": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(slow_stream());
    let (events, message) = stream_fails_within(&app, Duration::from_millis(4000)).await;
    assert!(
        message.contains("total timeout") && message.contains("total_timeout_secs"),
        "{message}"
    );
    assert!(
        text_of(&events).starts_with("tick tick "),
        "partial answer streamed first"
    );

    upstream.push(slow_stream());
    json_504_naming(&app, "total_timeout_secs").await;
}

/// The event types, and how many `response.in_progress` keep-alives came between the first
/// and the last text delta.
fn keepalives_between_deltas(events: &[(String, Value)]) -> (Vec<String>, usize) {
    let types = event_types(events);
    let is_delta = |t: &String| t == "response.output_text.delta";
    let first_delta = types.iter().position(is_delta).unwrap();
    let last_delta = types.iter().rposition(is_delta).unwrap();
    let keepalives = types[first_delta..last_delta]
        .iter()
        .filter(|t| *t == "response.in_progress")
        .count();
    (types, keepalives)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_during_upstream_silence() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"keepalive_interval_secs": 1, "idle_timeout_secs": 10});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(hello_world().silence_after_first(Duration::from_millis(2500)));
    let events = stream(&app).await;
    completed(&events);
    assert_eq!(text_of(&events), "Hello world");
    let (types, keepalives) = keepalives_between_deltas(&events);
    assert!(
        keepalives >= 2,
        "in_progress events during the silence: {types:?}"
    );
    for (_, v) in events
        .iter()
        .filter(|(_, v)| v["type"] == "response.in_progress")
    {
        assert_eq!(v["response"]["status"], "in_progress");
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_drops_the_upstream_request() {
    let upstream = MockUpstream::strict().await;
    // Default keep-alive (10 s): the hang-up must be noticed without the proxy writing.
    let app = start(&config(&upstream.url(), json!({"idle_timeout_secs": 60}))).await;
    upstream.push(hello_world().silence_after_first(Duration::from_secs(30)));
    let client = reqwest::Client::new();
    let mut resp = client
        .post(app.url("/v1/responses"))
        .json(&body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut seen = String::new();
    while !seen.contains("response.output_text.delta") {
        let piece = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&piece.unwrap()));
    }
    assert!(
        upstream.request(0).unwrap().dropped_at.is_none(),
        "upstream still streaming"
    );
    let hung_up = Instant::now();
    drop(resp);
    drop(client);
    let dropped = upstream.wait_for_drop(0, Duration::from_secs(1)).await;
    assert!(
        dropped.is_some(),
        "upstream request not dropped within 1 s of the client hanging up"
    );
    assert!(!upstream.request(0).unwrap().completed);
    assert!(dropped.unwrap().duration_since(hung_up) < Duration::from_secs(1));
}

/// Keep-alives must not hide a dead upstream: the idle timer counts upstream silence, not the
/// proxy's own `response.in_progress` events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_fires_despite_keepalives() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"idle_timeout_secs": 2, "keepalive_interval_secs": 1, "max_retries": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(hello_world().silence_after_first(Duration::from_secs(6)));
    let (_, message) = stream_fails_within(&app, Duration::from_millis(4000)).await;
    assert!(message.contains("idle timeout"), "{message}");
}

/// Codex's idle timer is reset by events only, so upstream SSE comments (`: keep-alive`,
/// `: OPENROUTER PROCESSING`) must not stop the proxy's `response.in_progress` keep-alives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_continue_while_upstream_sends_only_comments() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"keepalive_interval_secs": 1, "idle_timeout_secs": 10});
    let app = start(&config(&upstream.url(), settings)).await;
    let mut script = Reply::sse_json([chunk(
        json!({"role": "assistant", "content": "Hello"}),
        None,
    )]);
    for _ in 0..9 {
        script = script.comment("OPENROUTER PROCESSING");
    }
    let script = script
        .data(chunk(json!({"content": " world"}), None).to_string())
        .data(chunk(json!({}), Some("stop")).to_string())
        .chunk_delay(Duration::from_millis(300));
    upstream.push(script);
    let events = stream(&app).await;
    completed(&events);
    assert_eq!(text_of(&events), "Hello world");
    let (types, keepalives) = keepalives_between_deltas(&events);
    assert!(
        keepalives >= 2,
        "in_progress events during ~3 s of upstream comments: {types:?}"
    );
}

/// `total_timeout_secs` bounds the whole upstream exchange, including the wait for headers
/// (config validation requires first_byte_timeout_secs ≤ total_timeout_secs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_timeout_counts_from_the_request_start() {
    let upstream = MockUpstream::strict().await;
    let settings = json!({"first_byte_timeout_secs": 2, "idle_timeout_secs": 5, "total_timeout_secs": 2, "max_retries": 0});
    let app = start(&config(&upstream.url(), settings)).await;
    upstream.push(slow_stream().header_delay(Duration::from_millis(1500)));
    let (_, message) = stream_fails_within(&app, Duration::from_millis(2800)).await;
    assert!(message.contains("total timeout"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_before_upstream_headers_drops_the_upstream_request() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"max_retries": 0}))).await;
    upstream.push(hello_world().header_delay(Duration::from_secs(30)));
    let send = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .json(&body(true))
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), send)
            .await
            .is_err(),
        "still waiting for headers"
    );
    assert!(upstream.wait_for_requests(1, Duration::from_secs(1)).await);
    let hung_up = Instant::now();
    let dropped = upstream.wait_for_drop(0, Duration::from_secs(1)).await;
    assert!(
        dropped.is_some(),
        "upstream request not dropped within 1 s of the client hanging up"
    );
    assert!(dropped.unwrap().duration_since(hung_up) < Duration::from_secs(1));
}

/// A keep-alive Chat upstream that answers every request after `delay` and counts the
/// connections currently open to it.
async fn counting_upstream(
    delay: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let live = open.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let live = live.clone();
            live.fetch_add(1, SeqCst);
            tokio::spawn(async move {
                let answer = json!({"id": "c", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "pooled"},
                    "finish_reason": "stop"}]})
                .to_string();
                let mut buf = Vec::new();
                'conn: loop {
                    // One request: headers, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => break 'conn,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => break 'conn,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
                live.fetch_sub(1, SeqCst);
            });
        }
    });
    (url, open)
}

/// Open upstream connections after a burst of `burst` concurrent requests has finished.
async fn connections_left_after_burst(pool_max_idle: usize, burst: usize) -> usize {
    let (url, open) = counting_upstream(Duration::from_millis(300)).await;
    let app = start(&config(&url, json!({"pool_max_idle": pool_max_idle}))).await;
    let answers = futures_util::future::join_all((0..burst).map(|_| json_answer(&app))).await;
    for (status, v) in answers {
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["output"][0]["content"][0]["text"], "pooled", "{v}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    open.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_leaves_at_most_pool_max_idle_upstream_connections() {
    // 8 concurrent requests need 8 connections; afterwards only pool_max_idle stay open.
    assert_eq!(connections_left_after_burst(2, 8).await, 2);
    assert_eq!(connections_left_after_burst(8, 8).await, 8);
    assert_eq!(connections_left_after_burst(0, 4).await, 0);
}
