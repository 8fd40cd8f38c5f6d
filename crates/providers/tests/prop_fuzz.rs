//! Property tests for the upstream stream path, as the pipeline drives it: bytes split at
//! arbitrary points → [`SseDecoder`] → [`parse_chat_data`] → [`ChatToResponses`].
//!
//! * Nothing panics, whatever the bytes (well-framed chunk streams with in-band errors,
//!   comments, `[DONE]`, stray fields and mixed line endings, or plain garbage).
//! * Where the reads split does not matter: the decoded items and the resulting events are the
//!   same as for one read.
//! * The events keep the lifecycle invariants: `response.created` first, exactly one terminal
//!   event, and it is the last one.
//!
//! `PROPTEST_CASES` sets the number of cases per property (default 256, a few seconds in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ccp_convert::request::{responses_request_to_chat, RequestOptions};
use ccp_convert::stream::{ChatToResponses, StreamContext};
use ccp_providers::sse::{parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::events::ResponseEvent;
use ccp_types::responses::parse_request;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value};

/// Proptest's defaults (its `cases` already reads `PROPTEST_CASES`, default 256).
fn config() -> ProptestConfig {
    ProptestConfig {
        // Integration tests have no lib.rs for proptest to put regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn context() -> StreamContext {
    let req = parse_request(
        br#"{"input":"hi","tools":[
            {"type":"function","name":"shell","parameters":{"type":"object"}},
            {"type":"custom","name":"apply_patch"},
            {"type":"namespace","name":"mcp__srv","tools":[{"type":"function","name":"tool"}]}
        ]}"#,
    )
    .unwrap();
    let opts = RequestOptions {
        upstream_model: "u".into(),
        stream: true,
    };
    StreamContext {
        response_id: "resp_fuzz".into(),
        model: "m".into(),
        created_at: 1,
        tools: responses_request_to_chat(&req, &opts).unwrap().tools,
        parse: Default::default(),
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[a-z ]{0,8}",
        Just("<think>".to_owned()),
        Just("</think>".to_owned()),
        Just("\n\n".to_owned())
    ]
}

/// A chat chunk as providers send them (all fields optional).
fn chunk() -> impl Strategy<Value = Value> {
    let tool_call = (
        prop::option::of(0u32..3),
        prop::option::of(select(vec!["call_1", "call_2", "functions.shell:0", ""])),
        prop::option::of(select(vec!["shell", "apply_patch", "mcp__srv__tool", "nope", ""])),
        prop::option::of(prop_oneof![text().prop_map(Value::from), Just(json!({"cmd": "ls"})), Just(json!("{\"input\":\"x\"}"))]),
    )
        .prop_map(|(index, id, name, arguments)| {
            json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
        });
    let delta = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(tool_call, 0..2),
    )
        .prop_map(|(content, reasoning, refusal, calls)| {
            let mut d =
                json!({"role": "assistant", "content": content, "reasoning_content": reasoning});
            if refusal.is_some() {
                d["refusal"] = json!(refusal);
            }
            if !calls.is_empty() {
                d["tool_calls"] = Value::Array(calls);
            }
            d
        });
    let finish = prop::option::of(select(vec![
        "stop",
        "length",
        "tool_calls",
        "content_filter",
        "sensitive",
        "network_error",
        "other",
    ]));
    let usage = prop::option::of(
        (0u64..1_000_000, 0u64..1_000_000)
            .prop_map(|(p, c)| json!({"prompt_tokens": p, "completion_tokens": c})),
    );
    (prop::collection::vec((delta, finish), 0..2), usage).prop_map(|(choices, usage)| {
        let choices: Vec<Value> = choices
            .into_iter()
            .map(|(delta, finish)| json!({"index": 0, "delta": delta, "finish_reason": finish}))
            .collect();
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices, "usage": usage})
    })
}

/// One SSE frame's bytes (without its line ending choice applied yet).
fn frame() -> impl Strategy<Value = Vec<String>> {
    let data = |payload: String| vec![format!("data: {payload}"), String::new()];
    prop_oneof![
        8 => chunk().prop_map(move |c| data(c.to_string())),
        1 => Just(data("[DONE]".into())),
        1 => select(vec![
            json!({"error": {"code": "1261", "message": "Prompt too long"}}),
            json!({"object": "error", "message": "bad", "code": 400}),
            json!({"id": "x", "choices": [], "base_resp": {"status_code": 1008, "status_msg": "no balance"}}),
            json!({"error": null, "choices": []}),
        ])
        .prop_map(move |e| data(e.to_string())),
        1 => Just(vec![": keep-alive".into(), String::new()]),
        1 => Just(vec!["event: message".into(), "id: 7".into(), "retry: 10".into()]),
        1 => text().prop_map(data),
        1 => Just(vec!["data: {\"choices\": [".into(), "data: ]}".into(), String::new()]),
        1 => Just(vec![String::new()]),
    ]
}

/// A framed stream: frames joined with one line ending each, maybe a BOM, maybe garbage bytes.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let ending = select(vec!["\n", "\r\n", "\r"]);
    (
        any::<bool>(),
        prop::collection::vec((frame(), ending), 0..16),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..24)),
    )
        .prop_map(|(bom, frames, garbage)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice("\u{feff}".as_bytes());
            }
            for (lines, ending) in frames {
                for line in lines {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(ending.as_bytes());
                }
            }
            if let Some(g) = garbage {
                out.extend_from_slice(&g);
            }
            out
        })
}

/// Splits `bytes` at the given points (deduplicated, in order).
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::new();
    let mut last = 0;
    for p in points {
        pieces.push(&bytes[last..p]);
        last = p;
    }
    pieces.push(&bytes[last..]);
    pieces
}

/// Decoded items for these reads.
fn decode(pieces: &[&[u8]]) -> Vec<SseItem> {
    let mut decoder = SseDecoder::new();
    let mut items: Vec<SseItem> = pieces.iter().flat_map(|p| decoder.push(p)).collect();
    items.extend(decoder.finish());
    items
}

/// What the pipeline does with the reads: events until the first terminal one.
fn drive(pieces: &[&[u8]]) -> Vec<ResponseEvent> {
    let mut decoder = SseDecoder::new();
    let mut machine = ChatToResponses::new(context());
    let mut events = machine.start();
    let mut items = Vec::new();
    for piece in pieces {
        items.extend(decoder.push(piece));
    }
    items.extend(decoder.finish());
    for item in items {
        let SseItem::Event(ev) = item else { continue };
        match parse_chat_data(&ev.data) {
            ChatData::Done => events.extend(machine.finish()),
            ChatData::Chunk(c) => events.extend(machine.push(c)),
            ChatData::Error(_) => events.extend(machine.fail("server_error", "in-band error")),
            ChatData::Malformed(detail) => events.extend(machine.fail("server_error", &detail)),
        }
        if machine.is_finished() {
            break;
        }
    }
    // End of body without [DONE]: the machine decides (truncated answers fail).
    events.extend(machine.finish());
    events
}

fn check_lifecycle(events: &[ResponseEvent]) {
    let kinds: Vec<&str> = events.iter().map(ResponseEvent::kind).collect();
    assert_eq!(kinds.first(), Some(&"response.created"), "{kinds:?}");
    assert_eq!(
        events.iter().filter(|e| e.is_terminal()).count(),
        1,
        "{kinds:?}"
    );
    assert!(
        events.last().is_some_and(ResponseEvent::is_terminal),
        "{kinds:?}"
    );
    if let Some(ResponseEvent::Completed { response }) = events.last() {
        let added = kinds
            .iter()
            .filter(|k| **k == "response.output_item.added")
            .count();
        assert_eq!(
            response.output.len(),
            added,
            "a completed response closed every item: {kinds:?}"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn framed_streams_split_anywhere_convert_the_same(bytes in stream_bytes(), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let pieces = split(&bytes, &cuts);
        prop_assert_eq!(decode(&pieces), decode(&[&bytes]));
        let events = drive(&pieces);
        check_lifecycle(&events);
        prop_assert_eq!(events, drive(&[&bytes]));
    }

    #[test]
    fn garbage_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let pieces = split(&bytes, &cuts);
        prop_assert_eq!(decode(&pieces), decode(&[&bytes]));
        check_lifecycle(&drive(&pieces));
    }

    #[test]
    fn one_byte_reads_convert_the_same(bytes in stream_bytes()) {
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(drive(&pieces), drive(&[&bytes]));
    }
}
