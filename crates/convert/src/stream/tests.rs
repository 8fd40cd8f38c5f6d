//! Unit tests of the stream state machine. Golden end-to-end streams live in
//! `crates/providers/tests/golden_streams.rs`.

use std::collections::HashSet;

use ccp_types::chat::{ChatChunk, ChatCompletion};
use ccp_types::events::{OutputItem, ResponseEvent, ResponseObject, ResponseStatus};
use serde_json::{json, Value};

use super::*;
use crate::tools::{ToolNameMap, ToolOrigin};

fn ctx(parse: ParseOptions) -> StreamContext {
    let mut tools = ToolNameMap::default();
    tools.by_upstream_name.insert(
        "multi_agent_v1__spawn".to_owned(),
        ToolOrigin::Function {
            namespace: Some("multi_agent_v1".to_owned()),
            name: "spawn".to_owned(),
        },
    );
    tools.by_upstream_name.insert(
        "apply_patch".to_owned(),
        ToolOrigin::Custom {
            name: "apply_patch".to_owned(),
            namespace: None,
        },
    );
    StreamContext {
        response_id: "resp_t".to_owned(),
        model: "m".to_owned(),
        created_at: 0,
        tools,
        parse,
    }
}

fn chunk(v: Value) -> ChatChunk {
    serde_json::from_value(v).unwrap()
}

fn delta(d: Value) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": d}]}))
}

fn finish_chunk(reason: &str) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

/// Runs deltas (JSON) through a machine and finishes it; returns all events. Every case also
/// goes through a collect-only machine, which must emit nothing and end with the same response.
fn run_with(parse: ParseOptions, chunks: Vec<ChatChunk>) -> (Vec<ResponseEvent>, ChatToResponses) {
    let mut collector = ChatToResponses::collect_only(ctx(parse.clone()));
    let mut m = ChatToResponses::new(ctx(parse));
    assert!(collector.start().is_empty());
    let mut events = m.start();
    for c in chunks {
        assert!(collector.push(c.clone()).is_empty());
        events.extend(m.push(c));
    }
    assert!(collector.finish().is_empty());
    events.extend(m.finish());
    assert_well_formed(&events);
    assert_same_response(&collector, &m);
    (events, m)
}

/// The collect-only machine ended where the streaming one did, in state and on the wire.
fn assert_same_response(collector: &ChatToResponses, streaming: &ChatToResponses) {
    assert_eq!(collector.is_finished(), streaming.is_finished());
    assert_eq!(
        serde_json::to_value(collector.response()).unwrap(),
        serde_json::to_value(streaming.response()).unwrap()
    );
    assert_eq!(collector.response(), streaming.response());
}

fn run(chunks: Vec<ChatChunk>) -> (Vec<ResponseEvent>, ChatToResponses) {
    run_with(ParseOptions::default(), chunks)
}

fn kinds(events: &[ResponseEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| e.kind().trim_start_matches("response."))
        .collect()
}

fn terminal(events: &[ResponseEvent]) -> &ResponseObject {
    match events.last() {
        Some(ResponseEvent::Completed { response } | ResponseEvent::Failed { response }) => {
            response
        }
        other => panic!("no terminal event: {other:?}"),
    }
}

/// Structural invariants every stream must satisfy.
fn assert_well_formed(events: &[ResponseEvent]) {
    assert_eq!(kinds(&events[..2]), ["created", "in_progress"]);
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
    assert!(events.last().is_some_and(ResponseEvent::is_terminal));
    let mut added = HashSet::new();
    let mut done = Vec::new();
    for (n, e) in events.iter().enumerate() {
        let item_id = match e {
            ResponseEvent::OutputItemAdded { output_index, item } => {
                assert_eq!(
                    *output_index,
                    added.len(),
                    "output indices are dense and in order"
                );
                assert!(added.insert(item.id().to_owned()), "item added twice");
                continue;
            }
            ResponseEvent::OutputItemDone { output_index, item } => {
                assert!(added.contains(item.id()), "done before added at {n}");
                done.push((*output_index, item.clone()));
                continue;
            }
            other => match other.item_id() {
                Some(item_id) => item_id,
                None => continue,
            },
        };
        assert!(
            added.contains(item_id),
            "event {n} ({}) before its item was added",
            e.kind()
        );
        assert!(
            !done.iter().any(|(_, i)| i.id() == item_id),
            "event {n} ({}) after its item was done",
            e.kind()
        );
    }
    done.sort_by_key(|(i, _)| *i);
    let done: Vec<OutputItem> = done.into_iter().map(|(_, i)| i).collect();
    let response = terminal(events);
    assert_eq!(
        response.output, done,
        "terminal output equals the done items"
    );
    if response.status != ResponseStatus::Failed {
        assert_eq!(done.len(), added.len(), "every added item is done");
    }
}

fn output_texts(response: &ResponseObject) -> Vec<String> {
    response
        .output
        .iter()
        .map(|i| match i {
            OutputItem::Message(m) => format!("msg:{}", m.content[0].text),
            OutputItem::Reasoning(r) => format!("rs:{}", r.summary[0].text),
            OutputItem::FunctionCall(f) => format!("fc:{}:{}:{}", f.call_id, f.name, f.arguments),
            OutputItem::CustomToolCall(c) => format!("ctc:{}:{}:{}", c.call_id, c.name, c.input),
        })
        .collect()
}

#[test]
fn text_stream_has_the_full_message_sequence() {
    let (events, m) = run(vec![
        delta(json!({"role": "assistant", "content": null})),
        delta(json!({"content": "Hel"})),
        delta(json!({"content": "lo"})),
        finish_chunk("stop"),
    ]);
    assert_eq!(
        kinds(&events),
        [
            "created",
            "in_progress",
            "output_item.added",
            "content_part.added",
            "output_text.delta",
            "output_text.delta",
            "output_text.done",
            "content_part.done",
            "output_item.done",
            "completed"
        ]
    );
    assert_eq!(output_texts(m.response()), ["msg:Hello"]);
    assert_eq!(m.response().output[0].id(), "msg_t_0");
    assert_eq!(m.response().status, ResponseStatus::Completed);
    assert!(m.is_finished());
}

#[test]
fn reasoning_emits_summary_and_raw_deltas_and_closes_before_text() {
    let (events, m) = run(vec![
        delta(json!({"reasoning_content": "think"})),
        delta(json!({"reasoning_content": "", "content": "answer"})),
        finish_chunk("stop"),
    ]);
    assert_eq!(
        kinds(&events)[2..11],
        [
            "output_item.added",
            "reasoning_summary_part.added",
            "reasoning_summary_text.delta",
            "reasoning_text.delta",
            "reasoning_summary_text.done",
            "reasoning_summary_part.done",
            "reasoning_text.done",
            "output_item.done",
            "output_item.added",
        ]
    );
    assert_eq!(output_texts(m.response()), ["rs:think", "msg:answer"]);
    let OutputItem::Reasoning(r) = &m.response().output[0] else {
        panic!()
    };
    assert_eq!(r.id, "rs_t_0");
    assert_eq!(r.content.as_ref().unwrap()[0].text, "think");
    assert_eq!(r.encrypted_content, None);
}

#[test]
fn call_is_added_only_when_id_and_name_are_known() {
    let (events, m) = run(vec![
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1"}}]})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "call_x", "function": {"arguments": "}"}}]}),
        ),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        kinds(&events)[2..],
        [
            "output_item.added",
            "function_call_arguments.delta",
            "function_call_arguments.done",
            "output_item.done",
            "completed"
        ]
    );
    let ResponseEvent::FunctionCallArgumentsDelta { delta, .. } = &events[3] else {
        panic!()
    };
    assert_eq!(
        delta, "{\"a\":1}",
        "buffered fragments are released together"
    );
    assert_eq!(output_texts(m.response()), ["fc:call_x:f:{\"a\":1}"]);
    assert_eq!(m.response().output[0].id(), "fc_t_0");
}

#[test]
fn empty_strings_are_absent_and_missing_ids_are_synthesized() {
    let (_, m) = run(vec![
        delta(
            json!({"tool_calls": [{"index": 0, "id": "", "function": {"name": "f", "arguments": "{"}}]}),
        ),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "", "function": {"name": "", "arguments": "}"}}]}),
        ),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(output_texts(m.response()), ["fc:call_t_0:f:{}"]);
}

#[test]
fn calls_without_index_split_on_new_ids() {
    let (_, m) = run(vec![
        delta(
            json!({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": {"x": 1}}}]}),
        ),
        delta(
            json!({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{\"y\""}}]}),
        ),
        delta(json!({"tool_calls": [{"function": {"arguments": ":2}"}}]})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["fc:a:f:{\"x\":1}", "fc:b:g:{\"y\":2}"]
    );
}

#[test]
fn a_reused_index_with_a_new_id_is_a_new_call() {
    let (_, m) = run(vec![
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
        ),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
        ),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(output_texts(m.response()), ["fc:a:f:{}", "fc:b:g:{}"]);
}

#[test]
fn interleaved_calls_keep_their_arguments_apart() {
    let (events, m) = run(vec![
        delta(json!({"tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}},
            {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{\"q\":"}}
        ]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"p\":"}}]})),
        delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": "2}"}}]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["fc:a:f:{\"p\":1}", "fc:b:g:{\"q\":2}"]
    );
    let done_order: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            ResponseEvent::OutputItemDone { output_index, .. } => Some(*output_index),
            _ => None,
        })
        .collect();
    assert_eq!(done_order, [0, 1]);
}

#[test]
fn pending_calls_are_released_in_upstream_index_order() {
    let (_, m) = run(vec![
        delta(json!({"tool_calls": [{"index": 1, "function": {"name": "g", "arguments": "{}"}}]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["fc:call_t_0:f:{}", "fc:call_t_1:g:{}"]
    );
}

#[test]
fn nameless_calls_are_dropped_and_empty_arguments_become_an_object() {
    let (_, m) = run(vec![
        delta(json!({"tool_calls": [{"index": 0, "id": "a", "function": {"arguments": "{}"}}]})),
        delta(json!({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g"}}]})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(output_texts(m.response()), ["fc:b:g:{}"]);
}

#[test]
fn namespaced_and_custom_tools_are_restored() {
    let patch = "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n";
    let args = json!({"input": patch}).to_string();
    let (events, m) = run(vec![
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "multi_agent_v1__spawn", "arguments": "{}"}}]}),
        ),
        delta(
            json!({"tool_calls": [{"index": 1, "id": "p", "function": {"name": "apply_patch", "arguments": &args[..10]}}]}),
        ),
        delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": &args[10..]}}]})),
        finish_chunk("tool_calls"),
    ]);
    let OutputItem::FunctionCall(f) = &m.response().output[0] else {
        panic!()
    };
    assert_eq!(
        (f.name.as_str(), f.namespace.as_deref()),
        ("spawn", Some("multi_agent_v1"))
    );
    let OutputItem::CustomToolCall(c) = &m.response().output[1] else {
        panic!()
    };
    assert_eq!(
        (c.id.as_str(), c.call_id.as_str(), c.input.as_str()),
        ("ctc_t_1", "p", patch)
    );
    let custom_events: Vec<&str> = kinds(&events)
        .into_iter()
        .filter(|k| k.starts_with("custom_tool_call_input"))
        .collect();
    assert_eq!(
        custom_events,
        [
            "custom_tool_call_input.delta",
            "custom_tool_call_input.done"
        ]
    );
    assert!(events.iter().all(|e| !matches!(e, ResponseEvent::FunctionCallArgumentsDelta { item_id, .. } if item_id == "ctc_t_1")));
}

#[test]
fn text_after_calls_becomes_a_message_after_them() {
    let (_, m) = run(vec![
        delta(json!({"content": "before"})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}),
        ),
        delta(json!({"content": "after"})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["msg:before", "fc:a:f:{}", "msg:after"]
    );
}

#[test]
fn whitespace_only_text_does_not_open_an_item() {
    let (_, m) = run(vec![
        delta(json!({"content": "\n\n"})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
        ),
        delta(json!({"content": "\n"})),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(output_texts(m.response()), ["fc:a:f:{}"]);
    let (_, m) = run(vec![
        delta(json!({"content": "    "})),
        delta(json!({"content": "code"})),
        finish_chunk("stop"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["msg:    code"],
        "held whitespace is kept for real text"
    );
}

#[test]
fn think_tags_become_reasoning_unless_disabled() {
    let chunks = || {
        vec![
            delta(json!({"content": "<th"})),
            delta(json!({"content": "ink>r</think>\n\nok"})),
            finish_chunk("stop"),
        ]
    };
    let (_, m) = run(chunks());
    assert_eq!(output_texts(m.response()), ["rs:r", "msg:ok"]);
    let (_, m) = run_with(
        ParseOptions {
            think_tags: false,
            cumulative_deltas: false,
        },
        chunks(),
    );
    assert_eq!(output_texts(m.response()), ["msg:<think>r</think>\n\nok"]);
}

#[test]
fn unclosed_think_at_finish_is_reasoning() {
    let (_, m) = run(vec![
        delta(json!({"content": "<think>cut"})),
        finish_chunk("length"),
    ]);
    assert_eq!(output_texts(m.response()), ["rs:cut"]);
    assert_eq!(m.response().status, ResponseStatus::Incomplete);
}

#[test]
fn cumulative_snapshots_are_reduced_to_suffixes() {
    let parse = ParseOptions {
        think_tags: true,
        cumulative_deltas: true,
    };
    let (_, m) = run_with(
        parse,
        vec![
            delta(json!({"reasoning_details": [{"type": "reasoning.text", "text": "ab"}]})),
            delta(json!({"reasoning_details": [{"type": "reasoning.text", "text": "abcd"}]})),
            delta(json!({"content": "He"})),
            delta(json!({"content": "Hello"})),
            delta(json!({"content": " world"})),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\""}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":1}"}}]})),
            finish_chunk("tool_calls"),
        ],
    );
    assert_eq!(
        output_texts(m.response()),
        ["rs:abcd", "msg:Hello world", "fc:a:f:{\"x\":1}"]
    );
}

#[test]
fn usage_keeps_the_last_meaningful_report_from_any_position() {
    let (events, _) = run(vec![
        chunk(
            json!({"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": {"total_tokens": 0}}),
        ),
        chunk(
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32, "cached_tokens": 4}}]}),
        ),
        chunk(
            json!({"choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}),
        ),
    ]);
    let usage = terminal(&events).usage.clone().unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (19, 13, 32)
    );
    assert_eq!(usage.input_tokens_details.cached_tokens, 4);

    let (events, _) = run(vec![delta(json!({"content": "x"})), finish_chunk("stop")]);
    assert_eq!(
        terminal(&events).usage,
        Some(Default::default()),
        "zeros when never reported"
    );
}

#[test]
fn finish_reasons_set_status_and_details() {
    let (events, _) = run(vec![delta(json!({"content": "x"})), finish_chunk("length")]);
    let r = terminal(&events);
    assert_eq!(r.status, ResponseStatus::Incomplete);
    assert_eq!(
        r.incomplete_details.as_ref().unwrap().reason,
        "max_output_tokens"
    );
    assert!(matches!(
        events.last(),
        Some(ResponseEvent::Completed { .. })
    ));
    let OutputItem::Message(message) = &r.output[0] else {
        panic!("not a message")
    };
    assert_eq!(
        message.status, "incomplete",
        "the item the cut-off interrupted is incomplete"
    );

    let (_, m) = run(vec![
        delta(json!({"content": "x"})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"p\":"}}]}),
        ),
        finish_chunk("length"),
    ]);
    let OutputItem::Message(message) = &m.response().output[0] else {
        panic!("not a message")
    };
    let OutputItem::FunctionCall(call) = &m.response().output[1] else {
        panic!("not a call")
    };
    assert_eq!(
        (message.status.as_str(), call.status.as_str()),
        ("completed", "incomplete")
    );

    let (events, _) = run(vec![
        delta(json!({"content": "x"})),
        finish_chunk("sensitive"),
    ]);
    assert_eq!(
        terminal(&events)
            .incomplete_details
            .as_ref()
            .unwrap()
            .reason,
        "content_filter"
    );

    let (events, _) = run(vec![
        delta(json!({"content": "x"})),
        finish_chunk("network_error"),
    ]);
    let r = terminal(&events);
    assert_eq!(r.status, ResponseStatus::Failed);
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.code, "server_error");
    assert!(error.message.contains("network_error"));
    assert!(
        r.output.is_empty(),
        "the half-written message is not presented"
    );
}

#[test]
fn a_stream_without_finish_reason_fails_as_truncated() {
    let (events, m) = run(vec![delta(json!({"content": "partial"}))]);
    assert!(matches!(events.last(), Some(ResponseEvent::Failed { .. })));
    let error = m.response().error.as_ref().unwrap();
    assert_eq!(error.code, "server_error");
    assert!(error.message.contains("truncated"));
}

#[test]
fn fail_reports_only_completed_items_and_then_everything_is_inert() {
    let mut m = ChatToResponses::new(ctx(ParseOptions::default()));
    let mut events = m.start();
    events.extend(m.push(delta(json!({"reasoning_content": "r"}))));
    events.extend(m.push(delta(json!({"content": "half"}))));
    events.extend(m.fail(
        "rate_limit_exceeded",
        "Rate limit reached. Please try again in 1.5s.",
    ));
    assert_well_formed(&events);
    let r = m.response();
    assert_eq!(r.status, ResponseStatus::Failed);
    assert_eq!(output_texts(r), ["rs:r"]);
    assert_eq!(r.error.as_ref().unwrap().code, "rate_limit_exceeded");
    assert!(m.push(delta(json!({"content": "more"}))).is_empty());
    assert!(m.finish().is_empty());
    assert!(m.fail("x", "y").is_empty());
    assert!(m.start().is_empty());
}

#[test]
fn collect_only_fail_matches_streaming_fail() {
    let mut collector = ChatToResponses::collect_only(ctx(ParseOptions::default()));
    let mut m = ChatToResponses::new(ctx(ParseOptions::default()));
    m.start();
    for c in [
        delta(json!({"reasoning_content": "r"})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}),
        ),
        chunk(
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ),
    ] {
        assert!(collector.push(c.clone()).is_empty());
        m.push(c);
    }
    assert!(collector
        .fail("rate_limit_exceeded", "slow down")
        .is_empty());
    m.fail("rate_limit_exceeded", "slow down");
    assert_same_response(&collector, &m);
    assert_eq!(output_texts(collector.response()), ["rs:r"]);
    assert_eq!(collector.response().usage.as_ref().unwrap().total_tokens, 5);
}

#[test]
fn collect_only_emits_no_events_but_builds_the_response() {
    let mut m = ChatToResponses::collect_only(ctx(ParseOptions::default()));
    assert!(m.start().is_empty());
    assert!(m
        .push(delta(json!({"content": "<think>r</think>hi"})))
        .is_empty());
    assert!(m
        .push(delta(
            json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "apply_patch", "arguments": "{\"input\":\"P\"}"}}]})
        ))
        .is_empty());
    assert!(m.push(finish_chunk("tool_calls")).is_empty());
    assert!(!m.is_finished());
    assert!(m.finish().is_empty());
    assert!(m.is_finished());
    assert_eq!(
        output_texts(m.response()),
        ["rs:r", "msg:hi", "ctc:c:apply_patch:P"]
    );
    assert_eq!(m.response().status, ResponseStatus::Completed);
    assert!(m.fail("x", "y").is_empty());
    assert_eq!(m.response().status, ResponseStatus::Completed);
}

#[test]
fn chat_completion_to_response_equals_the_streaming_machine() {
    let completions = [
        json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "<think>plan</think>Calling.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "apply_patch", "arguments": {"input": "P"}}},
                {"id": "call_2", "type": "function", "function": {"name": "multi_agent_v1__spawn", "arguments": ""}},
                {"type": "function", "function": {"name": "", "arguments": "{}"}}
            ]
        }}], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}),
        json!({"choices": [{"index": 0, "finish_reason": "length", "message": {
            "reasoning_content": "r", "reasoning_details": [{"type": "reasoning.encrypted", "data": "E"}],
            "content": "cut"
        }}]}),
        json!({"choices": [{"index": 0, "finish_reason": "sensitive", "message": {"refusal": "no"}}]}),
        json!({"choices": [{"index": 0, "finish_reason": "network_error", "message": {"content": "x"}}]}),
        json!({"choices": [{"message": {"content": "x"}}]}),
        json!({"choices": []}),
    ];
    for v in completions {
        let completion: ChatCompletion = serde_json::from_value(v.clone()).unwrap();
        let mut m = ChatToResponses::new(ctx(ParseOptions::default()));
        m.start();
        m.push(completion.clone().into_chunk());
        let events = m.finish();
        assert_eq!(
            serde_json::to_value(chat_completion_to_response(
                completion,
                ctx(ParseOptions::default())
            ))
            .unwrap(),
            serde_json::to_value(terminal(&events)).unwrap(),
            "{v}"
        );
    }
}

#[test]
fn nothing_is_emitted_after_completion() {
    let (_, mut m) = run(vec![delta(json!({"content": "x"})), finish_chunk("stop")]);
    assert!(m.push(delta(json!({"content": "late"}))).is_empty());
    assert!(m.finish().is_empty());
    assert!(m.fail("server_error", "late").is_empty());
}

#[test]
fn push_before_start_starts_the_response_once() {
    let mut m = ChatToResponses::new(ctx(ParseOptions::default()));
    let events = m.push(delta(json!({"content": "x"})));
    assert_eq!(kinds(&events)[..2], ["created", "in_progress"]);
    assert!(m.start().is_empty());
}

#[test]
fn benign_chunk_shapes_produce_no_items() {
    let (_, m) = run(vec![
        delta(json!({"role": ""})),
        delta(json!({"role": "assistant", "content": null, "reasoning_content": ""})),
        chunk(json!({"choices": null})),
        chunk(json!({"choices": [{"index": 1, "delta": {"content": "second choice"}}]})),
        chunk(json!({"choices": [{"index": 0, "delta": null, "finish_reason": "stop"}]})),
    ]);
    assert!(m.response().output.is_empty());
    assert_eq!(m.response().status, ResponseStatus::Completed);
}

#[test]
fn refusal_is_shown_as_text() {
    let (_, m) = run(vec![
        delta(json!({"refusal": "I can't"})),
        finish_chunk("stop"),
    ]);
    assert_eq!(output_texts(m.response()), ["msg:I can't"]);
}

#[test]
fn opaque_reasoning_details_are_packed_into_encrypted_content() {
    let (_, m) = run(vec![
        delta(
            json!({"reasoning": "a", "reasoning_details": [{"type": "reasoning.text", "text": "a", "index": 0}]}),
        ),
        delta(json!({"content": "x"})),
        delta(
            json!({"reasoning_details": [{"type": "reasoning.encrypted", "data": "ENC", "index": 1}],
            "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}),
        ),
        finish_chunk("tool_calls"),
    ]);
    assert_eq!(
        output_texts(m.response()),
        ["rs:a", "msg:x", "rs:", "fc:c:f:{}"]
    );
    let encrypted: Vec<Option<String>> = m
        .response()
        .output
        .iter()
        .filter_map(|i| match i {
            OutputItem::Reasoning(r) => Some(r.encrypted_content.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        encrypted[0], None,
        "plain text details are not round-tripped"
    );
    let decoded = opaque::decode_encrypted_content(encrypted[1].as_deref().unwrap()).unwrap();
    assert_eq!(
        decoded.reasoning_details,
        Some(vec![
            json!({"type": "reasoning.encrypted", "data": "ENC", "index": 1})
        ])
    );
}

#[test]
fn keepalive_is_an_in_progress_snapshot_without_output() {
    let mut m = ChatToResponses::new(ctx(ParseOptions::default()));
    m.start();
    m.push(delta(json!({"reasoning_content": "r"})));
    m.push(delta(json!({"content": "x"})));
    assert_eq!(m.response().output.len(), 1);
    let ResponseEvent::InProgress { response } = m.keepalive() else {
        panic!("not in_progress")
    };
    assert_eq!(
        (response.id.as_str(), response.status, response.output.len()),
        ("resp_t", ResponseStatus::InProgress, 0)
    );
}

#[test]
fn non_streaming_completion_goes_through_the_machine() {
    let completion: ChatCompletion = serde_json::from_value(json!({
        "id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "<think>plan</think>Calling.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "apply_patch", "arguments": {"input": "P"}}}]
        }}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    }))
    .unwrap();
    let r = chat_completion_to_response(completion, ctx(ParseOptions::default()));
    assert_eq!(r.status, ResponseStatus::Completed);
    assert_eq!(
        output_texts(&r),
        ["rs:plan", "msg:Calling.", "ctc:call_1:apply_patch:P"]
    );
    assert_eq!(r.usage.unwrap().total_tokens, 8);

    let no_finish: ChatCompletion =
        serde_json::from_value(json!({"choices": [{"message": {"content": "x"}}]})).unwrap();
    assert_eq!(
        chat_completion_to_response(no_finish, ctx(ParseOptions::default())).status,
        ResponseStatus::Failed
    );
}

#[test]
fn ids_without_the_resp_prefix_are_used_whole() {
    let mut c = ctx(ParseOptions::default());
    c.response_id = "abc".to_owned();
    let mut m = ChatToResponses::new(c);
    m.push(delta(json!({"content": "x"})));
    m.push(finish_chunk("stop"));
    m.finish();
    assert_eq!(m.response().output[0].id(), "msg_abc_0");
}
