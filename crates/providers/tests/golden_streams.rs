//! Golden stream tests: recorded-style upstream Chat SSE bodies (`fixtures/chat-streams/*.sse`)
//! go through the SSE decoder, `parse_chat_data` and the `ChatToResponses` machine exactly as the
//! gateway wires them; the resulting Responses events, numbered as on the wire, are snapshotted.
//! Ids and timestamps are fixed (`resp_test`, `created_at` 0), so nothing needs redacting.
//!
//! Every stream is also checked structurally (start and end events, items added before their
//! deltas, done items equal to the final output) and for invariance under arbitrary splitting
//! of the byte stream.

// Test-only helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use ccp_convert::stream::opaque::decode_encrypted_content;
use ccp_convert::stream::{ChatToResponses, ParseOptions};
use ccp_providers::sse::{parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::events::{OutputItem, ResponseEvent, ResponseObject, ResponseStatus, Sequenced};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "fixtures",
        "chat-streams",
        &format!("{name}.sse"),
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Feeds the body in the given reads, the way the gateway adapter does.
fn convert(reads: &[&[u8]]) -> Vec<ResponseEvent> {
    let mut machine = ChatToResponses::new(common::golden_context(ParseOptions::default()));
    let mut decoder = SseDecoder::new();
    let mut events = machine.start();
    let handle = |item: SseItem, machine: &mut ChatToResponses, events: &mut Vec<ResponseEvent>| {
        let SseItem::Event(event) = item else { return };
        match parse_chat_data(&event.data) {
            ChatData::Done => events.extend(machine.finish()),
            ChatData::Chunk(chunk) => events.extend(machine.push(chunk)),
            ChatData::Error(payload) => {
                let message = payload
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error");
                events.extend(machine.fail("server_error", message));
            }
            ChatData::Malformed(detail) => events.extend(machine.fail("server_error", &detail)),
        }
    };
    for read in reads {
        for item in decoder.push(read) {
            handle(item, &mut machine, &mut events);
        }
    }
    for item in decoder.finish() {
        handle(item, &mut machine, &mut events);
    }
    events.extend(machine.finish());
    events
}

fn kind_of(e: &ResponseEvent) -> &'static str {
    e.kind()
}

fn terminal(events: &[ResponseEvent]) -> &ResponseObject {
    match events.last() {
        Some(ResponseEvent::Completed { response } | ResponseEvent::Failed { response }) => {
            response
        }
        other => panic!("stream does not end with a terminal event: {other:?}"),
    }
}

/// Structural checks every converted stream must pass.
fn check_structure(events: &[ResponseEvent]) {
    let kinds: Vec<&str> = events.iter().map(kind_of).collect();
    assert_eq!(kinds[..2], ["response.created", "response.in_progress"]);
    assert_eq!(
        events.iter().filter(|e| e.is_terminal()).count(),
        1,
        "exactly one terminal event: {kinds:?}"
    );
    let response = terminal(events);
    assert_eq!(response.id, "resp_test");
    let mut added = HashSet::new();
    let mut done: Vec<(usize, OutputItem)> = Vec::new();
    for (n, e) in events.iter().enumerate() {
        match e {
            ResponseEvent::OutputItemAdded { output_index, item } => {
                assert_eq!(
                    *output_index,
                    added.len(),
                    "event {n}: output indices are dense and ordered"
                );
                assert!(
                    added.insert(item.id().to_owned()),
                    "event {n}: item added twice"
                );
            }
            ResponseEvent::OutputItemDone { output_index, item } => {
                assert!(added.contains(item.id()), "event {n}: done before added");
                done.push((*output_index, item.clone()));
            }
            _ => {
                if let Some(id) = e.item_id() {
                    assert!(
                        added.contains(id),
                        "event {n} ({}) precedes output_item.added of {id}",
                        e.kind()
                    );
                    assert!(
                        !done.iter().any(|(_, d)| d.id() == id),
                        "event {n} ({}) follows output_item.done",
                        e.kind()
                    );
                }
            }
        }
    }
    done.sort_by_key(|(i, _)| *i);
    let done: Vec<OutputItem> = done.into_iter().map(|(_, item)| item).collect();
    assert_eq!(
        response.output, done,
        "terminal output equals the output_item.done items, in index order"
    );
    if response.status != ResponseStatus::Failed {
        assert_eq!(kinds.last(), Some(&"response.completed"));
        assert_eq!(done.len(), added.len(), "every added item is done");
        let usage = response
            .usage
            .as_ref()
            .expect("completed responses carry usage");
        assert!(usage.total_tokens >= usage.input_tokens.max(usage.output_tokens));
    }
}

/// Converts a fixture, checks it, snapshots it and returns the events.
fn golden(name: &str) -> Vec<ResponseEvent> {
    let body = fixture(name);
    let events = convert(&[&body]);
    check_structure(&events);
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

/// A compact view of the final output for targeted assertions.
fn summary(events: &[ResponseEvent]) -> Vec<Value> {
    terminal(events)
        .output
        .iter()
        .map(|item| match item {
            OutputItem::Message(m) => json!({"message": m.content[0].text}),
            OutputItem::Reasoning(r) => json!({"reasoning": r.summary[0].text}),
            OutputItem::FunctionCall(f) => {
                json!({"function_call": [f.call_id, f.namespace, f.name, f.arguments]})
            }
            OutputItem::CustomToolCall(c) => {
                json!({"custom_tool_call": [c.call_id, c.name, c.input]})
            }
        })
        .collect()
}

fn usage_triple(events: &[ResponseEvent]) -> (u64, u64, u64, u64) {
    let u = terminal(events).usage.clone().unwrap();
    (
        u.input_tokens,
        u.input_tokens_details.cached_tokens,
        u.output_tokens,
        u.total_tokens,
    )
}

#[test]
fn text() {
    let events = golden("text");
    assert_eq!(summary(&events), [json!({"message": "Hello, world!"})]);
}

#[test]
fn tool_call() {
    let events = golden("tool_call");
    assert_eq!(
        summary(&events),
        [
            json!({"function_call": ["g2KOx1mQ7rT0aZ3pVw8cJd5sLbN4yHfE", null, "exec_command", "{\"cmd\":\"ls -la\"}"]})
        ]
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::FunctionCallArgumentsDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deltas,
        ["{\"", "cmd", "\":\"ls", " -la\"}"],
        "fragments stream as they arrive"
    );
}

#[test]
fn parallel_interleaved() {
    let events = golden("parallel_interleaved");
    assert_eq!(
        summary(&events),
        [
            json!({"function_call": ["call_weather", null, "get_weather", "{\"city\":\"Paris\"}"]}),
            json!({"function_call": ["call_time", null, "get_time", "{\"tz\":\"UTC\"}"]}),
        ]
    );
}

#[test]
fn whole_args_no_index() {
    let events = golden("whole_args_no_index");
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "The user wants two tools."}),
            json!({"function_call": ["call_4f8c1e", null, "exec_command", "{\"cmd\":\"pwd\"}"]}),
            json!({"function_call": ["call_0d06b2", null, "read_file", "{\"path\":\"README.md\"}"]}),
        ]
    );
}

#[test]
fn text_then_call() {
    let events = golden("text_then_call");
    assert_eq!(
        summary(&events),
        [
            json!({"message": "I'll list the files first."}),
            json!({"function_call": ["call_e5", null, "exec_command", "{\"cmd\": \"ls\"}"]}),
        ]
    );
}

#[test]
fn reasoning_then_call() {
    let events = golden("reasoning_then_call");
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "I should check the git status."}),
            json!({"function_call": ["call_00_Xq9", null, "exec_command", "{\"cmd\":\"git status\"}"]}),
        ]
    );
    assert_eq!(usage_triple(&events), (1000, 896, 60, 1060));
    assert_eq!(
        terminal(&events)
            .usage
            .as_ref()
            .unwrap()
            .output_tokens_details
            .reasoning_tokens,
        40
    );
}

#[test]
fn think_tags_split() {
    let events = golden("think_tags_split");
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "\nThe user says hi; greet back.\n"}),
            json!({"message": "Hi there! <think> stays literal here."}),
        ]
    );
    let (mut reasoning, mut text) = (String::new(), String::new());
    for e in &events {
        match e {
            ResponseEvent::ReasoningTextDelta { delta, .. } => reasoning.push_str(delta),
            ResponseEvent::OutputTextDelta { delta, .. } => text.push_str(delta),
            _ => {}
        }
    }
    assert_eq!(
        reasoning, "\nThe user says hi; greet back.\n",
        "no tag fragment leaks into reasoning deltas"
    );
    assert_eq!(
        text, "Hi there! <think> stays literal here.",
        "no tag fragment leaks into text deltas"
    );
    assert_eq!(
        usage_triple(&events),
        (40, 0, 25, 65),
        "zero per-chunk usage is ignored"
    );
}

#[test]
fn usage_is_read_from_all_three_positions() {
    // Final chunk with empty choices (OpenAI include_usage).
    assert_eq!(usage_triple(&convert(&[&fixture("text")])), (12, 8, 4, 16));
    // On the finish_reason chunk (GLM, OpenRouter).
    assert_eq!(
        usage_triple(&convert(&[&fixture("usage_on_finish_chunk")])),
        (30, 0, 2, 32)
    );
    // Inside choices[0] (Moonshot Kimi).
    assert_eq!(
        usage_triple(&convert(&[&fixture("usage_in_choice")])),
        (19, 16, 13, 32)
    );
}

#[test]
fn usage_on_finish_chunk() {
    let events = golden("usage_on_finish_chunk");
    assert_eq!(summary(&events), [json!({"message": "Done."})]);
}

#[test]
fn usage_in_choice() {
    let events = golden("usage_in_choice");
    assert_eq!(summary(&events), [json!({"message": "Sure."})]);
}

#[test]
fn utf8_multibyte() {
    let events = golden("utf8_multibyte");
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "用户在打招呼，回复一下 🙂"}),
            json!({"message": "你好，世界！ Ünïcödé ✓ 🎉👩‍💻"})
        ]
    );
}

#[test]
fn utf8_multibyte_split_at_every_byte_position() {
    let body = fixture("utf8_multibyte");
    let whole = convert(&[&body]);
    let mut split_inside_a_char = 0;
    for i in 0..=body.len() {
        if i < body.len() && (body[i] & 0xC0) == 0x80 {
            split_inside_a_char += 1;
        }
        assert_eq!(
            convert(&[&body[..i], &body[i..]]),
            whole,
            "split at byte {i}"
        );
    }
    assert!(
        split_inside_a_char > 50,
        "the fixture really has multi-byte characters to cut"
    );
    let one_byte_reads: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(convert(&one_byte_reads), whole, "one-byte reads");
}

#[test]
fn every_fixture_is_invariant_under_read_splits() {
    for name in [
        "text",
        "tool_call",
        "parallel_interleaved",
        "whole_args_no_index",
        "text_then_call",
        "reasoning_then_call",
        "think_tags_split",
        "custom_apply_patch",
        "openrouter_reasoning_details",
        "inband_error",
    ] {
        let body = fixture(name);
        let whole = convert(&[&body]);
        for i in (0..=body.len()).step_by(3) {
            assert_eq!(
                convert(&[&body[..i], &body[i..]]),
                whole,
                "{name}: split at byte {i}"
            );
        }
        let awkward: Vec<&[u8]> = body.chunks(7).collect();
        assert_eq!(convert(&awkward), whole, "{name}: 7-byte reads");
        let crlf = String::from_utf8(body.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        for i in (0..=crlf.len()).step_by(5) {
            assert_eq!(
                convert(&[&crlf[..i], &crlf[i..]]),
                whole,
                "{name}: CRLF, split at byte {i}"
            );
        }
    }
}

#[test]
fn length_incomplete() {
    let events = golden("length_incomplete");
    let response = terminal(&events);
    assert_eq!(events.last().map(kind_of), Some("response.completed"));
    assert_eq!(response.status, ResponseStatus::Incomplete);
    assert_eq!(
        response.incomplete_details.as_ref().unwrap().reason,
        "max_output_tokens"
    );
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "Long plan"}),
            json!({"message": "The answer starts and is cut"})
        ]
    );
}

#[test]
fn namespaced_call() {
    let events = golden("namespaced_call");
    assert_eq!(
        summary(&events),
        [json!({"function_call": [
            "functions.multi_agent_v1__spawn_agent:0",
            "multi_agent_v1",
            "spawn_agent",
            "{\"message\":\"Run the tests\",\"agent_type\":\"worker\"}"
        ]})]
    );
    assert_eq!(usage_triple(&events), (700, 512, 30, 730));
}

#[test]
fn custom_apply_patch() {
    let events = golden("custom_apply_patch");
    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+Hello, \"world\"\n*** End Patch\n";
    assert_eq!(
        summary(&events),
        [
            json!({"message": "Adding the file."}),
            json!({"custom_tool_call": ["call_patch_1", "apply_patch", patch]})
        ]
    );
    let custom_deltas: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::CustomToolCallInputDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(custom_deltas, [patch], "one delta with the whole input");
    assert!(!events
        .iter()
        .any(|e| matches!(e, ResponseEvent::FunctionCallArgumentsDelta { .. })));
}

#[test]
fn openrouter_reasoning_details() {
    let events = golden("openrouter_reasoning_details");
    assert_eq!(
        summary(&events),
        [
            json!({"reasoning": "**Checking files**\nI will run ls."}),
            json!({"function_call": ["tool_exec_1", null, "exec_command", "{\"cmd\":\"ls\"}"]}),
        ]
    );
    let OutputItem::Reasoning(reasoning) = &terminal(&events).output[0] else {
        panic!("not reasoning")
    };
    let encrypted = reasoning.encrypted_content.as_deref().unwrap();
    assert!(encrypted.starts_with("ccp:v1:"));
    let decoded = decode_encrypted_content(encrypted).unwrap();
    assert_eq!(
        decoded.reasoning_details,
        Some(vec![
            json!({"type": "reasoning.text", "text": "**Checking files**\nI will run ls.", "format": "google-gemini-v1", "index": 0}),
            json!({"type": "reasoning.encrypted", "data": "CiQB4/H/Xq0sig==", "id": "tool_exec_1", "format": "google-gemini-v1", "index": 1}),
        ])
    );
    assert_eq!(
        usage_triple(&events),
        (1200, 1024, 80, 1280),
        "usage from the duplicated finish chunk"
    );
}

#[test]
fn no_finish_reason() {
    let events = golden("no_finish_reason");
    let response = terminal(&events);
    assert_eq!(events.last().map(kind_of), Some("response.failed"));
    assert_eq!(response.status, ResponseStatus::Failed);
    let error = response.error.as_ref().unwrap();
    assert_eq!(error.code, "server_error");
    assert!(error.message.contains("truncated"), "{}", error.message);
    assert!(
        response.output.is_empty(),
        "a truncated answer is not presented as output"
    );
}

#[test]
fn inband_error() {
    let events = golden("inband_error");
    let response = terminal(&events);
    assert_eq!(response.status, ResponseStatus::Failed);
    assert_eq!(
        response.error.as_ref().unwrap().message,
        "Provider returned error"
    );
    assert_eq!(
        summary(&events),
        [json!({"reasoning": "Thinking"})],
        "only completed items are reported"
    );
}
