//! Chat Completions request → Responses request (upstreams.md §3.4).
//!
//! The body is read as JSON, not as the typed [`ccp_types::chat::ChatRequest`], so that content
//! part kinds the proxy does not model (`file`, `input_audio`) and legacy fields are seen rather
//! than failing the parse. What a Responses upstream cannot do (`n > 1`, audio output,
//! predictions) is a 400 naming the field; what it merely ignores (`seed`, penalties,
//! `logit_bias`, `stop`) is dropped. System and developer messages become `instructions`
//! (never `role: "system"` items, which the ChatGPT backend rejects); plain-text reasoning on
//! assistant turns is dropped, as a Responses upstream only takes its own encrypted reasoning.

use serde_json::{json, Map, Value};

use crate::ConvertError;

/// The converted request and what the answer's conversion needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatIngressRequest {
    /// The Responses request body (the client's `model`, unchanged: the gateway routes by it).
    pub body: Map<String, Value>,
    /// The client asked for a stream.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Top-level Chat fields copied unchanged.
const SAME_NAME: &[&str] = &[
    "model",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "metadata",
    "prompt_cache_key",
    "service_tier",
    "user",
    "safety_identifier",
];

/// Converts a Chat Completions body into a Responses body.
pub fn chat_request_to_responses(chat: &Value) -> Result<ChatIngressRequest, ConvertError> {
    let obj = chat
        .as_object()
        .ok_or_else(|| invalid("", "the body must be a JSON object"))?;
    reject_unsupported(obj)?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => return Err(invalid("messages", "`messages` must be a non-empty array")),
    };
    let mut body = Map::new();
    for key in SAME_NAME {
        if let Some(v) = obj.get(*key).filter(|v| !v.is_null()) {
            body.insert((*key).to_owned(), v.clone());
        }
    }
    let (instructions, input) = messages_to_input(messages)?;
    if !instructions.is_empty() {
        body.insert("instructions".into(), Value::String(instructions));
    }
    body.insert("input".into(), Value::Array(input));
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools.iter().map(tool_to_responses).collect();
        body.insert("tools".into(), Value::Array(tools));
    } else if let Some(functions) = obj.get("functions").and_then(Value::as_array) {
        let tools = functions
            .iter()
            .map(|f| tool_to_responses(&json!({"type": "function", "function": f})))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let choice = obj
        .get("tool_choice")
        .or_else(|| obj.get("function_call"))
        .filter(|v| !v.is_null());
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), tool_choice_to_responses(choice));
    }
    if let Some(text) = text_param(obj)? {
        body.insert("text".into(), text);
    }
    let limit = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_u64));
    if let Some(limit) = limit {
        body.insert("max_output_tokens".into(), limit.into());
    }
    if let Some(effort) = reasoning_effort(obj) {
        body.insert(
            "reasoning".into(),
            json!({"effort": effort, "summary": "auto"}),
        );
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    body.insert("stream".into(), Value::Bool(stream));
    body.insert("store".into(), Value::Bool(false));
    let include_usage = stream
        && obj
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    Ok(ChatIngressRequest {
        body,
        stream,
        include_usage,
    })
}

fn invalid(path: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::InvalidRequest {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn reject_unsupported(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(invalid(
            "n",
            "this backend is a Responses API and returns one choice; send `n: 1` (or leave it out)",
        ));
    }
    let audio_out = obj
        .get("modalities")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x.as_str() != Some("text")));
    if audio_out || obj.get("audio").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "modalities",
            "audio output is not supported by this backend; ask for text only",
        ));
    }
    if obj.get("prediction").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "prediction",
            "predicted outputs are not supported by this backend; leave `prediction` out",
        ));
    }
    Ok(())
}

/// `reasoning_effort`, or an OpenRouter-style `reasoning.effort` sent through `extra_body`.
fn reasoning_effort(obj: &Map<String, Value>) -> Option<String> {
    obj.get("reasoning_effort")
        .and_then(Value::as_str)
        .or_else(|| {
            obj.get("reasoning")
                .and_then(|r| r.get("effort"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
}

/// `response_format` and `verbosity` → `text`.
fn text_param(obj: &Map<String, Value>) -> Result<Option<Value>, ConvertError> {
    let mut text = Map::new();
    if let Some(format) = obj.get("response_format").filter(|v| !v.is_null()) {
        let kind = format.get("type").and_then(Value::as_str);
        let converted = match kind {
            Some("json_schema") => {
                let mut flat = Map::new();
                flat.insert("type".into(), "json_schema".into());
                if let Some(Value::Object(schema)) = format.get("json_schema") {
                    for (k, v) in schema {
                        flat.insert(k.clone(), v.clone());
                    }
                }
                Value::Object(flat)
            }
            Some("json_object") | Some("text") => json!({"type": kind}),
            _ => {
                return Err(invalid(
                    "response_format.type",
                    "expected `text`, `json_object` or `json_schema`",
                ))
            }
        };
        text.insert("format".into(), converted);
    }
    if let Some(v) = obj.get("verbosity").filter(|v| !v.is_null()) {
        text.insert("verbosity".into(), v.clone());
    }
    Ok((!text.is_empty()).then_some(Value::Object(text)))
}

/// Messages → (`instructions`, `input` items).
fn messages_to_input(messages: &[Value]) -> Result<(String, Vec<Value>), ConvertError> {
    let mut instructions: Vec<String> = Vec::new();
    let mut input = Vec::with_capacity(messages.len());
    // Legacy `function_call`s get made-up call ids, matched to `function` results by name.
    let mut legacy_calls: Vec<(String, String)> = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let at = |field: &str| format!("messages[{i}].{field}");
        let role = msg.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = msg.get("content").filter(|v| !v.is_null());
        match role {
            "system" | "developer" => {
                let text = content.map(text_of).unwrap_or_default();
                if !text.is_empty() {
                    instructions.push(text);
                }
            }
            "user" => {
                let parts = match content {
                    Some(c) => user_parts(c, &at("content"))?,
                    None => Vec::new(),
                };
                input.push(json!({"type": "message", "role": "user", "content": parts}));
            }
            "assistant" => assistant_items(msg, &mut input, &mut legacy_calls),
            "tool" => {
                let call_id = msg
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid(&at("tool_call_id"), "a tool message needs `tool_call_id`")
                    })?;
                let output = match content {
                    Some(c) => tool_output(c, &at("content"))?,
                    None => Value::String(String::new()),
                };
                input.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": output}),
                );
            }
            "function" => {
                let name = msg.get("name").and_then(Value::as_str).unwrap_or_default();
                let call_id = legacy_calls
                    .iter()
                    .rev()
                    .find(|(_, n)| n == name)
                    .map(|(id, _)| id.clone())
                    .unwrap_or_else(|| format!("call_legacy_{}", legacy_calls.len()));
                let output = content.map(text_of).unwrap_or_default();
                input.push(
                    json!({"type": "function_call_output", "call_id": call_id, "output": output}),
                );
            }
            other => {
                return Err(invalid(
                    &at("role"),
                    format!(
                    "unknown role {other:?}; expected system, developer, user, assistant or tool"
                ),
                ))
            }
        }
    }
    Ok((instructions.join("\n\n"), input))
}

/// An assistant turn: its text (if any) as a message, then its calls, in order. A turn that
/// only holds calls gets no message (an empty one breaks call pairing upstream).
fn assistant_items(msg: &Value, input: &mut Vec<Value>, legacy: &mut Vec<(String, String)>) {
    let mut parts = Vec::new();
    match msg.get("content") {
        Some(Value::String(s)) if !s.is_empty() => {
            parts.push(json!({"type": "output_text", "text": s}))
        }
        Some(Value::Array(items)) => {
            for p in items {
                match p.get("type").and_then(Value::as_str) {
                    Some("refusal") => parts.push(json!({"type": "refusal", "refusal": p.get("refusal").cloned().unwrap_or_default()})),
                    _ => {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            parts.push(json!({"type": "output_text", "text": t}));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(r) = msg.get("refusal").and_then(Value::as_str) {
        parts.push(json!({"type": "refusal", "refusal": r}));
    }
    if !parts.is_empty() {
        input.push(json!({"type": "message", "role": "assistant", "content": parts}));
    }
    for call in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        if let Some(custom) = call.get("custom") {
            input.push(json!({
                "type": "custom_tool_call", "call_id": id,
                "name": custom.get("name").cloned().unwrap_or_default(),
                "input": custom.get("input").cloned().unwrap_or_default(),
            }));
        } else {
            let f = call.get("function").cloned().unwrap_or_default();
            input.push(json!({
                "type": "function_call", "call_id": id,
                "name": f.get("name").cloned().unwrap_or_default(),
                "arguments": arguments_text(f.get("arguments")),
            }));
        }
    }
    if let Some(f) = msg.get("function_call").filter(|v| v.is_object()) {
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        let id = format!("call_legacy_{}", legacy.len());
        legacy.push((id.clone(), name.to_owned()));
        input.push(json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments_text(f.get("arguments"))}));
    }
}

/// Arguments as a JSON string (some clients send an object).
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "{}".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// The text of a string or of the text parts of an array, joined with newlines.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn user_parts(content: &Value, path: &str) -> Result<Vec<Value>, ConvertError> {
    match content {
        Value::String(s) => Ok(vec![json!({"type": "input_text", "text": s})]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| content_part(p, &format!("{path}[{i}]")))
            .collect(),
        _ => Err(invalid(
            path,
            "expected a string or an array of content parts",
        )),
    }
}

/// One user (or tool result) content part → a Responses input part.
fn content_part(part: &Value, path: &str) -> Result<Value, ConvertError> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "text" | "input_text" => Ok(json!({"type": "input_text", "text": part.get("text").cloned().unwrap_or_default()})),
        "image_url" => {
            let (url, detail) = match part.get("image_url") {
                Some(Value::String(u)) => (Value::String(u.clone()), None),
                Some(obj) => (obj.get("url").cloned().unwrap_or_default(), obj.get("detail").cloned()),
                None => (Value::Null, None),
            };
            let mut out = json!({"type": "input_image", "image_url": url});
            out["detail"] = detail.filter(|d| !d.is_null()).unwrap_or_else(|| "auto".into());
            Ok(out)
        }
        "file" => {
            let mut out = Map::new();
            out.insert("type".into(), "input_file".into());
            if let Some(Value::Object(f)) = part.get("file") {
                for key in ["file_id", "file_data", "filename"] {
                    if let Some(v) = f.get(key).filter(|v| !v.is_null()) {
                        out.insert(key.into(), v.clone());
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(invalid(
            &format!("{path}.type"),
            format!("content part type {other:?} is not supported by this backend; send text, image_url or file parts"),
        )),
    }
}

fn tool_output(content: &Value, path: &str) -> Result<Value, ConvertError> {
    match content {
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Array(parts)
            if parts
                .iter()
                .all(|p| p.get("type").and_then(Value::as_str) == Some("text")) =>
        {
            Ok(Value::String(text_of(content)))
        }
        Value::Array(_) => Ok(Value::Array(user_parts(content, path)?)),
        other => Ok(Value::String(other.to_string())),
    }
}

/// A Chat tool → a flat Responses tool; unknown kinds pass through as they came.
fn tool_to_responses(tool: &Value) -> Value {
    let kind = tool
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("function");
    let inner = match kind {
        "function" => tool.get("function"),
        "custom" => tool.get("custom"),
        _ => None,
    };
    let Some(Value::Object(inner)) = inner else {
        return tool.clone();
    };
    let mut flat = Map::new();
    flat.insert("type".into(), kind.into());
    for (k, v) in inner {
        if !v.is_null() {
            flat.insert(k.clone(), v.clone());
        }
    }
    Value::Object(flat)
}

/// A Chat `tool_choice` (or legacy `function_call`) → the Responses form.
fn tool_choice_to_responses(choice: &Value) -> Value {
    let name_of = |v: &Value, key: &str| v.get(key).and_then(|f| f.get("name")).cloned();
    match choice.get("type").and_then(Value::as_str) {
        None if choice.is_string() => choice.clone(),
        // Legacy `function_call: {"name": …}`.
        None => {
            json!({"type": "function", "name": choice.get("name").cloned().unwrap_or_default()})
        }
        Some(kind @ ("function" | "custom")) => {
            json!({"type": kind, "name": name_of(choice, kind).unwrap_or_default()})
        }
        Some("allowed_tools") => {
            let inner = choice.get("allowed_tools").cloned().unwrap_or_default();
            let tools: Vec<Value> = inner
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|t| {
                    let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
                    json!({"type": kind, "name": name_of(t, kind).unwrap_or_default()})
                })
                .collect();
            json!({"type": "allowed_tools", "mode": inner.get("mode").cloned().unwrap_or_else(|| "auto".into()), "tools": tools})
        }
        // Cursor-style `{type: "tool"}` and friends: the client wants a tool call.
        Some(_) => Value::String("required".into()),
    }
}

#[cfg(test)]
mod tests;
