//! End-to-end: the official OpenAI Python SDK's `chat.completions.create` — a tool call,
//! streamed and not, then the tool result, then the answer — through the built proxy binary to
//! (a) the strict Chat mock (the passthrough), (b) the strict Responses mock, (c) the ChatGPT
//! backend mock (codex kind), (d) the strict Anthropic Messages mock (anthropic kind). Typed
//! objects must parse and usage must be present.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::python_bin;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use ccp_testkit::{
    write_auth_json, AnthropicScript, AnthropicUpstream, ChatGptTokens, ResponseStream,
    ResponsesUpstream, TempDir, TokenEndpoint,
};
use common::*;
use serde_json::{json, Value};

const ARGS: &str = r#"{"city":"Paris"}"#;
const ANSWER: &str = "It is sunny in Paris.";

async fn run_sdk(base_url: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/chat_sdk.py");
    let out = tokio::process::Command::new(python_bin())
        .arg(script)
        .arg(base_url)
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

fn assert_report(report: &Value) {
    assert_report_with_call_id(report, "call_1");
}

fn assert_report_with_call_id(report: &Value, call_id: &str) {
    let call = json!({"id": call_id, "name": "get_weather", "arguments": ARGS});
    assert_eq!(report["call_typed"], true, "{report}");
    assert_eq!(report["call"], call, "{report}");
    assert_eq!(report["call_finish"], "tool_calls");
    assert_eq!(report["stream_calls"], json!([call]), "{report}");
    assert_eq!(report["stream_call_finish"], "tool_calls");
    assert_eq!(report["stream_chunk_types"], json!(["ChatCompletionChunk"]));
    assert_eq!(report["answer_typed"], true);
    assert_eq!(report["answer"], ANSWER);
    assert_eq!(report["answer_finish"], "stop");
    assert_eq!(report["stream_answer"], ANSWER);
    assert_eq!(report["stream_answer_typed"], true);
    for key in [
        "call_usage_total",
        "stream_call_usage_total",
        "answer_usage_total",
        "stream_answer_usage_total",
    ] {
        assert!(
            report[key].as_u64().is_some_and(|n| n > 0),
            "{key}: {report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_chat_tool_loop_through_the_chat_passthrough() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    upstream.push(Reply::json(
        200,
        json!({"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "upstream-model",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
    ));
    upstream.push(Reply::tool_call_stream(&[("call_1", "get_weather", ARGS)]));
    upstream.push(Reply::completion_text(ANSWER));
    upstream.push(Reply::text_stream(ANSWER));
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    assert_report(&run_sdk(&proxy.url("/v1")).await);
    upstream.assert_no_violations();
    for r in upstream.chat_requests() {
        assert_eq!(
            r.authorization(),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        assert_eq!(r.body["model"], "upstream-model");
    }
    proxy.assert_no_keys_in_logs();
}

fn push_loop(mock: &ResponsesUpstream) {
    for _ in 0..2 {
        mock.push(ResponseStream::function_call("call_1", "get_weather", ARGS));
    }
    for _ in 0..2 {
        mock.push(ResponseStream::text(ANSWER));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_chat_tool_loop_through_a_responses_backend() {
    let mock = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    push_loop(&mock);
    let proxy = Proxy::start(json!({"backends": [{
        "name": "openai", "protocol": "responses", "url": mock.url(), "api_key": UPSTREAM_KEY,
        "model": "upstream-model", "match_rules": {"default": true}
    }]}));
    assert_report(&run_sdk(&proxy.url("/v1")).await);
    mock.assert_no_violations();
    let last = mock.responses_requests().pop().unwrap().body;
    let kinds: Vec<&str> = last["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message", "function_call", "function_call_output"],
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_chat_tool_loop_through_the_chatgpt_subscription() {
    let tokens = ChatGptTokens::new("acct-sdk-chat");
    let mock = ResponsesUpstream::chatgpt(&tokens).await;
    let endpoint = TokenEndpoint::for_backend(&tokens).await;
    let login = endpoint.login("acct-sdk-chat");
    let dir = TempDir::new("sdk-chat-login");
    let auth_file = write_auth_json(
        dir.path(),
        &login.access_token,
        &login.refresh_token,
        "acct-sdk-chat",
    );
    push_loop(&mock);
    let proxy = Proxy::start(json!({"backends": [{
        "name": "chatgpt", "protocol": "codex", "url": mock.chatgpt_url(),
        "auth_file": auth_file.to_string_lossy(), "token_url": endpoint.url(),
        "model": "gpt-5.5", "match_rules": {"default": true}
    }]}));
    assert_report(&run_sdk(&proxy.url("/v1")).await);
    mock.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_chat_tool_loop_through_an_anthropic_backend() {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    for _ in 0..2 {
        upstream.push(
            AnthropicScript::default()
                .tool_use("toolu_1", "get_weather", json!({"city": "Paris"}))
                .json_pieces(4),
        );
    }
    for _ in 0..2 {
        upstream.push(AnthropicScript::text(ANSWER));
    }
    let mut config = one_backend(&upstream.url(), "claude-sonnet-4-5");
    config["backends"][0]["protocol"] = json!("anthropic");
    let proxy = Proxy::start(config);
    let report = run_sdk(&proxy.url("/v1")).await;
    assert_report_with_call_id(&report, "toolu_1");
    // The script's usage: 10 input + 5 output tokens.
    for key in [
        "call_usage_total",
        "stream_call_usage_total",
        "answer_usage_total",
        "stream_answer_usage_total",
    ] {
        assert_eq!(report[key], 15, "{key}: {report}");
    }
    upstream.assert_no_violations();
    assert_eq!(upstream.pending_replies(), 0);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.header("x-api-key"), Some(UPSTREAM_KEY));
        assert_eq!(r.body["model"], "claude-sonnet-4-5");
        assert_eq!(r.body["system"][0]["text"], "Answer briefly.", "{}", r.body);
    }
    let last = &requests[3].body;
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{last}");
    let result = &last["messages"][2]["content"][0];
    assert_eq!(result["type"], "tool_result", "{last}");
    assert_eq!(result["tool_use_id"], "toolu_1");
    assert_eq!(
        last["messages"][1]["content"][0]["input"],
        json!({"city": "Paris"})
    );
    proxy.assert_no_keys_in_logs();
}
