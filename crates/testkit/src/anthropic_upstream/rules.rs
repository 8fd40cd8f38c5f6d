//! What the strict Anthropic mock refuses, as the real API does (a 400 `invalid_request_error`
//! unless noted): unknown top-level fields, a missing or non-positive `max_tokens`, roles that do
//! not alternate starting with `user`, unknown or empty blocks, a `tool_result` that answers no
//! `tool_use` of the assistant message just before it (or does not come first), a `tool_use`
//! left unanswered, bad tools and `tool_choice`, a thinking budget out of range or with
//! `temperature`, more than four `cache_control` breakpoints, and — the rule that matters for
//! thinking models — a tool turn whose thinking blocks were served by this mock but come back
//! missing, altered or not at the start of the assistant message.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::serve::{Problem, Rule};

/// Top-level fields of `POST /v1/messages`.
pub const MESSAGES_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "metadata",
    "stream",
    "service_tier",
];

const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
];

/// An Anthropic error body.
pub fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message},
        "request_id": "req_mock"})
}

fn problem(rule: Rule, param: &str, message: String) -> Problem {
    Problem::new(rule, Some(param.to_owned()), message)
}

/// Every problem of a request body. `served_thinking`: the thinking blocks this mock sent before
/// each `tool_use` id.
pub fn check_messages_request(
    body: &Value,
    served_thinking: &HashMap<String, Vec<Value>>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(obj) = body.as_object() else {
        out.push(Problem::new(
            Rule::InvalidJson,
            None,
            "body is not a JSON object".into(),
        ));
        return out;
    };
    for key in obj.keys() {
        if !MESSAGES_FIELDS.contains(&key.as_str()) {
            out.push(problem(
                Rule::UnknownField,
                key,
                format!("{key}: Extra inputs are not permitted"),
            ));
        }
    }
    let max_tokens = obj.get("max_tokens").and_then(Value::as_u64);
    if max_tokens.is_none_or(|n| n == 0) {
        out.push(problem(
            Rule::MaxTokens,
            "max_tokens",
            "max_tokens: Field required (a positive integer)".into(),
        ));
    }
    if obj
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        out.push(problem(
            Rule::MissingField,
            "model",
            "model: Field required".into(),
        ));
    }
    check_thinking(obj, max_tokens.unwrap_or(0), &mut out);
    let tool_names = check_tools(obj, &mut out);
    match obj.get("messages").and_then(Value::as_array) {
        Some(messages) if !messages.is_empty() => {
            check_messages(messages, &tool_names, served_thinking, &mut out);
            if obj.get("thinking").and_then(|t| t.get("type")) == Some(&json!("enabled")) {
                check_thinking_turn(messages, &mut out);
            }
        }
        _ => out.push(problem(
            Rule::MissingField,
            "messages",
            "messages: at least one message is required".into(),
        )),
    }
    let breakpoints = body.to_string().matches("\"cache_control\"").count();
    if breakpoints > 4 {
        out.push(problem(
            Rule::CacheControl,
            "cache_control",
            format!(
                "A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
            ),
        ));
    }
    out
}

fn check_thinking(obj: &serde_json::Map<String, Value>, max_tokens: u64, out: &mut Vec<Problem>) {
    let Some(thinking) = obj.get("thinking") else {
        return;
    };
    if thinking.get("type") != Some(&json!("enabled")) {
        return;
    }
    let budget = thinking
        .get("budget_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if budget < 1024 || budget >= max_tokens {
        out.push(problem(
            Rule::MaxTokens,
            "thinking.budget_tokens",
            format!("thinking.budget_tokens: {budget} must be ≥ 1024 and less than max_tokens"),
        ));
    }
    if obj.contains_key("temperature") || obj.contains_key("top_p") {
        out.push(problem(
            Rule::UnsupportedParameter,
            "temperature",
            "temperature and top_p may not be set with thinking".into(),
        ));
    }
}

fn check_tools(obj: &serde_json::Map<String, Value>, out: &mut Vec<Problem>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, tool) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            out.push(problem(
                Rule::ToolDefinition,
                &format!("tools.{i}.name"),
                format!("tools.{i}.name: {name:?} does not match ^[a-zA-Z0-9_-]{{1,128}}$"),
            ));
        }
        if tool.pointer("/input_schema/type") != Some(&json!("object")) {
            out.push(problem(
                Rule::ToolDefinition,
                &format!("tools.{i}.input_schema"),
                format!("tools.{i}.input_schema: type must be \"object\""),
            ));
        }
        if !names.insert(name.to_owned()) {
            out.push(problem(
                Rule::ToolDefinition,
                "tools",
                format!("Tool names must be unique ({name})"),
            ));
        }
    }
    if let Some(choice) = obj.get("tool_choice") {
        if names.is_empty() && choice.get("type") != Some(&json!("none")) {
            out.push(problem(
                Rule::ToolChoiceWithoutTools,
                "tool_choice",
                "tool_choice may only be specified while providing tools".into(),
            ));
        }
        if let Some(name) = choice.get("name").and_then(Value::as_str) {
            if !names.contains(name) {
                out.push(problem(
                    Rule::ToolDefinition,
                    "tool_choice.name",
                    format!("tool_choice names an undeclared tool {name:?}"),
                ));
            }
        }
    }
    names
}

fn blocks(message: &Value) -> Vec<Value> {
    match message.get("content") {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn ids_of(blocks: &[Value], kind: &str, key: &str) -> Vec<String> {
    blocks
        .iter()
        .filter(|b| b.get("type") == Some(&json!(kind)))
        .filter_map(|b| b.get(key).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn check_messages(
    messages: &[Value],
    tool_names: &HashSet<String>,
    served_thinking: &HashMap<String, Vec<Value>>,
    out: &mut Vec<Problem>,
) {
    let mut previous_role = "assistant";
    let mut pending_tool_uses: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages.{i}");
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "user" | "assistant") || role == previous_role {
            out.push(problem(
                Rule::RoleAlternation,
                &at,
                format!("{at}: roles must alternate between \"user\" and \"assistant\", starting with \"user\" (got {role:?} after {previous_role:?})"),
            ));
        }
        previous_role = if role == "assistant" {
            "assistant"
        } else {
            "user"
        };
        let content = blocks(message);
        if content.is_empty() {
            out.push(problem(
                Rule::ContentPart,
                &at,
                format!("{at}: content must be non-empty"),
            ));
        }
        for (j, block) in content.iter().enumerate() {
            let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
            if !BLOCK_TYPES.contains(&kind) {
                out.push(problem(
                    Rule::ContentPart,
                    &format!("{at}.content.{j}"),
                    format!("{at}.content.{j}: unknown block type {kind:?}"),
                ));
            }
            if kind == "text"
                && block
                    .get("text")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t.is_empty())
            {
                out.push(problem(
                    Rule::ContentPart,
                    &format!("{at}.content.{j}"),
                    format!("{at}.content.{j}: text content blocks must be non-empty"),
                ));
            }
        }
        let results = ids_of(&content, "tool_result", "tool_use_id");
        let first_non_result = content
            .iter()
            .position(|b| b.get("type") != Some(&json!("tool_result")))
            .unwrap_or(content.len());
        if results.len() > first_non_result {
            out.push(problem(
                Rule::ToolResultOrphan,
                &at,
                format!("{at}: tool_result blocks must come first in the user message"),
            ));
        }
        for id in &results {
            if !pending_tool_uses.contains(id) {
                out.push(problem(Rule::ToolResultOrphan, &at, format!("{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")));
            }
        }
        for id in std::mem::take(&mut pending_tool_uses) {
            if !results.contains(&id) {
                out.push(problem(Rule::ToolCallUnanswered, &at, format!("{at}: `tool_use` ids were found without `tool_result` blocks immediately after: {id}")));
            }
        }
        if role == "assistant" {
            pending_tool_uses = ids_of(&content, "tool_use", "id");
            for (j, block) in content.iter().enumerate() {
                if block.get("type") == Some(&json!("tool_use")) {
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                    if !tool_names.contains(name) {
                        out.push(problem(
                            Rule::ToolDefinition,
                            &format!("{at}.content.{j}"),
                            format!("{at}.content.{j}: tool_use names an undeclared tool {name:?}"),
                        ));
                    }
                    if !block.get("input").is_some_and(Value::is_object) {
                        out.push(problem(
                            Rule::ToolArguments,
                            &format!("{at}.content.{j}.input"),
                            format!("{at}.content.{j}.input: Input should be a valid dictionary"),
                        ));
                    }
                }
            }
            check_replayed_thinking(&at, &content, &pending_tool_uses, served_thinking, out);
        }
    }
    for id in pending_tool_uses {
        out.push(problem(
            Rule::ToolCallUnanswered,
            "messages",
            format!(
                "`tool_use` ids were found without `tool_result` blocks immediately after: {id}"
            ),
        ));
    }
}

/// A tool turn whose `tool_use` this mock served after thinking must start with exactly those
/// thinking blocks (type, text and signature byte-identical).
fn check_replayed_thinking(
    at: &str,
    content: &[Value],
    tool_uses: &[String],
    served_thinking: &HashMap<String, Vec<Value>>,
    out: &mut Vec<Problem>,
) {
    let Some(expected) = tool_uses.iter().find_map(|id| served_thinking.get(id)) else {
        return;
    };
    let got: Vec<Value> = content
        .iter()
        .take(expected.len())
        .map(|b| {
            let mut b = b.clone();
            if let Some(o) = b.as_object_mut() {
                o.remove("cache_control");
            }
            b
        })
        .collect();
    if got != *expected {
        out.push(problem(
            Rule::ThinkingReplay,
            at,
            format!("{at}: Expected `thinking` or `redacted_thinking`, but found a different block: the thinking blocks of this tool turn must be passed back unmodified and first (expected {expected:?}, got {got:?})"),
        ));
    }
}

/// With thinking on, the last assistant turn that holds a `tool_use` must start with thinking.
fn check_thinking_turn(messages: &[Value], out: &mut Vec<Problem>) {
    let Some((i, last)) = messages
        .iter()
        .enumerate()
        .rev()
        .find(|(_, m)| m.get("role") == Some(&json!("assistant")))
    else {
        return;
    };
    let content = blocks(last);
    let has_tool_use = content
        .iter()
        .any(|b| b.get("type") == Some(&json!("tool_use")));
    let first = content
        .first()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str);
    if has_tool_use && !matches!(first, Some("thinking" | "redacted_thinking")) {
        out.push(problem(
            Rule::ThinkingReplay,
            &format!("messages.{i}"),
            format!("messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found {first:?}. When `thinking` is enabled, a final `assistant` message must start with a thinking block."),
        ));
    }
}
