//! Provider-dialect golden streams: `fixtures/provider-streams/<profile>/*.sse` go through the SSE
//! decoder, `parse_chat_data` and `ChatToResponses` configured with that profile's
//! `parse_options()`; in-band errors are classified with the profile's `classify_error` (status 0)
//! exactly as the gateway adapter should. Each stream is snapshotted in a compact one-event-per-line
//! form and checked with targeted assertions; `errors.json` per profile lists HTTP error bodies
//! with the code `classify_error` must return.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use ccp_convert::stream::opaque::decode_encrypted_content;
use ccp_convert::stream::{ChatToResponses, StreamContext};
use ccp_convert::tools::ToolNameMap;
use ccp_providers::profile::{ProviderId, ResolvedProfile};
use ccp_providers::sse::{parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::events::{OutputItem, ResponseEvent, ResponseObject, ResponseStatus};
use serde_json::{json, Value};

fn dir(id: &str) -> PathBuf {
    common::repo_path(&["fixtures", "provider-streams", id])
}

fn read(id: &str, name: &str) -> Vec<u8> {
    let path = dir(id).join(format!("{name}.sse"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Converts a stream fed in `reads`, as the gateway does for backend profile `p`.
fn run(p: &ResolvedProfile, reads: &[&[u8]]) -> Vec<ResponseEvent> {
    let mut machine = ChatToResponses::new(StreamContext {
        response_id: "resp_test".into(),
        model: "codex-model".into(),
        created_at: 0,
        tools: ToolNameMap::default(),
        parse: p.parse_options(),
    });
    let mut events = machine.start();
    let mut decoder = SseDecoder::new();
    let mut handle = |item: SseItem, events: &mut Vec<ResponseEvent>| {
        let SseItem::Event(event) = item else { return };
        match parse_chat_data(&event.data) {
            ChatData::Done => events.extend(machine.finish()),
            ChatData::Chunk(chunk) => events.extend(machine.push(chunk)),
            ChatData::Error(payload) => {
                let (code, message) = match p.classify_error(0, &payload) {
                    Some(class) => (class.code.as_str().to_owned(), class.message),
                    None => ("server_error".to_owned(), payload.to_string()),
                };
                events.extend(machine.fail(&code, &message));
            }
            ChatData::Malformed(detail) => events.extend(machine.fail("server_error", &detail)),
        }
    };
    for read in reads {
        for item in decoder.push(read) {
            handle(item, &mut events);
        }
    }
    for item in decoder.finish() {
        handle(item, &mut events);
    }
    events.extend(machine.finish());
    events
}

fn terminal(events: &[ResponseEvent]) -> &ResponseObject {
    match events.last() {
        Some(ResponseEvent::Completed { response } | ResponseEvent::Failed { response }) => {
            response
        }
        other => panic!("no terminal event: {other:?}"),
    }
}

/// One line per event: the type plus the fields that matter; response snapshots only on the
/// terminal event (status, error, incomplete_details, output, usage).
fn compact(events: &[ResponseEvent]) -> String {
    let mut lines = Vec::new();
    for event in events {
        let mut v = serde_json::to_value(event).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("logprobs");
        if let Some(response) = obj.remove("response") {
            if event.is_terminal() {
                let keep: serde_json::Map<String, Value> =
                    ["status", "error", "incomplete_details", "output", "usage"]
                        .iter()
                        .map(|k| (k.to_string(), response[*k].clone()))
                        .collect();
                obj.insert("response".into(), Value::Object(keep));
            }
        }
        lines.push(serde_json::to_string(&v).unwrap());
    }
    lines.join("\n")
}

/// Converts a fixture, checks structure and split invariance, snapshots it.
fn golden(id: &str, name: &str) -> Vec<ResponseEvent> {
    let p = common::profile(id, json!({}));
    let body = read(id, name);
    let events = run(&p, &[&body]);
    assert_eq!(events[0].kind(), "response.created", "{id}/{name}");
    assert_eq!(
        events.iter().filter(|e| e.is_terminal()).count(),
        1,
        "{id}/{name}: exactly one terminal event"
    );
    // Byte-at-a-time reads give the same events.
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(run(&p, &bytes), events, "{id}/{name}: split invariance");
    insta::assert_snapshot!(format!("{id}__{name}"), compact(&events));
    events
}

/// `[(kind, text)]` of the final output.
fn output(events: &[ResponseEvent]) -> Vec<(String, String)> {
    terminal(events)
        .output
        .iter()
        .map(|item| match item {
            OutputItem::Message(m) => ("message".into(), m.content[0].text.clone()),
            OutputItem::Reasoning(r) => ("reasoning".into(), r.summary[0].text.clone()),
            OutputItem::FunctionCall(f) => (
                "call".into(),
                format!("{} {} {}", f.call_id, f.name, f.arguments),
            ),
            OutputItem::CustomToolCall(c) => ("custom".into(), c.input.clone()),
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, t)| (k.to_string(), t.to_string()))
        .collect()
}

/// `(status, error code, incomplete reason)` of the terminal response.
fn outcome(events: &[ResponseEvent]) -> (ResponseStatus, Option<String>, Option<String>) {
    let r = terminal(events);
    (
        r.status,
        r.error.as_ref().map(|e| e.code.clone()),
        r.incomplete_details.as_ref().map(|d| d.reason.clone()),
    )
}

fn usage(events: &[ResponseEvent]) -> (u64, u64, u64, u64) {
    let u = terminal(events).usage.clone().unwrap();
    (
        u.input_tokens,
        u.input_tokens_details.cached_tokens,
        u.output_tokens,
        u.output_tokens_details.reasoning_tokens,
    )
}

fn completed() -> (ResponseStatus, Option<String>, Option<String>) {
    (ResponseStatus::Completed, None, None)
}

fn failed(code: &str) -> (ResponseStatus, Option<String>, Option<String>) {
    (ResponseStatus::Failed, Some(code.to_owned()), None)
}

fn incomplete(reason: &str) -> (ResponseStatus, Option<String>, Option<String>) {
    (ResponseStatus::Incomplete, None, Some(reason.to_owned()))
}

#[test]
fn every_profile_has_streams_and_error_bodies() {
    for id in ProviderId::all() {
        let entries: Vec<String> = std::fs::read_dir(dir(id.as_str()))
            .unwrap_or_else(|e| panic!("{id}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.iter().any(|n| n == "errors.json"),
            "{id}: errors.json"
        );
        assert!(
            entries.iter().any(|n| n == "midstream_error.sse"),
            "{id}: midstream_error.sse"
        );
        let streams = entries.iter().filter(|n| n.ends_with(".sse")).count();
        assert!(streams >= 2, "{id}: only {streams} streams");
    }
}

#[test]
fn classify_error_on_every_profiles_error_bodies() {
    let mut checked = 0;
    for id in ProviderId::all() {
        let p = common::profile(id.as_str(), json!({}));
        let text = std::fs::read_to_string(dir(id.as_str()).join("errors.json")).unwrap();
        let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
        for case in cases {
            let status = case["status"].as_u64().unwrap() as u16;
            let class = p.classify_error(status, &case["body"]);
            let ctx = format!("{id}: {} {}", status, case["body"]);
            assert_eq!(
                class.as_ref().map(|c| c.code.as_str()),
                case["code"].as_str(),
                "{ctx}"
            );
            if let Some(class) = &class {
                assert_eq!(
                    class.retry_after_secs,
                    case["retry_after"].as_u64(),
                    "{ctx}: retry_after"
                );
                assert!(!class.message.is_empty(), "{ctx}: message");
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} error bodies");
}

#[test]
fn openai_streams() {
    let e = golden("openai", "tool_call");
    assert_eq!(
        output(&e),
        pairs(&[
            ("message", "Listing files."),
            ("call", "call_oa_1 exec_command {\"cmd\":\"ls\"}")
        ])
    );
    assert_eq!(usage(&e), (900, 512, 30, 12));
    assert_eq!(outcome(&e), completed());
    assert_eq!(
        outcome(&golden("openai", "length")),
        incomplete("max_output_tokens")
    );
    let e = golden("openai", "midstream_error");
    assert_eq!(outcome(&e), failed("rate_limit_exceeded"));
    assert!(terminal(&e)
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("try again in 1.5s"));
}

#[test]
fn glm_streams() {
    let e = golden("glm", "reasoning_tool_calls");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "The user wants two numbers combined."),
            ("call", "call_4f8c2a add {\"a\":2,\"b\":3}"),
            ("call", "call_0d06e1 multiply {\"a\":2,\"b\":3}"),
        ])
    );
    assert_eq!(usage(&e), (275, 43, 112, 64), "usage on the finish chunk");
    assert_eq!(outcome(&e), completed());
    assert_eq!(
        outcome(&golden("glm", "sensitive")),
        incomplete("content_filter")
    );
    assert_eq!(
        outcome(&golden("glm", "context_window_exceeded")),
        incomplete("max_output_tokens")
    );
    assert_eq!(
        outcome(&golden("glm", "network_error")),
        failed("server_error")
    );
    assert_eq!(
        outcome(&golden("glm", "midstream_error")),
        failed("invalid_prompt")
    );
}

#[test]
fn kimi_streams() {
    let e = golden("kimi", "thinking_tool_call");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "I need to list the files."),
            (
                "call",
                "functions.exec_command:0 exec_command {\"cmd\": \"ls -la\"}"
            ),
        ])
    );
    assert_eq!(usage(&e), (1900, 1536, 45, 0), "usage inside choices[0]");
    assert_eq!(
        outcome(&golden("kimi", "content_filter")),
        incomplete("content_filter")
    );
    assert_eq!(
        outcome(&golden("kimi", "midstream_error")),
        failed("server_is_overloaded")
    );
}

#[test]
fn deepseek_streams() {
    let e = golden("deepseek", "thinking_tool_call");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Check git status first."),
            ("call", "call_00_aBcD exec_command {\"cmd\":\"git status\"}"),
        ])
    );
    assert_eq!(usage(&e), (2048, 1920, 40, 25));
    assert_eq!(
        outcome(&golden("deepseek", "insufficient_resource")),
        failed("server_error")
    );
    let e = golden("deepseek", "length_while_reasoning");
    assert_eq!(outcome(&e), incomplete("max_output_tokens"));
    assert_eq!(
        output(&e),
        pairs(&[("reasoning", "Long chain of thought that never ends")])
    );
    assert_eq!(
        outcome(&golden("deepseek", "midstream_error")),
        failed("server_is_overloaded")
    );
}

#[test]
fn minimax_streams() {
    let e = golden("minimax", "split_reasoning_tool");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "The user wants the file list."),
            ("call", "call_function_mm01 exec_command {\"cmd\": \"ls\"}"),
        ]),
        "cumulative reasoning_details snapshots are de-duplicated"
    );
    assert_eq!(
        usage(&e),
        (3100, 2048, 52, 0),
        "per-chunk zero usage ignored"
    );
    let e = golden("minimax", "native_think");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "\nThe user says hi; greet back.\n"),
            ("message", "Hello! How can I help?"),
        ])
    );
    let e = golden("minimax", "cumulative_content");
    assert_eq!(output(&e), pairs(&[("message", "Hello, world.")]));
    assert_eq!(
        outcome(&golden("minimax", "midstream_error")),
        failed("invalid_prompt")
    );
}

#[test]
fn qwen_streams() {
    let e = golden("qwen", "thinking_tool_empty_ids");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Read the README first."),
            ("message", "Reading it now."),
            ("call", "call_qw_9a8b read_file {\"path\": \"README.md\"}"),
        ]),
        "empty id/name continuation deltas stay on the same call"
    );
    assert_eq!(usage(&e), (5000, 4096, 60, 20));
    assert_eq!(
        outcome(&golden("qwen", "midstream_error")),
        failed("invalid_prompt")
    );
}

#[test]
fn lkeap_streams() {
    let e = golden("lkeap", "deepseek_tool");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Need the date."),
            ("call", "call_lk_1 exec_command {\"cmd\":\"date\"}"),
        ])
    );
    let e = golden("lkeap", "midstream_error");
    assert_eq!(outcome(&e), failed("rate_limit_exceeded"));
    assert!(terminal(&e)
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("try again in 2s"));
}

#[test]
fn openrouter_streams() {
    let e = golden("openrouter", "reasoning_details_tool");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Weather lookup needed."),
            (
                "call",
                "functions.get_weather:0 get_weather {\"city\":\"Paris\"}"
            ),
        ])
    );
    assert_eq!(
        usage(&e),
        (700, 512, 35, 18),
        "usage on the repeated finish chunk"
    );
    assert_eq!(outcome(&e), completed());
    let Some(OutputItem::Reasoning(r)) = terminal(&e).output.first() else {
        panic!("no reasoning item")
    };
    let opaque = decode_encrypted_content(r.encrypted_content.as_deref().unwrap()).unwrap();
    assert_eq!(
        opaque.reasoning_details.unwrap()[0]["signature"],
        "sig-9f8e7d",
        "signed details kept for replay"
    );
    let e = golden("openrouter", "midstream_error");
    assert_eq!(
        outcome(&e),
        failed("server_error"),
        "502 mid-stream is retryable"
    );
}

#[test]
fn vllm_streams() {
    let e = golden("vllm", "reasoning_tool");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Find the TODOs."),
            (
                "call",
                "chatcmpl-tool-5b6c7d exec_command {\"cmd\": \"grep -rn TODO .\"}"
            ),
        ])
    );
    assert_eq!(
        outcome(&golden("vllm", "midstream_error")),
        failed("context_length_exceeded")
    );
}

#[test]
fn llamacpp_streams() {
    let e = golden("llamacpp", "reasoning_tool_timings");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "User wants weather."),
            (
                "call",
                "g2KOx1mQ7rT0aZ3pVw8cJd5sLbN4yHfE get_weather {\"city\":\"Oslo\"}"
            ),
        ])
    );
    assert_eq!(usage(&e), (210, 0, 30, 0));
    assert_eq!(
        outcome(&golden("llamacpp", "midstream_error")),
        failed("context_length_exceeded")
    );
}

#[test]
fn ollama_streams() {
    let e = golden("ollama", "reasoning_whole_tool");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "The user wants a listing."),
            ("call", "call_k3j2h1g0 exec_command {\"cmd\":\"ls\"}"),
        ])
    );
    assert_eq!(
        outcome(&golden("ollama", "midstream_error")),
        failed("server_error")
    );
}

#[test]
fn generic_streams() {
    let e = golden("generic", "think_tags");
    assert_eq!(
        output(&e),
        pairs(&[
            ("reasoning", "Plan: answer briefly."),
            ("message", "Done: <b>ok</b>"),
        ])
    );
    assert_eq!(
        outcome(&golden("generic", "midstream_error")),
        failed("context_length_exceeded")
    );
}

#[test]
fn think_tags_off_keeps_the_tags_as_text() {
    let p = common::profile("generic", json!({"think_tags": false}));
    let e = run(&p, &[&read("generic", "think_tags")]);
    let (_, text) = &output(&e)[0];
    assert!(text.starts_with("\n<think>Plan"), "{text:?}");
}
