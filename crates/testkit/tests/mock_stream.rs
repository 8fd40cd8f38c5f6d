//! `MockUpstream` serving: SSE framing and the canned helpers, scripted failures and timing, the
//! body drop guard, error replies, paths and the models endpoint.

mod common;

use std::time::{Duration, Instant};

use ccp_testkit::{MockUpstream, Reply, Rule, Strictness};
use common::{data_payloads, post, read_to_end, valid_request};
use serde_json::{json, Value};

fn chat_url(mock: &MockUpstream) -> String {
    format!("{}/chat/completions", mock.url())
}

fn parse(payloads: &[String]) -> Vec<Value> {
    payloads
        .iter()
        .filter(|p| p.as_str() != "[DONE]")
        .map(|p| serde_json::from_str(p).expect("payload is JSON"))
        .collect()
}

#[tokio::test]
async fn scripted_sse_is_framed_and_terminated_with_done() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::sse([r#"{"a":1}"#, r#"{"b":2}"#]).comment_at(1, "keep-alive"));
    let response = post(&chat_url(&mock), "k", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    let (body, failed) = read_to_end(response).await;
    assert!(!failed);
    assert_eq!(
        body,
        "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
    );
    mock.assert_no_violations();
    let recorded = mock.request(0).expect("recorded");
    assert!(recorded.completed);
    assert!(recorded.dropped_at.is_some());
    assert_eq!(recorded.status, 200);
}

#[tokio::test]
async fn no_done_ends_cleanly_without_done() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::sse([r#"{"a":1}"#]).no_done());
    let (body, failed) = read_to_end(post(&chat_url(&mock), "k", &valid_request()).await).await;
    assert!(!failed);
    assert_eq!(body, "data: {\"a\":1}\n\n");
}

#[tokio::test]
async fn text_stream_is_canonical() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::text_stream("Hello there, world"));
    let (body, _) = read_to_end(post(&chat_url(&mock), "k", &valid_request()).await).await;
    let payloads = data_payloads(&body);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks = parse(&payloads);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello there, world");
    let deltas = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(deltas, 3, "split into several deltas");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    assert_eq!(usage["usage"]["total_tokens"], 13);
}

#[tokio::test]
async fn tool_call_stream_fragments_reassemble() {
    let mock = MockUpstream::strict().await;
    let calls = [
        ("call_a", "shell", r#"{"cmd":["ls","-la"]}"#),
        ("functions.read:1", "read_file", r#"{"path":"ünïcødé.txt"}"#),
    ];
    mock.push(Reply::tool_call_stream(&calls));
    let (body, _) = read_to_end(post(&chat_url(&mock), "k", &valid_request()).await).await;
    let chunks = parse(&data_payloads(&body));
    let mut rebuilt = vec![(String::new(), String::new(), String::new()); 2];
    let mut fragments = 0;
    for chunk in &chunks {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let slot = &mut rebuilt[call["index"].as_u64().expect("index") as usize];
            if let Some(id) = call["id"].as_str() {
                assert_eq!(call["type"], "function");
                slot.0 = id.to_owned();
                slot.1 = call["function"]["name"].as_str().expect("name").to_owned();
            }
            let args = call["function"]["arguments"].as_str().expect("arguments");
            if !args.is_empty() {
                fragments += 1;
            }
            slot.2.push_str(args);
        }
    }
    let expected: Vec<(String, String, String)> = calls
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(rebuilt, expected);
    assert!(fragments >= 4, "arguments arrive in several fragments");
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn drop_after_closes_the_connection_abruptly() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::text_stream("one two three four five").drop_after(2));
    let response = post(&chat_url(&mock), "k", &valid_request()).await;
    let (body, failed) = read_to_end(response).await;
    assert!(
        failed,
        "the body must end in a transport error, got {body:?}"
    );
    assert_eq!(data_payloads(&body).len(), 2);
    assert!(!body.contains("[DONE]"));
    let recorded = mock.request(0).expect("recorded");
    assert!(recorded.dropped_at.is_some());
    assert!(!recorded.completed);
}

#[tokio::test]
async fn dropped_at_fires_when_the_client_disconnects() {
    let mock = MockUpstream::strict().await;
    let words = "w ".repeat(100);
    mock.push(Reply::text_stream(&words).chunk_delay(Duration::from_millis(50)));
    let mut response = post(&chat_url(&mock), "k", &valid_request()).await;
    let first = response
        .chunk()
        .await
        .expect("read")
        .expect("a first chunk");
    assert!(first.starts_with(b"data: "));
    assert!(mock.request(0).expect("recorded").dropped_at.is_none());
    let disconnected = Instant::now();
    drop(response);
    let dropped = mock
        .wait_for_drop(0, Duration::from_secs(1))
        .await
        .expect("upstream body dropped within 1 s of the client disconnect");
    assert!(dropped >= disconnected);
    assert!(!mock.request(0).expect("recorded").completed);
}

#[tokio::test]
async fn header_delay_and_silence_after_first_are_honoured() {
    let mock = MockUpstream::strict().await;
    mock.push(
        Reply::text_stream("a b c")
            .header_delay(Duration::from_millis(300))
            .silence_after_first(Duration::from_millis(400)),
    );
    let started = Instant::now();
    let mut response = post(&chat_url(&mock), "k", &valid_request()).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    response.chunk().await.expect("read").expect("first frame");
    let after_first = Instant::now();
    response.chunk().await.expect("read").expect("second frame");
    assert!(after_first.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn json_error_reply_with_retry_after() {
    let mock = MockUpstream::strict().await;
    mock.push(
        Reply::error(429, "rate_limit_exceeded", "slow down").with_header("Retry-After", "1"),
    );
    mock.push(Reply::completion_text("fine"));
    let url = chat_url(&mock);
    let response = post(&url, "k", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["message"], "slow down");

    let mut request = valid_request();
    request["stream"] = json!(false);
    request
        .as_object_mut()
        .expect("object")
        .remove("stream_options");
    let body: Value = post(&url, "k", &request).await.json().await.expect("json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "fine");
    mock.assert_no_violations();
}

#[tokio::test]
async fn empty_queue_answers_500_and_records_a_violation() {
    let mock = MockUpstream::strict().await;
    let response = post(&chat_url(&mock), "k", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 500);
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("no scripted reply left"), "{message}");
    assert_eq!(mock.violation_rules(), vec![Rule::NoScriptedReply]);
}

#[tokio::test]
async fn any_chat_path_prefix_is_served_and_recorded() {
    let mock = MockUpstream::start(Strictness::lenient()).await;
    mock.push(Reply::text_stream("hi"));
    let url = format!("{}/plan/v3/chat/completions?x=1", mock.origin());
    let response = reqwest::Client::new()
        .post(&url)
        .header("X-Custom", "yes")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);
    let recorded = &mock.chat_requests()[0];
    assert_eq!(recorded.path, "/plan/v3/chat/completions");
    assert_eq!(recorded.query.as_deref(), Some("x=1"));
    assert_eq!(recorded.header("x-custom"), Some("yes"));
    assert!(recorded.headers.contains_key("content-type"));
    assert_eq!(recorded.messages().len(), 1);
    assert_eq!(
        recorded.raw_body.as_ref(),
        br#"{"messages":[{"content":"hi","role":"user"}],"model":"m"}"#,
        "the bytes as sent"
    );
}

#[tokio::test]
async fn models_endpoint_and_unexpected_paths() {
    let mock = MockUpstream::strict().await;
    mock.set_models(["glm-4.6", "kimi-k2"]);
    let client = reqwest::Client::new();
    let models: Value = client
        .get(format!("{}/models", mock.url()))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["glm-4.6", "kimi-k2"]);
    mock.assert_no_violations();

    let response = client
        .post(format!("{}/responses", mock.url()))
        .json(&json!({"model": "m", "input": "hi"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(mock.violation_rules(), vec![Rule::UnexpectedRequest]);
    assert!(mock.violations()[0].contains("POST /v1/responses"));
}

#[tokio::test]
async fn raw_reply_and_custom_status_stream() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::raw(502, "text/html", "<html>bad gateway</html>"));
    mock.push(
        Reply::sse([r#"{"x":1}"#])
            .status(503)
            .header("x-request-id", "r1"),
    );
    let url = chat_url(&mock);
    let response = post(&url, "k", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(
        response.text().await.expect("text"),
        "<html>bad gateway</html>"
    );
    let response = post(&url, "k", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["x-request-id"], "r1");
    assert_eq!(mock.requests()[1].status, 503);
}

#[tokio::test]
async fn disconnect_during_silence_is_observed_without_another_write() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::text_stream("a b c").silence_after_first(Duration::from_secs(30)));
    let mut response = post(&chat_url(&mock), "k", &valid_request()).await;
    response.chunk().await.expect("read").expect("first frame");
    drop(response);
    let started = Instant::now();
    let dropped = mock.wait_for_drop(0, Duration::from_secs(1)).await;
    assert!(
        dropped.is_some(),
        "a silent stream must notice the disconnect within 1 s (waited {:?})",
        started.elapsed()
    );
    assert!(!mock.request(0).expect("recorded").completed);
}

#[tokio::test]
async fn giving_up_before_headers_is_observed() {
    let mock = MockUpstream::strict().await;
    mock.push(Reply::text_stream("a").header_delay(Duration::from_secs(30)));
    let url = chat_url(&mock);
    let client = tokio::spawn(async move { post(&url, "k", &valid_request()).await });
    assert!(mock.wait_for_requests(1, Duration::from_secs(5)).await);
    assert!(mock.request(0).expect("recorded").dropped_at.is_none());
    client.abort();
    let dropped = mock.wait_for_drop(0, Duration::from_secs(1)).await;
    assert!(dropped.is_some(), "the pending handler must be dropped");
    assert_eq!(
        mock.request(0).expect("recorded").status,
        0,
        "no headers were sent"
    );
}
