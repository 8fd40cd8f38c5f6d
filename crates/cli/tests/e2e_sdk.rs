//! End-to-end: the official OpenAI Python SDK (`client.responses.create`, typed events) against
//! the built proxy binary and the strict scripted mock upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::python_bin;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

async fn run_sdk(base_url: &str, scenario: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/responses_sdk.py");
    let out = tokio::process::Command::new(python_bin())
        .arg(script)
        .arg(base_url)
        .arg(scenario)
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reads_text_streamed_and_not() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    upstream.push(Reply::completion_text("Hello from the non-streaming path."));
    upstream.push(Reply::text_stream("Hello from the streaming path."));
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    let report = run_sdk(&proxy.url("/v1"), "text").await;
    assert_eq!(report["nonstream_is_response"], true, "{report}");
    assert_eq!(
        report["nonstream_text"],
        "Hello from the non-streaming path."
    );
    assert_eq!(report["nonstream_status"], "completed");
    assert_eq!(report["nonstream_first_item_is_message"], true);
    assert!(report["nonstream_usage_total"].as_u64().unwrap() > 0);
    assert_eq!(report["stream_created_typed"], true);
    assert_eq!(report["stream_text"], "Hello from the streaming path.");
    assert_eq!(
        report["stream_completed_text"],
        "Hello from the streaming path."
    );
    assert_eq!(report["stream_completed_typed"], true);
    let kinds: Vec<&str> = report["stream_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    upstream.assert_no_violations();
    let reqs = upstream.chat_requests();
    assert_eq!(reqs[0].body["stream"], false);
    assert_eq!(reqs[1].body["stream"], true);
    assert!(reqs
        .iter()
        .all(|r| r.authorization() == Some(&format!("Bearer {UPSTREAM_KEY}"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_parses_streamed_tool_calls_into_typed_items() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    for _ in 0..2 {
        upstream.push(Reply::tool_call_stream(&[
            ("call_paris", "get_weather", r#"{"city":"Paris"}"#),
            ("call_rome", "get_weather", r#"{"city":"Rome"}"#),
        ]));
    }
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    let report = run_sdk(&proxy.url("/v1"), "tool").await;
    let expected = json!([
        {"call_id": "call_paris", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"call_id": "call_rome", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}
    ]);
    assert_eq!(report["calls"], expected, "{report}");
    assert_eq!(report["final_calls"], expected);
    assert_eq!(
        report["helper_calls"], expected,
        "the SDK's accumulating stream helper agrees"
    );
    assert_eq!(
        report["done_item_types"],
        json!(["ResponseFunctionToolCall", "ResponseFunctionToolCall"])
    );
    upstream.assert_no_violations();
}
