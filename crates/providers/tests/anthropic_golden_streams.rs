//! Golden stream tests for the `anthropic` kind: recorded-style Messages SSE bodies
//! (`fixtures/anthropic-streams/*.sse`) go through the SSE decoder and the
//! `AnthropicToResponses` machine as the gateway wires them; the resulting Responses events,
//! numbered as on the wire, are snapshotted. Ids and timestamps are fixed (`resp_test`,
//! `created_at` 0). An `error` event ends the stream with `response.failed`; the gateway
//! classifies its code (see `crates/server/tests/upstream_anthropic.rs`), here the raw Anthropic
//! type is kept.
//!
//! Also: `input_json_delta` split at every position gives the same call, any split of the byte
//! stream gives the same events, and prompt-caching breakpoints on a real Codex request.

// Test-only helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_convert::anthropic::decode_thinking_blocks;
use ccp_convert::anthropic::request::{responses_request_to_messages, MessagesOptions};
use ccp_convert::anthropic::stream::{AnthropicStreamContext, AnthropicToResponses};
use ccp_convert::tools::responses_tools_to_chat;
use ccp_providers::sse::{SseDecoder, SseItem};
use ccp_types::anthropic::{ContentBlock, StreamEvent};
use ccp_types::events::{OutputItem, ResponseEvent, ResponseObject, ResponseStatus, Sequenced};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = common::repo_path(&["fixtures", "anthropic-streams", &format!("{name}.sse")]);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn context() -> AnthropicStreamContext {
    let tools: Vec<ccp_types::responses::Tool> = serde_json::from_value(json!([
        {"type": "function", "name": "exec_command"},
        {"type": "custom", "name": "apply_patch"}
    ]))
    .unwrap();
    AnthropicStreamContext {
        response_id: "resp_test".into(),
        model: "codex-model".into(),
        created_at: 0,
        tools: responses_tools_to_chat(&tools).names,
    }
}

fn push_event(machine: &mut AnthropicToResponses, data: &str, out: &mut Vec<ResponseEvent>) {
    let event: StreamEvent = serde_json::from_str(data).unwrap();
    match event {
        StreamEvent::Error { error } => out.extend(machine.fail(&error.kind, &error.message)),
        event => out.extend(machine.push(event)),
    }
}

/// Feeds the body in the given reads, the way the gateway adapter does.
fn convert(reads: &[&[u8]]) -> Vec<ResponseEvent> {
    let mut machine = AnthropicToResponses::new(context());
    let mut decoder = SseDecoder::new();
    let mut events = machine.start();
    for read in reads {
        for item in decoder.push(read) {
            if let SseItem::Event(e) = item {
                push_event(&mut machine, &e.data, &mut events);
            }
        }
    }
    for item in decoder.finish() {
        if let SseItem::Event(e) = item {
            push_event(&mut machine, &e.data, &mut events);
        }
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

/// Converts a fixture, checks the frame of the stream, snapshots it and returns the events.
fn golden(name: &str) -> Vec<ResponseEvent> {
    let body = fixture(name);
    let events = convert(&[&body]);
    let kinds: Vec<&str> = events.iter().map(ResponseEvent::kind).collect();
    assert_eq!(kinds[..2], ["response.created", "response.in_progress"]);
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
    let done: Vec<OutputItem> = events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::OutputItemDone { item, .. } => Some(item.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(terminal(&events).output, done);
    let wire: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            serde_json::to_value(Sequenced {
                event,
                sequence_number: n as u64,
            })
            .unwrap()
        })
        .collect();
    insta::assert_json_snapshot!(name, wire);
    events
}

#[test]
fn text() {
    let events = golden("text");
    let response = terminal(&events);
    assert_eq!(response.status, ResponseStatus::Completed);
    let OutputItem::Message(m) = &response.output[0] else {
        panic!("not a message")
    };
    assert_eq!(m.content[0].text, "Hello, world!");
}

#[test]
fn tool_use() {
    let events = golden("tool_use");
    let response = terminal(&events);
    let OutputItem::FunctionCall(call) = &response.output[1] else {
        panic!("not a call")
    };
    assert_eq!(call.arguments, r#"{"cmd": "ls -la", "workdir": "/tmp"}"#);
    let OutputItem::CustomToolCall(patch) = &response.output[2] else {
        panic!("not a custom call")
    };
    assert_eq!(
        patch.input,
        "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n"
    );
}

#[test]
fn thinking_tool_use() {
    let events = golden("thinking_tool_use");
    let response = terminal(&events);
    let OutputItem::Reasoning(r) = &response.output[0] else {
        panic!("not reasoning")
    };
    assert_eq!(
        decode_thinking_blocks(r.encrypted_content.as_deref().unwrap()),
        Some(vec![ContentBlock::Thinking {
            thinking: "I need to find the files.\nRunning ls is the fastest way.".into(),
            signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/kcLlmvKE=".into()
        }])
    );
    let usage = response.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.input_tokens_details.cached_tokens,
            usage.output_tokens
        ),
        (32_060, 32_048, 120)
    );
}

#[test]
fn error_mid_stream() {
    let events = golden("error_mid_stream");
    let response = terminal(&events);
    assert_eq!(response.status, ResponseStatus::Failed);
    assert_eq!(
        response.error.as_ref().map(|e| e.code.as_str()),
        Some("overloaded_error")
    );
    assert!(events.iter().any(
        |e| matches!(e, ResponseEvent::OutputTextDelta { delta, .. } if delta == "Partial ans")
    ));
}

#[test]
fn pings() {
    let events = golden("pings");
    let response = terminal(&events);
    assert_eq!(response.status, ResponseStatus::Incomplete);
    assert_eq!(
        response
            .incomplete_details
            .as_ref()
            .map(|d| d.reason.as_str()),
        Some("max_output_tokens")
    );
}

#[test]
fn every_split_of_the_byte_stream_gives_the_same_events() {
    for name in ["tool_use", "thinking_tool_use", "pings"] {
        let body = fixture(name);
        let whole = convert(&[&body]);
        for k in 1..body.len() {
            assert_eq!(
                convert(&[&body[..k], &body[k..]]),
                whole,
                "{name} split at {k}"
            );
        }
    }
}

#[test]
fn input_json_delta_split_at_every_position_gives_the_same_call() {
    let input = r#"{"cmd": "echo \"ünï\"", "timeout_ms": 1000}"#;
    let chars: Vec<char> = input.chars().collect();
    let stream = |pieces: Vec<String>| {
        let mut events = vec![
            json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"exec_command","input":{}}}),
        ];
        for p in pieces {
            events.push(json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":p}}));
        }
        events.push(json!({"type":"content_block_stop","index":0}));
        events.push(json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":1}}));
        events.push(json!({"type":"message_stop"}));
        let mut machine = AnthropicToResponses::new(context());
        let mut out = machine.start();
        for e in events {
            out.extend(machine.push(serde_json::from_value(e).unwrap()));
        }
        out
    };
    for i in 0..=chars.len() {
        for j in i..=chars.len() {
            let pieces: Vec<String> = [&chars[..i], &chars[i..j], &chars[j..]]
                .iter()
                .map(|p| p.iter().collect())
                .collect();
            let out = stream(pieces);
            let deltas: String = out
                .iter()
                .filter_map(|e| match e {
                    ResponseEvent::FunctionCallArgumentsDelta { delta, .. } => Some(delta.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(deltas, input, "split at {i}/{j}");
            let OutputItem::FunctionCall(call) = &terminal(&out).output[0] else {
                panic!("not a call")
            };
            assert_eq!(call.arguments, input, "split at {i}/{j}");
        }
    }
}

#[test]
fn prompt_cache_breakpoints_on_a_real_codex_request() {
    let (_, body) = common::codex_requests()
        .into_iter()
        .find(|(name, _)| name == "tool-turn-followup")
        .unwrap();
    let req = ccp_types::responses::parse_request_value(&body).unwrap();
    let converted = responses_request_to_messages(
        &req,
        &MessagesOptions {
            upstream_model: "claude-sonnet-4-5".into(),
            stream: true,
            default_max_tokens: 64_000,
            prompt_cache: true,
        },
    )
    .unwrap();
    let wire = serde_json::to_value(&converted.request).unwrap();
    let mut breakpoints = Vec::new();
    find_breakpoints(&wire, String::new(), &mut breakpoints);
    let last_message = wire["messages"].as_array().unwrap().len() - 1;
    let last_tool = wire["tools"].as_array().unwrap().len() - 1;
    let last_system = wire["system"].as_array().unwrap().len() - 1;
    let last_block = wire["messages"][last_message]["content"]
        .as_array()
        .unwrap()
        .len()
        - 1;
    assert_eq!(
        breakpoints,
        [
            format!("/messages/{last_message}/content/{last_block}"),
            format!("/system/{last_system}"),
            format!("/tools/{last_tool}"),
        ]
    );
    insta::assert_json_snapshot!(
        "prompt_cache_breakpoints",
        json!({
            "breakpoints": breakpoints,
            "system_blocks": last_system + 1,
            "tools": wire["tools"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect::<Vec<_>>(),
            "roles": wire["messages"].as_array().unwrap().iter().map(|m| m["role"].clone()).collect::<Vec<_>>(),
            "last_message": wire["messages"][last_message],
        })
    );
}

/// JSON pointers of every object carrying `cache_control`, sorted.
fn find_breakpoints(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if map.contains_key("cache_control") {
                out.push(path.clone());
            }
            for (k, child) in map {
                find_breakpoints(child, format!("{path}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                find_breakpoints(child, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
    out.sort();
}
