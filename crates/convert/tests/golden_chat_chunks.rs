//! Golden tests of the Chat ingress stream: Responses event sequences
//! (`fixtures/responses-streams/*.jsonl`, one event per line as an upstream relays them) go
//! through `ResponsesToChat` exactly as the gateway feeds relayed events; the Chat frames, as the
//! writer would put them on the wire, are snapshotted. Ids and timestamps are fixed
//! (`chatcmpl-test`, `created` 0), so nothing needs redacting.
//!
//! Each stream is also checked structurally: role first, one `finish_reason`, `[DONE]` last, and
//! the same chunks whether the events arrive typed or relayed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ccp_convert::chat_ingress::stream::{ChatFrame, ResponsesToChat};
use ccp_convert::chat_ingress::ChatContext;
use ccp_types::events::ResponseEvent;
use serde_json::Value;

fn fixture(name: &str) -> Vec<String> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "fixtures",
        "responses-streams",
        &format!("{name}.jsonl"),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn ctx(include_usage: bool) -> ChatContext {
    ChatContext {
        id: "chatcmpl-test".into(),
        model: "client-model".into(),
        created: 0,
        include_usage,
    }
}

/// The frames as the SSE writer puts them: `data: {json}` / `data: [DONE]` / `: keep-alive`.
fn wire(frames: &[ChatFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            ChatFrame::Data(v) => format!("data: {v}"),
            ChatFrame::Relayed(s) => format!("data: {s}"),
            ChatFrame::KeepAlive => ": keep-alive".to_owned(),
            ChatFrame::Done => "data: [DONE]".to_owned(),
        })
        .collect()
}

fn convert(name: &str, include_usage: bool) -> Vec<ChatFrame> {
    let mut machine = ResponsesToChat::new(ctx(include_usage));
    let mut frames = Vec::new();
    for line in fixture(name) {
        frames.extend(machine.push_json(&line));
    }
    frames.extend(machine.finish());
    check_structure(name, &frames);
    frames
}

fn check_structure(name: &str, frames: &[ChatFrame]) {
    assert_eq!(frames.last(), Some(&ChatFrame::Done), "{name}: [DONE] last");
    assert_eq!(
        frames.iter().filter(|f| **f == ChatFrame::Done).count(),
        1,
        "{name}"
    );
    let chunks: Vec<&Value> = frames
        .iter()
        .filter_map(|f| match f {
            ChatFrame::Data(v) if v.get("error").is_none() => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["role"], "assistant",
        "{name}: role first"
    );
    let finishes = chunks
        .iter()
        .filter(|c| {
            !c["choices"][0]["finish_reason"].is_null()
                && c["choices"].as_array().is_some_and(|a| !a.is_empty())
        })
        .count();
    let failed = frames
        .iter()
        .any(|f| matches!(f, ChatFrame::Data(v) if v.get("error").is_some()));
    assert_eq!(
        finishes,
        usize::from(!failed),
        "{name}: finish_reason once (none on failure)"
    );
    for c in &chunks {
        assert_eq!(c["id"], "chatcmpl-test");
        assert_eq!(c["object"], "chat.completion.chunk");
    }
}

/// The same events, parsed into typed events first, give the same frames (the typed path of
/// the proxy's own kinds and the relayed path of responses/codex upstreams agree).
fn typed_matches_relayed(name: &str) {
    let relayed = convert(name, true);
    let mut machine = ResponsesToChat::new(ctx(true));
    let mut typed = Vec::new();
    for line in fixture(name) {
        match serde_json::from_str::<ResponseEvent>(&line) {
            Ok(ev) => typed.extend(machine.push(&ev)),
            // Events the typed enum does not model (lenient upstream shapes) go in as JSON.
            Err(_) => typed.extend(machine.push_json(&line)),
        }
    }
    typed.extend(machine.finish());
    assert_eq!(wire(&typed), wire(&relayed), "{name}");
}

#[test]
fn text() {
    insta::assert_json_snapshot!(wire(&convert("text", true)));
}

#[test]
fn text_without_include_usage_has_no_usage() {
    let frames = wire(&convert("text", false));
    assert!(frames.iter().all(|f| !f.contains("usage")), "{frames:?}");
}

#[test]
fn tool_call() {
    insta::assert_json_snapshot!(wire(&convert("tool_call", true)));
}

#[test]
fn parallel_calls() {
    insta::assert_json_snapshot!(wire(&convert("parallel_calls", false)));
}

#[test]
fn reasoning() {
    insta::assert_json_snapshot!(wire(&convert("reasoning", true)));
}

#[test]
fn failure() {
    insta::assert_json_snapshot!(wire(&convert("failure", true)));
}

#[test]
fn incomplete() {
    insta::assert_json_snapshot!(wire(&convert("incomplete", false)));
}

#[test]
fn typed_and_relayed_events_agree() {
    for name in [
        "text",
        "tool_call",
        "parallel_calls",
        "reasoning",
        "failure",
        "incomplete",
    ] {
        typed_matches_relayed(name);
    }
}
