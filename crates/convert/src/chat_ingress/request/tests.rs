use serde_json::json;

use super::*;

fn convert(v: Value) -> ChatIngressRequest {
    match chat_request_to_responses(&v) {
        Ok(r) => r,
        Err(e) => panic!("conversion failed: {e}"),
    }
}

#[test]
fn a_tool_loop_becomes_input_items_in_order() {
    let out = convert(json!({
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "use tools"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "what is here?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "reasoning_content": "thinking", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{\"p\":\".\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "cat", "arguments": {"f": "a"}}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "hello"}]},
            {"role": "assistant", "content": "done"}
        ]
    }));
    assert_eq!(out.body["instructions"], "be brief\n\nuse tools");
    assert_eq!(
        out.body["input"],
        json!([
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "what is here?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}
            ]},
            {"type": "function_call", "call_id": "call_1", "name": "ls", "arguments": "{\"p\":\".\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "cat", "arguments": "{\"f\":\"a\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"type": "function_call_output", "call_id": "call_2", "output": "hello"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]}
        ])
    );
    assert_eq!(out.body["stream"], false);
    assert_eq!(out.body["store"], false);
    assert!(!out.include_usage);
}

#[test]
fn parameters_map_onto_their_responses_names() {
    let out = convert(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": 100,
        "reasoning_effort": "high",
        "temperature": 0.2,
        "seed": 7,
        "stop": ["x"],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}},
            {"type": "custom", "custom": {"name": "apply_patch", "format": {"type": "text"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}},
        "verbosity": "low"
    }));
    let b = Value::Object(out.body);
    assert_eq!(b["max_output_tokens"], 100);
    assert_eq!(b["reasoning"], json!({"effort": "high", "summary": "auto"}));
    assert_eq!(b["temperature"], 0.2);
    assert_eq!(b.get("seed"), None);
    assert_eq!(b.get("stop"), None);
    assert_eq!(
        b["tools"],
        json!([
            {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true},
            {"type": "custom", "name": "apply_patch", "format": {"type": "text"}}
        ])
    );
    assert_eq!(b["tool_choice"], json!({"type": "function", "name": "f"}));
    assert_eq!(
        b["text"],
        json!({"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"})
    );
    assert!(out.stream && out.include_usage);
}

#[test]
fn max_completion_tokens_wins_and_tool_choice_strings_pass() {
    let out = convert(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5, "max_completion_tokens": 9, "tool_choice": "required",
    }));
    assert_eq!(out.body["max_output_tokens"], 9);
    assert_eq!(out.body["tool_choice"], "required");
    let allowed = tool_choice_to_responses(&json!({"type": "allowed_tools", "allowed_tools": {
        "mode": "required", "tools": [{"type": "function", "function": {"name": "a"}}]}}));
    assert_eq!(
        allowed,
        json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "a"}]})
    );
}

#[test]
fn legacy_function_calls_pair_by_name() {
    let out = convert(json!({
        "model": "m",
        "functions": [{"name": "f", "parameters": {}}],
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "ok"}
        ]
    }));
    assert_eq!(out.body["input"][1]["call_id"], "call_legacy_0");
    assert_eq!(out.body["input"][2]["call_id"], "call_legacy_0");
    assert_eq!(out.body["tools"][0]["name"], "f");
}

#[test]
fn what_a_responses_upstream_cannot_do_is_a_named_400() {
    for (body, path) in [
        (json!({"model": "m", "messages": []}), "messages"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}),
            "n",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "modalities": ["text", "audio"]}),
            "modalities",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
    ] {
        match chat_request_to_responses(&body) {
            Err(ConvertError::InvalidRequest { path: p, .. }) => assert_eq!(p, path, "{body}"),
            Ok(_) => panic!("expected an error for {body}"),
        }
    }
}
