//! Prompt and completion text for `gen_ai.input.messages` / `gen_ai.output.messages`, in the
//! GenAI message shape (`{"role", "parts": [{"type": "text", "content"}, {"type": "tool_call",
//! "id", "name", "arguments"}, {"type": "tool_call_response", "id", "response"}]}`).
//!
//! Only built when `capture_content` is on; pure functions over the JSON the gateway already has.

use serde_json::{json, Map, Value};

/// The messages of a Responses request: `instructions` as a system message, then `input` (a
/// string or a list of items).
pub fn responses_input(instructions: Option<&str>, input: &Value) -> String {
    let mut messages = Vec::new();
    if let Some(text) = instructions.filter(|t| !t.is_empty()) {
        messages.push(message("system", vec![text_part(text)]));
    }
    match input {
        Value::String(text) => messages.push(message("user", vec![text_part(text)])),
        Value::Array(items) => messages.extend(items.iter().filter_map(responses_item)),
        _ => {}
    }
    Value::Array(messages).to_string()
}

/// The messages of a Responses answer's `output` items.
pub fn responses_output(output: &Value) -> String {
    let items = output.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(items.iter().filter_map(responses_item).collect()).to_string()
}

/// The messages of a Chat Completions request's `messages`.
pub fn chat_input(messages: &Value) -> String {
    let items = messages.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(items.iter().filter_map(chat_message).collect()).to_string()
}

fn message(role: &str, parts: Vec<Value>) -> Value {
    json!({"role": role, "parts": parts})
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "content": text})
}

fn str_of<'a>(item: &'a Map<String, Value>, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Text parts of a `content` that is a string or a list of parts with `text`.
fn content_parts(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(text)) => vec![text_part(text)],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| {
                let p = p.as_object()?;
                match p.get("text").and_then(Value::as_str) {
                    Some(text) => Some(text_part(text)),
                    None => Some(json!({"type": str_of(p, "type")})),
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn responses_item(item: &Value) -> Option<Value> {
    let item = item.as_object()?;
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        Some("function_call" | "custom_tool_call") => {
            let arguments = item.get("arguments").or_else(|| item.get("input"));
            Some(message(
                "assistant",
                vec![json!({"type": "tool_call", "id": str_of(item, "call_id"),
                            "name": str_of(item, "name"), "arguments": arguments})],
            ))
        }
        Some("function_call_output" | "custom_tool_call_output") => Some(message(
            "tool",
            vec![
                json!({"type": "tool_call_response", "id": str_of(item, "call_id"),
                        "response": item.get("output")}),
            ],
        )),
        Some("reasoning") => {
            let summary = content_parts(item.get("summary"))
                .into_iter()
                .map(|mut part| {
                    part["type"] = "reasoning".into();
                    part
                })
                .collect();
            Some(message("assistant", summary))
        }
        Some("message") | None if item.contains_key("role") => Some(message(
            str_of(item, "role"),
            content_parts(item.get("content")),
        )),
        _ => None,
    }
}

fn chat_message(msg: &Value) -> Option<Value> {
    let msg = msg.as_object()?;
    let role = str_of(msg, "role");
    if role == "tool" {
        return Some(message(
            "tool",
            vec![
                json!({"type": "tool_call_response", "id": str_of(msg, "tool_call_id"),
                        "response": msg.get("content")}),
            ],
        ));
    }
    let mut parts = content_parts(msg.get("content"));
    for call in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let function = call.get("function");
        parts.push(json!({"type": "tool_call",
            "id": call.get("id"),
            "name": function.and_then(|f| f.get("name")),
            "arguments": function.and_then(|f| f.get("arguments"))}));
    }
    Some(message(role, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_items_become_messages() {
        let input = json!([
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "item_reference", "id": "x"}
        ]);
        let v: Value = serde_json::from_str(&responses_input(Some("be brief"), &input)).unwrap();
        assert_eq!(
            v[0],
            json!({"role": "system", "parts": [{"type": "text", "content": "be brief"}]})
        );
        assert_eq!(v[1]["parts"][0]["content"], "hi");
        assert_eq!(v[2]["parts"][0]["type"], "tool_call");
        assert_eq!(
            v[3]["parts"][0],
            json!({"type": "tool_call_response", "id": "c1", "response": "ok"})
        );
        assert_eq!(v.as_array().unwrap().len(), 4);
        let s: Value = serde_json::from_str(&responses_input(None, &json!("hello"))).unwrap();
        assert_eq!(s[0]["role"], "user");
    }

    #[test]
    fn chat_messages_become_messages() {
        let msgs = json!([
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "42"}
        ]);
        let v: Value = serde_json::from_str(&chat_input(&msgs)).unwrap();
        assert_eq!(v[0]["parts"][0]["name"], "f");
        assert_eq!(v[1]["parts"][0]["response"], "42");
    }
}
