use super::*;
use crate::anthropic::decode_thinking_blocks;
use crate::tools::responses_tools_to_chat;
use serde_json::{json, Value};

fn ctx(tools: Value) -> AnthropicStreamContext {
    let tools: Vec<ccp_types::responses::Tool> = serde_json::from_value(tools).unwrap();
    AnthropicStreamContext {
        response_id: "resp_t".into(),
        model: "client-model".into(),
        created_at: 0,
        tools: responses_tools_to_chat(&tools).names,
    }
}

fn run(machine: &mut AnthropicToResponses, events: Vec<Value>) -> Vec<ResponseEvent> {
    let mut out = machine.start();
    for e in events {
        out.extend(machine.push(serde_json::from_value(e).unwrap()));
    }
    out.extend(machine.finish());
    out
}

fn kinds(events: &[ResponseEvent]) -> Vec<&'static str> {
    events.iter().map(ResponseEvent::kind).collect()
}

fn start(index: usize, block: Value) -> Value {
    json!({"type":"content_block_start","index":index,"content_block":block})
}

fn delta(index: usize, delta: Value) -> Value {
    json!({"type":"content_block_delta","index":index,"delta":delta})
}

fn stop(index: usize) -> Value {
    json!({"type":"content_block_stop","index":index})
}

fn end(reason: &str) -> Vec<Value> {
    vec![
        json!({"type":"message_delta","delta":{"stop_reason":reason},"usage":{"output_tokens":9}}),
        json!({"type":"message_stop"}),
    ]
}

fn message_start(usage: Value) -> Value {
    json!({"type":"message_start","message":{"id":"msg_1","model":"claude","content":[],"usage":usage}})
}

fn final_response(events: &[ResponseEvent]) -> &ResponseObject {
    match events.last() {
        Some(ResponseEvent::Completed { response } | ResponseEvent::Failed { response }) => {
            response
        }
        other => panic!("no terminal event: {other:?}"),
    }
}

#[test]
fn thinking_then_tool_use_carries_the_signed_block() {
    let mut m = AnthropicToResponses::new(ctx(json!([])));
    let mut events = vec![
        message_start(
            json!({"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 1}),
        ),
        start(0, json!({"type":"thinking","thinking":"","signature":""})),
        delta(0, json!({"type":"thinking_delta","thinking":"Let me "})),
        delta(0, json!({"type":"thinking_delta","thinking":"look."})),
        delta(
            0,
            json!({"type":"signature_delta","signature":"EqQB+sig=="}),
        ),
        stop(0),
        start(
            1,
            json!({"type":"tool_use","id":"toolu_1","name":"exec_command","input":{}}),
        ),
        delta(1, json!({"type":"input_json_delta","partial_json":""})),
        delta(
            1,
            json!({"type":"input_json_delta","partial_json":"{\"cmd\":"}),
        ),
        delta(
            1,
            json!({"type":"input_json_delta","partial_json":"\"ls\"}"}),
        ),
        stop(1),
    ];
    events.extend(end("tool_use"));
    let out = run(&mut m, events);
    assert_eq!(
        kinds(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let resp = final_response(&out);
    assert_eq!(resp.status, ResponseStatus::Completed);
    let OutputItem::Reasoning(r) = &resp.output[0] else {
        panic!("not reasoning")
    };
    assert_eq!(
        decode_thinking_blocks(r.encrypted_content.as_deref().unwrap()),
        Some(vec![ContentBlock::Thinking {
            thinking: "Let me look.".into(),
            signature: "EqQB+sig==".into()
        }])
    );
    let OutputItem::FunctionCall(c) = &resp.output[1] else {
        panic!("not a call")
    };
    assert_eq!(
        (c.call_id.as_str(), c.arguments.as_str()),
        ("toolu_1", r#"{"cmd":"ls"}"#)
    );
    let usage = resp.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.input_tokens_details.cached_tokens,
            usage.output_tokens
        ),
        (130, 120, 9)
    );
}

#[test]
fn freeform_and_namespaced_tools_map_back() {
    let mut m = AnthropicToResponses::new(ctx(json!([
        {"type":"custom","name":"apply_patch"},
        {"type":"namespace","name":"mcp_fs","tools":[{"type":"function","name":"read"}]}
    ])));
    let mut events = vec![
        start(
            0,
            json!({"type":"tool_use","id":"t1","name":"apply_patch","input":{}}),
        ),
        delta(
            0,
            json!({"type":"input_json_delta","partial_json":"{\"input\":\"*** Begin"}),
        ),
        delta(
            0,
            json!({"type":"input_json_delta","partial_json":" Patch\\n\"}"}),
        ),
        stop(0),
        start(
            1,
            json!({"type":"tool_use","id":"t2","name":"mcp_fs__read","input":{}}),
        ),
        stop(1),
    ];
    events.extend(end("tool_use"));
    let out = run(&mut m, events);
    let resp = final_response(&out);
    let OutputItem::CustomToolCall(p) = &resp.output[0] else {
        panic!("not custom")
    };
    assert_eq!(
        (p.name.as_str(), p.input.as_str()),
        ("apply_patch", "*** Begin Patch\n")
    );
    assert!(p.id.starts_with("ctc_"));
    let OutputItem::FunctionCall(c) = &resp.output[1] else {
        panic!("not a call")
    };
    assert_eq!(
        (
            c.name.as_str(),
            c.namespace.as_deref(),
            c.arguments.as_str()
        ),
        ("read", Some("mcp_fs"), "{}")
    );
    assert!(kinds(&out).contains(&"response.custom_tool_call_input.done"));
}

#[test]
fn stop_reasons_map_to_status() {
    for (reason, status, detail) in [
        ("end_turn", ResponseStatus::Completed, None),
        ("stop_sequence", ResponseStatus::Completed, None),
        (
            "max_tokens",
            ResponseStatus::Incomplete,
            Some("max_output_tokens"),
        ),
        (
            "refusal",
            ResponseStatus::Incomplete,
            Some("content_filter"),
        ),
        ("pause_turn", ResponseStatus::Incomplete, Some("pause_turn")),
    ] {
        let mut m = AnthropicToResponses::new(ctx(json!([])));
        let mut events = vec![
            start(0, json!({"type":"text","text":""})),
            delta(0, json!({"type":"text_delta","text":"Hi"})),
        ];
        events.extend(end(reason));
        let out = run(&mut m, events);
        let resp = final_response(&out);
        assert_eq!(resp.status, status, "{reason}");
        assert_eq!(
            resp.incomplete_details.as_ref().map(|d| d.reason.as_str()),
            detail
        );
        assert_eq!(
            out.last().map(ResponseEvent::kind),
            Some("response.completed")
        );
    }
}

#[test]
fn whitespace_text_pings_and_unknown_blocks_open_no_item() {
    let mut m = AnthropicToResponses::new(ctx(json!([])));
    let mut events = vec![
        json!({"type":"ping"}),
        start(0, json!({"type":"text","text":""})),
        delta(0, json!({"type":"text_delta","text":"\n\n"})),
        stop(0),
        start(
            1,
            json!({"type":"server_tool_use","id":"s","name":"web_search"}),
        ),
        stop(1),
        json!({"type":"brand_new"}),
        start(2, json!({"type":"redacted_thinking","data":"abc"})),
        stop(2),
    ];
    events.extend(end("end_turn"));
    let out = run(&mut m, events);
    let resp = final_response(&out);
    assert_eq!(resp.output.len(), 1);
    let OutputItem::Reasoning(r) = &resp.output[0] else {
        panic!("not reasoning")
    };
    assert_eq!(r.id, "rs_t_0");
    assert_eq!(
        decode_thinking_blocks(r.encrypted_content.as_deref().unwrap()),
        Some(vec![ContentBlock::RedactedThinking { data: "abc".into() }])
    );
}

#[test]
fn a_stream_without_stop_reason_fails_and_failure_is_final() {
    let mut m = AnthropicToResponses::new(ctx(json!([])));
    let out = run(
        &mut m,
        vec![
            start(0, json!({"type":"text","text":""})),
            delta(0, json!({"type":"text_delta","text":"cut"})),
        ],
    );
    assert_eq!(final_response(&out).status, ResponseStatus::Failed);
    assert!(m.is_finished());
    assert!(m.finish().is_empty());
    assert!(m.fail("x", "y").is_empty());
}

#[test]
fn a_whole_message_converts_like_its_stream() {
    let message: MessageResponse = serde_json::from_value(json!({
        "id":"msg_1","model":"claude","stop_reason":"tool_use",
        "usage":{"input_tokens":3,"output_tokens":4},
        "content":[
            {"type":"thinking","thinking":"hmm","signature":"sig"},
            {"type":"text","text":"Running."},
            {"type":"tool_use","id":"t1","name":"exec_command","input":{"cmd":"ls"}}
        ]
    }))
    .unwrap();
    let resp = message_to_response(message, ctx(json!([])));
    assert_eq!(resp.status, ResponseStatus::Completed);
    assert_eq!(resp.output.len(), 3);
    let OutputItem::FunctionCall(c) = &resp.output[2] else {
        panic!("not a call")
    };
    assert_eq!(c.arguments, r#"{"cmd":"ls"}"#);
    let OutputItem::Reasoning(r) = &resp.output[0] else {
        panic!("not reasoning")
    };
    assert_eq!(
        decode_thinking_blocks(r.encrypted_content.as_deref().unwrap()),
        Some(vec![ContentBlock::Thinking {
            thinking: "hmm".into(),
            signature: "sig".into()
        }])
    );
    assert_eq!(resp.usage.as_ref().map(|u| u.total_tokens), Some(7));
}
