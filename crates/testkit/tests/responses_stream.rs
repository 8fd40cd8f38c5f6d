//! `ResponsesUpstream` serving: complete Responses event streams from the script helpers, the
//! same script collapsed to JSON for non-streaming requests, endings, scripted faults and timing,
//! the drop guard, error replies with headers, raw-body recording.

mod common;

use std::time::{Duration, Instant};

use ccp_testkit::responses_upstream::{codex_rate_limits_event, ResponsesStrictness};
use ccp_testkit::{Reply, ResponseStream, ResponsesReply, ResponsesUpstream, Rule};
use common::read_to_end;
use common::responses::{
    assert_response_object, assert_well_formed, codex_request, post_json, post_raw, sse_events,
    status_json, NO_HEADERS,
};
use serde_json::{json, Value};

const KEY: &str = "sk-openai";

async fn openai() -> ResponsesUpstream {
    ResponsesUpstream::openai(KEY).await
}

fn auth() -> [(&'static str, &'static str); 1] {
    [("authorization", "Bearer sk-openai")]
}

fn responses_url(mock: &ResponsesUpstream) -> String {
    format!("{}/responses", mock.url())
}

/// Streams `script` for `request`; returns the events and the raw body.
async fn stream(
    script: ResponseStream,
    request: &Value,
) -> (Vec<Value>, String, ResponsesUpstream) {
    let mock = openai().await;
    mock.push(script);
    let response = post_json(&responses_url(&mock), &auth(), request).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (body, failed) = read_to_end(response).await;
    assert!(!failed, "{body}");
    mock.assert_no_violations();
    (sse_events(&body), body, mock)
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test]
async fn text_stream_is_a_complete_responses_stream() {
    let (events, body, _) =
        stream(ResponseStream::text("Hello there, world"), &codex_request()).await;
    assert!(
        body.starts_with("event: response.created\ndata: {"),
        "{body}"
    );
    assert!(!body.contains("[DONE]"));
    assert_eq!(
        kinds(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let response = assert_well_formed(&events, false);
    assert_eq!(response["id"], "resp_mock_0");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "gpt-5.5", "echoes the requested model");
    assert_eq!(response["instructions"], "You are Codex.");
    assert_eq!(response["store"], false);
    let message = &response["output"][0];
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["id"], "msg_mock_0_0");
    assert_eq!(message["content"][0]["text"], "Hello there, world");
    assert_eq!(message["content"][0]["annotations"], json!([]));
    assert_eq!(
        response["usage"],
        json!({"input_tokens": 10,
               "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
               "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": 13})
    );
}

#[tokio::test]
async fn tool_calls_reasoning_and_usage_stream_well_formed() {
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n";
    let script = ResponseStream::new()
        .reasoning("I will list files, then patch.", "gAAAA-encrypted")
        .call("call_a", "exec_command", r#"{"cmd":["ls","-la"]}"#)
        .call("call_b", "read_file", r#"{"path":"ünïcødé.txt"}"#)
        .custom_call("call_patch", "apply_patch", patch)
        .usage(1200, 1000, 80, 30);
    let (events, _, _) = stream(script, &codex_request()).await;
    let response = assert_well_formed(&events, false);
    let output = response["output"].as_array().expect("output");
    assert_eq!(output.len(), 4);
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[0]["encrypted_content"], "gAAAA-encrypted");
    assert_eq!(
        output[0]["summary"],
        json!([{"type": "summary_text", "text": "I will list files, then patch."}])
    );
    assert_eq!(output[1]["type"], "function_call");
    assert_eq!(output[1]["call_id"], "call_a");
    assert_eq!(output[1]["status"], "completed");
    assert_eq!(output[2]["arguments"], r#"{"path":"ünïcødé.txt"}"#);
    assert_eq!(output[3]["type"], "custom_tool_call");
    assert_eq!(output[3]["input"], patch);
    assert_eq!(output[3]["id"], "ctc_mock_0_3");
    assert_eq!(
        response["usage"]["input_tokens_details"]["cached_tokens"],
        1000
    );
    assert_eq!(
        response["usage"]["output_tokens_details"]["reasoning_tokens"],
        30
    );
    assert_eq!(response["usage"]["total_tokens"], 1280);
    let argument_deltas = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .count();
    assert!(argument_deltas >= 4, "arguments arrive in fragments");
    let patch_lines = events
        .iter()
        .filter(|e| e["type"] == "response.custom_tool_call_input.delta")
        .count();
    assert_eq!(patch_lines, 4, "the patch streams line by line");
}

#[tokio::test]
async fn parallel_calls_helper_and_raw_reasoning_text() {
    let script = ResponseStream::parallel_calls(&[
        ("call_1", "shell", r#"{"cmd":"ls"}"#),
        ("call_2", "shell", r#"{"cmd":"pwd"}"#),
    ])
    .item(ccp_testkit::responses_upstream::OutputSpec::Reasoning {
        summary: vec![],
        text: Some("raw thinking".to_owned()),
        encrypted_content: None,
    });
    let (events, _, _) = stream(script, &codex_request()).await;
    let response = assert_well_formed(&events, false);
    let ids: Vec<&str> = response["output"]
        .as_array()
        .expect("output")
        .iter()
        .filter_map(|i| i["call_id"].as_str())
        .collect();
    assert_eq!(ids, ["call_1", "call_2"]);
    assert_eq!(
        response["output"][2]["content"],
        json!([{"type": "reasoning_text", "text": "raw thinking"}])
    );
    assert_eq!(response["output"][2]["encrypted_content"], Value::Null);
}

#[tokio::test]
async fn one_script_serves_json_when_not_streaming() {
    let mock = openai().await;
    let script = ResponseStream::text("same answer").call("call_9", "shell", "{}");
    mock.push_all([script.clone(), script.clone()]);
    let url = responses_url(&mock);
    let mut request = codex_request();
    request["stream"] = json!(false);
    let (status, object) = status_json(post_json(&url, &auth(), &request).await).await;
    assert_eq!(status, 200);
    assert_response_object(&object);
    assert_eq!(object["status"], "completed");
    assert_eq!(object["output"][0]["content"][0]["text"], "same answer");
    assert_eq!(object["output"][1]["call_id"], "call_9");
    assert_eq!(object["id"], "resp_mock_0");

    // Without `stream` at all, the same; and it equals the streamed terminal response.
    request.as_object_mut().expect("object").remove("stream");
    let (status, second) = status_json(post_json(&url, &auth(), &request).await).await;
    assert_eq!(status, 200);
    assert_eq!(second["id"], "resp_mock_1");
    let mut streamed = script.id("resp_mock_1").events(&request);
    let terminal = streamed.pop().expect("terminal");
    assert_eq!(terminal["response"], second);
    mock.assert_no_violations();
    assert_eq!(
        mock.request(0).expect("recorded").header("content-type"),
        Some("application/json")
    );
}

#[tokio::test]
async fn as_object_answers_json_even_to_a_streaming_request() {
    let mock = openai().await;
    mock.push(ResponseStream::text("json please").as_object());
    let response = post_json(&responses_url(&mock), &auth(), &codex_request()).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let (_, object) = status_json(response).await;
    assert_eq!(object["output"][0]["content"][0]["text"], "json please");
}

#[tokio::test]
async fn failed_and_incomplete_endings() {
    let script = ResponseStream::text("partial").failed("rate_limit_exceeded", "try again in 1.5s");
    let (events, _, _) = stream(script, &codex_request()).await;
    let response = assert_well_formed(&events, false);
    assert_eq!(events.last().expect("last")["type"], "response.failed");
    assert_eq!(response["status"], "failed");
    assert_eq!(
        response["error"],
        json!({"code": "rate_limit_exceeded", "message": "try again in 1.5s"})
    );

    let (events, _, _) = stream(
        ResponseStream::text("cut").incomplete("max_output_tokens"),
        &codex_request(),
    )
    .await;
    let response = assert_well_formed(&events, false);
    assert_eq!(events.last().expect("last")["type"], "response.incomplete");
    assert_eq!(
        response["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[tokio::test]
async fn stop_after_ends_cleanly_without_a_terminal_event() {
    let mock = openai().await;
    mock.push(ResponseStream::text("one two three").stop_after(5));
    let response = post_json(&responses_url(&mock), &auth(), &codex_request()).await;
    let (body, failed) = read_to_end(response).await;
    assert!(!failed, "a clean EOF");
    let events = sse_events(&body);
    assert_eq!(events.len(), 5);
    assert!(!body.contains("response.completed"));
    let recorded = mock.request(0).expect("recorded");
    assert!(recorded.completed);
}

#[tokio::test]
async fn drop_after_aborts_streaming_and_non_streaming_answers() {
    let mock = openai().await;
    mock.push(ResponseStream::text("one two three").drop_after(3));
    mock.push(ResponseStream::text("json").drop_after(0));
    let url = responses_url(&mock);
    let (body, failed) = read_to_end(post_json(&url, &auth(), &codex_request()).await).await;
    assert!(failed, "transport error expected, got {body:?}");
    assert_eq!(sse_events(&body).len(), 3);
    assert!(!mock.request(0).expect("recorded").completed);

    let mut request = codex_request();
    request["stream"] = json!(false);
    let response = post_json(&url, &auth(), &request).await;
    assert_eq!(response.status().as_u16(), 200);
    let (body, failed) = read_to_end(response).await;
    assert!(
        failed && body.is_empty(),
        "headers then a dead connection: {body:?}"
    );
}

#[tokio::test]
async fn pause_after_and_header_delay_are_honoured() {
    let mock = openai().await;
    mock.push(
        ResponseStream::text("a b c")
            .header_delay(Duration::from_millis(200))
            .pause_after(4, Duration::from_millis(400)),
    );
    let started = Instant::now();
    let mut response = post_json(&responses_url(&mock), &auth(), &codex_request()).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    let mut received = Vec::new();
    let mut gap_seen = false;
    let mut frames_before = 0;
    let mut last = Instant::now();
    while let Some(chunk) = response.chunk().await.expect("read") {
        received.extend_from_slice(&chunk);
        let frames = String::from_utf8_lossy(&received).matches("\n\n").count();
        if frames_before < 5 && frames >= 5 && last.elapsed() >= Duration::from_millis(350) {
            gap_seen = true;
        }
        frames_before = frames;
        last = Instant::now();
    }
    assert!(gap_seen, "the 5th event waits 400 ms");
}

#[tokio::test]
async fn dropped_at_is_stamped_when_the_client_hangs_up() {
    let mock = openai().await;
    let words = "w ".repeat(100);
    mock.push(ResponseStream::text(&words).chunk_delay(Duration::from_millis(50)));
    let mut response = post_json(&responses_url(&mock), &auth(), &codex_request()).await;
    let first = response.chunk().await.expect("read").expect("first frame");
    assert!(first.starts_with(b"event: response.created"));
    assert!(mock.request(0).expect("recorded").dropped_at.is_none());
    let hung_up = Instant::now();
    drop(response);
    let dropped = mock
        .wait_for_drop(0, Duration::from_secs(1))
        .await
        .expect("the server notices the hang-up within 1 s");
    assert!(dropped >= hung_up);
    assert!(!mock.request(0).expect("recorded").completed);
}

#[tokio::test]
async fn error_replies_carry_status_body_and_headers() {
    let mock = openai().await;
    mock.push(
        ResponsesReply::error(429, "rate_limit_exceeded", "slow down")
            .with_header("Retry-After", "7")
            .with_header("x-codex-primary-used-percent", "99.5"),
    );
    mock.push(ResponsesReply::overloaded());
    mock.push(Reply::raw(502, "text/html", "<html>bad gateway</html>"));
    let url = responses_url(&mock);
    let response = post_json(&url, &auth(), &codex_request()).await;
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-codex-primary-used-percent"], "99.5");
    let (status, body) = status_json(response).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let (status, body) = status_json(post_json(&url, &auth(), &codex_request()).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("server_is_overloaded"))
    );
    let (status, body) = status_json(post_json(&url, &auth(), &codex_request()).await).await;
    assert_eq!((status, body), (502, json!("<html>bad gateway</html>")));
    assert_eq!(mock.requests()[2].status, 502);
    mock.assert_no_violations();
}

#[tokio::test]
async fn stream_headers_can_be_added_and_override_defaults() {
    let mock = openai().await;
    mock.push(
        ResponseStream::text("hi")
            .header("x-codex-turn-state", "ts-1")
            .header("x-request-id", "req_upstream"),
    );
    let response = post_json(&responses_url(&mock), &auth(), &codex_request()).await;
    assert_eq!(response.headers()["x-codex-turn-state"], "ts-1");
    assert_eq!(response.headers()["x-request-id"], "req_upstream");
    assert_eq!(response.headers().get_all("x-request-id").iter().count(), 1);
}

#[tokio::test]
async fn raw_body_is_recorded_byte_for_byte() {
    let mock = openai().await;
    mock.push(ResponseStream::text("ok"));
    // Odd spacing, key order and escapes that a re-serialization would change.
    let raw = "{ \"stream\":true,\"model\" : \"gpt-5.5\",\n\"input\":\"caf\\u00e9 \\/ x\", \"metadata\":{\"b\":1,\"a\":2} }";
    let url = format!("{}/openai/v1/responses?trace=1", mock.origin());
    let response = post_raw(&url, &auth(), raw.as_bytes().to_vec()).await;
    assert_eq!(response.status().as_u16(), 200);
    let recorded = &mock.responses_requests()[0];
    assert_eq!(recorded.raw_body.as_ref(), raw.as_bytes());
    assert_eq!(recorded.body["input"], "café / x");
    assert_eq!(recorded.path, "/openai/v1/responses");
    assert_eq!(recorded.query_param("trace"), Some("1"));
    assert_eq!(recorded.authorization(), Some("Bearer sk-openai"));
}

#[tokio::test]
async fn empty_queue_and_unexpected_paths_are_violations() {
    let mock = openai().await;
    let (status, body) =
        status_json(post_json(&responses_url(&mock), &auth(), &codex_request()).await).await;
    assert_eq!(status, 500);
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("no scripted reply left"));
    let (status, body) = status_json(
        post_json(
            &format!("{}/chat/completions", mock.url()),
            &auth(),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["message"],
        "Invalid URL (POST /v1/chat/completions)"
    );
    assert_eq!(
        mock.violation_rules(),
        vec![Rule::NoScriptedReply, Rule::UnexpectedRequest]
    );
}

#[tokio::test]
async fn quirk_events_content_type_and_empty_completed_output() {
    let script = ResponseStream::text("quirky answer")
        .rate_limits_event(codex_rate_limits_event(12.5))
        .keepalive_every(3)
        .empty_completed_output()
        .single_delta();
    let mock = ResponsesUpstream::start(ResponsesStrictness::lenient()).await;
    mock.push(script.clone().content_type(None));
    mock.push(script.content_type(Some("application/json")));
    let url = responses_url(&mock);
    let request = json!({"model": "gpt-5.5", "stream": true, "input": "hi"});
    for expected in [None, Some("application/json")] {
        let response = post_json(&url, NO_HEADERS, &request).await;
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(content_type.as_deref(), expected);
        let (body, _) = read_to_end(response).await;
        let events = sse_events(&body);
        assert_eq!(events[0]["type"], "codex.rate_limits");
        assert_eq!(events[0]["rate_limits"]["primary"]["used_percent"], 12.5);
        assert!(events[0].get("sequence_number").is_none());
        let keepalives = events.iter().filter(|e| e["type"] == "keepalive").count();
        assert_eq!(keepalives, 3, "after every 3 of the 9 standard events");
        let deltas = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .count();
        assert_eq!(deltas, 1, "one huge delta");
        let response = assert_well_formed(&events, true);
        assert_eq!(response["output"], json!([]));
        let done: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "response.output_item.done")
            .collect();
        assert_eq!(done[0]["item"]["content"][0]["text"], "quirky answer");
    }
}
