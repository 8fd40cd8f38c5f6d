//! End-to-end: the Vercel AI SDK (`ai` + `@ai-sdk/openai`'s Responses provider, run by Node.js)
//! through a multi-step tool loop against the built proxy and a strict *thinking* Chat upstream.
//!
//! The upstream refuses a tool-result turn whose assistant tool-call message lacks
//! `reasoning_content` (DeepSeek/Kimi thinking mode), so the loop only finishes when the reasoning
//! of step 1 reaches the upstream again on step 2. The SDK sends it back in two ways:
//! * `store` unset (the default): as `item_reference`s to the reasoning and text items, which the
//!   proxy must resolve from its response store;
//! * `store: false`: as a reasoning item with `summary_text` and `encrypted_content` (the SDK adds
//!   `include: ["reasoning.encrypted_content"]`), which the proxy converts without a store.
//!
//! The script fails (non-zero exit) when the SDK's zod schemas refuse a body or stream event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::vercel_ai_sdk;
use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const PROMPT: &str = "What is the weather in Paris?";
const FIRST_REASONING: &str = "The user wants the Paris weather, so I call get_weather.";
const FIRST_TEXT: &str = "Let me check the forecast.";
const CALL_ID: &str = "call_paris";
const CALL_ARGS: &str = r#"{"city":"Paris"}"#;
const SECOND_REASONING: &str = "The tool says sunny and 21 degrees.";
const FINAL_TEXT: &str = "It is sunny in Paris, 21 degrees.";
/// The API key `vercel_tools.mjs` sends.
const SDK_KEY: &str = "sk-client-vercel-test";

/// How the SDK is asked to keep state between steps.
#[derive(Clone, Copy, PartialEq)]
enum Store {
    Default,
    Off,
}

/// Which SDK entry point drives the loop.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Generate,
    Stream,
}

async fn run_vercel(base_url: &str, store: Store, call: Call) -> Value {
    let sdk = vercel_ai_sdk();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/vercel_tools.mjs");
    let store = match store {
        Store::Default => "default",
        Store::Off => "no-store",
    };
    let call = match call {
        Call::Generate => "generate",
        Call::Stream => "stream",
    };
    let out = tokio::process::Command::new(&sdk.node)
        .arg(script)
        .args([base_url, store, call])
        .env("CCP_VERCEL_NODE_MODULES", &sdk.node_modules)
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Vercel AI SDK script ({store}, {call}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// One upstream turn: reasoning, then text, then (optionally) one `get_weather` call; as a
/// `reasoning_content` stream for streaming requests, as one `chat.completion` otherwise.
fn thinking_turn(call: Call, reasoning: &str, text: &str, tool_call: bool) -> Reply {
    let finish = if tool_call { "tool_calls" } else { "stop" };
    if call == Call::Generate {
        let mut message =
            json!({"role": "assistant", "content": text, "reasoning_content": reasoning});
        if tool_call {
            message["tool_calls"] = json!([{"id": CALL_ID, "type": "function",
                "function": {"name": "get_weather", "arguments": CALL_ARGS}}]);
        }
        return Reply::json(
            200,
            json!({
                "id": "chatcmpl-vercel", "object": "chat.completion", "created": 1_700_000_000,
                "model": "thinking-model",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            }),
        );
    }
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    let (head, tail) = reasoning.split_at(reasoning.len() / 2);
    chunks.push(chunk(json!({"reasoning_content": head}), None));
    chunks.push(chunk(json!({"reasoning_content": tail}), None));
    chunks.push(chunk(json!({"content": text}), None));
    if tool_call {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "id": CALL_ID, "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
            None,
        ));
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": CALL_ARGS}}]}),
            None,
        ));
    }
    chunks.push(chunk(json!({}), Some(finish)));
    chunks.push(usage_chunk(5));
    Reply::sse_json(chunks).into()
}

/// Runs the two-step loop and checks everything both store modes share; returns the report.
async fn tool_loop(store: Store, call: Call) -> Value {
    let upstream = MockUpstream::start(Strictness::thinking_provider()).await;
    upstream.push(thinking_turn(call, FIRST_REASONING, FIRST_TEXT, true));
    upstream.push(thinking_turn(call, SECOND_REASONING, FINAL_TEXT, false));
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    let report = run_vercel(&proxy.url("/v1"), store, call).await;
    upstream.assert_no_violations();

    assert_eq!(report["text"], FINAL_TEXT, "{report}");
    assert_eq!(report["tool_calls"], json!(["Paris"]), "{report}");
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{report}");
    assert_eq!(steps[0]["finish_reason"], "tool-calls", "{report}");
    assert_eq!(steps[0]["reasoning"], FIRST_REASONING, "{report}");
    assert_eq!(
        steps[0]["tool_calls"],
        json!([{"name": "get_weather", "input": {"city": "Paris"}}])
    );
    assert_eq!(steps[1]["finish_reason"], "stop", "{report}");
    assert_eq!(steps[1]["reasoning"], SECOND_REASONING, "{report}");
    for step in steps {
        assert_eq!(
            step["warnings"],
            json!([]),
            "the SDK dropped something: {report}"
        );
        let id = step["response_id"].as_str().unwrap_or_default();
        assert!(id.starts_with("resp_"), "response id {id:?}: {report}");
    }

    let requests = upstream.chat_requests();
    assert_eq!(requests.len(), 2, "one upstream call per step");
    let stream = call == Call::Stream;
    assert!(requests.iter().all(|r| r.body["stream"] == stream));
    assert_upstream_saw_the_history(&requests[1].body);

    // Stored unless the SDK said `store: false`.
    let expected = if store == Store::Default { 200 } else { 404 };
    for step in steps {
        let id = step["response_id"].as_str().unwrap();
        let status = reqwest::Client::new()
            .get(proxy.url(&format!("/v1/responses/{id}")))
            .bearer_auth(SDK_KEY)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), expected, "GET {id}");
    }
    report
}

/// The second upstream call carries the whole first step: the prompt, one assistant message with
/// the step's reasoning, text and call, and the tool's result.
fn assert_upstream_saw_the_history(second: &Value) {
    let messages = second["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool"], "{second}");
    assert_eq!(messages[0]["content"], PROMPT);
    let assistant = &messages[1];
    assert_eq!(
        assistant["reasoning_content"], FIRST_REASONING,
        "step 1's reasoning is passed back: {assistant}"
    );
    assert_eq!(assistant["content"], FIRST_TEXT, "{assistant}");
    assert_eq!(assistant["tool_calls"][0]["id"], CALL_ID);
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        CALL_ARGS
    );
    assert_eq!(messages[2]["tool_call_id"], CALL_ID);
    let output: Value = serde_json::from_str(messages[2]["content"].as_str().unwrap()).unwrap();
    assert_eq!(output["forecast"], "sunny", "the tool's result: {output}");
}

/// What the SDK itself put in its second request (the report carries its request bodies).
fn second_sdk_request(report: &Value) -> &Value {
    assert_eq!(report["requests"].as_array().unwrap().len(), 2, "{report}");
    &report["requests"][1]
}

/// Default mode: no `store` on the wire, and the first step replayed as `item_reference`s.
fn assert_sent_references(report: &Value) {
    let body = second_sdk_request(report);
    assert!(body.get("store").is_none(), "store is unset: {body}");
    let references: Vec<&str> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "item_reference")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(
        references.iter().any(|id| id.starts_with("rs_")),
        "the reasoning is sent as a reference: {body}"
    );
    assert!(
        references.iter().any(|id| id.starts_with("msg_")),
        "the assistant text is sent as a reference: {body}"
    );
}

/// `store: false`: the reasoning travels in full, as a summary with the proxy's blob.
fn assert_sent_reasoning_items(report: &Value) {
    let body = second_sdk_request(report);
    assert_eq!(body["store"], false, "{body}");
    assert!(
        body["include"]
            .as_array()
            .unwrap()
            .contains(&json!("reasoning.encrypted_content")),
        "{body}"
    );
    let input = body["input"].as_array().unwrap();
    assert!(
        input.iter().all(|i| i["type"] != "item_reference"),
        "{body}"
    );
    let reasoning = input.iter().find(|i| i["type"] == "reasoning").unwrap();
    assert_eq!(
        reasoning["summary"],
        json!([{"type": "summary_text", "text": FIRST_REASONING}]),
        "{body}"
    );
    assert!(
        reasoning["encrypted_content"]
            .as_str()
            .is_some_and(|b| !b.is_empty()),
        "the proxy's reasoning blob came back: {reasoning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_generate_text_tool_loop_with_default_store() {
    let report = tool_loop(Store::Default, Call::Generate).await;
    assert_sent_references(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_stream_text_tool_loop_with_default_store() {
    let report = tool_loop(Store::Default, Call::Stream).await;
    assert_sent_references(&report);
    let kinds = report["stream_part_kinds"].as_array().unwrap();
    for kind in [
        "reasoning-delta",
        "text-delta",
        "tool-call",
        "tool-result",
        "finish",
    ] {
        assert!(kinds.contains(&json!(kind)), "{kind} missing: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_generate_text_tool_loop_without_store() {
    let report = tool_loop(Store::Off, Call::Generate).await;
    assert_sent_reasoning_items(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_stream_text_tool_loop_without_store() {
    let report = tool_loop(Store::Off, Call::Stream).await;
    assert_sent_reasoning_items(&report);
}
