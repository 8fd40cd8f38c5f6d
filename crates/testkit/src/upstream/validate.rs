//! Provider-strict validation of Chat Completions requests.
//!
//! [`check_chat_request`] applies every rule enabled in [`Strictness`] and returns one
//! [`Problem`] per broken rule, so a test sees all of them at once.
//!
//! Invariant: this module is pure (no IO); the server turns the first problem into the HTTP
//! error a provider would send and records all of them as violations.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::rules::{Strictness, CHAT_FIELDS, REASONING_REQUIRED_MESSAGE, RESPONSES_ONLY_FIELDS};
use crate::serve::{Problem, Rule};

/// Checks the `Authorization` header against `rules.expected_key`.
pub fn check_auth(rules: &Strictness, authorization: Option<&str>) -> Option<Problem> {
    let key = rules.expected_key.as_deref()?;
    if authorization == Some(format!("Bearer {key}").as_str()) {
        return None;
    }
    let shown = authorization.map_or_else(|| "none".to_owned(), |a| format!("`{a}`"));
    Some(Problem::new(
        Rule::Auth,
        None,
        format!("Incorrect API key provided: expected `Bearer {key}`, got {shown}"),
    ))
}

/// Validates a Chat Completions request body; an empty result means a strict provider would
/// accept it.
pub fn check_chat_request(rules: &Strictness, body: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(obj) = body.as_object() else {
        out.push(Problem::new(
            Rule::InvalidJson,
            None,
            "request body must be a JSON object".to_owned(),
        ));
        return out;
    };
    check_fields(rules, obj, &mut out);
    let has_tools = obj
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if rules.reject_tool_choice_without_tools && !has_tools {
        for field in ["tool_choice", "parallel_tool_calls"] {
            if obj.contains_key(field) {
                out.push(Problem::new(
                    Rule::ToolChoiceWithoutTools,
                    Some(field.to_owned()),
                    format!("`{field}` is only allowed when `tools` are specified"),
                ));
            }
        }
    }
    if rules.check_tool_definitions {
        check_tool_definitions(obj, &mut out);
    }
    if rules.require_stream_usage {
        check_stream_options(obj, &mut out);
    }
    if let Some(limit) = rules.max_tokens_limit {
        for field in ["max_tokens", "max_completion_tokens"] {
            match obj.get(field) {
                None | Some(Value::Null) => {}
                Some(v) => match v.as_u64() {
                    Some(n) if n >= 1 && n <= limit => {}
                    _ => out.push(Problem::new(
                        Rule::MaxTokens,
                        Some(field.to_owned()),
                        format!("`{field}` = {v} is invalid: must be an integer in [1, {limit}]"),
                    )),
                },
            }
        }
    }
    match obj.get("messages").and_then(Value::as_array) {
        Some(messages) if !messages.is_empty() => check_messages(rules, messages, &mut out),
        _ => out.push(Problem::new(
            Rule::MissingField,
            Some("messages".to_owned()),
            "`messages` must be a non-empty array".to_owned(),
        )),
    }
    out
}

fn check_fields(rules: &Strictness, obj: &Map<String, Value>, out: &mut Vec<Problem>) {
    if obj
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        out.push(Problem::new(
            Rule::MissingField,
            Some("model".to_owned()),
            "`model` must be a non-empty string".to_owned(),
        ));
    }
    for key in obj.keys() {
        let known = CHAT_FIELDS.contains(&key.as_str())
            || rules.extra_allowed_fields.iter().any(|f| f == key);
        if known {
            continue;
        }
        if RESPONSES_ONLY_FIELDS.contains(&key.as_str()) {
            if rules.reject_responses_fields {
                out.push(Problem::new(
                    Rule::ResponsesField,
                    Some(key.clone()),
                    format!("`{key}` is a Responses-only field, not a Chat Completions parameter"),
                ));
            }
        } else if rules.reject_unknown_fields {
            out.push(Problem::new(
                Rule::UnknownField,
                Some(key.clone()),
                format!("Unrecognized request argument supplied: {key}"),
            ));
        }
    }
}

fn check_stream_options(obj: &Map<String, Value>, out: &mut Vec<Problem>) {
    let streaming = obj.get("stream").and_then(Value::as_bool) == Some(true);
    let options = obj.get("stream_options").filter(|v| !v.is_null());
    let include_usage = options
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    if streaming && !include_usage {
        out.push(Problem::new(
            Rule::StreamUsage,
            Some("stream_options".to_owned()),
            "`stream: true` without `stream_options.include_usage: true`: usage would be lost"
                .to_owned(),
        ));
    }
    if !streaming && options.is_some() {
        out.push(Problem::new(
            Rule::StreamUsage,
            Some("stream_options".to_owned()),
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".to_owned(),
        ));
    }
}

fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_tool_definitions(obj: &Map<String, Value>, out: &mut Vec<Problem>) {
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(tools)) => tools,
        Some(_) => {
            out.push(Problem::new(
                Rule::ToolDefinition,
                Some("tools".to_owned()),
                "`tools` must be an array".to_owned(),
            ));
            return;
        }
    };
    let mut names = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        let param = Some(format!("tools[{i}]"));
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or("<none>");
        if kind != "function" {
            out.push(Problem::new(
                Rule::ToolDefinition,
                param,
                format!("tools[{i}]: unknown variant `{kind}`, expected `function`"),
            ));
            continue;
        }
        let Some(function) = tool.get("function").and_then(Value::as_object) else {
            out.push(Problem::new(
                Rule::ToolDefinition,
                param,
                format!("tools[{i}]: missing `function` object"),
            ));
            continue;
        };
        let name = function.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_tool_name(name) {
            out.push(Problem::new(
                Rule::ToolDefinition,
                param.clone(),
                format!("tools[{i}]: function name `{name}` must match ^[A-Za-z0-9_-]{{1,64}}$"),
            ));
        } else if !names.insert(name) {
            out.push(Problem::new(
                Rule::ToolDefinition,
                param.clone(),
                format!("tools[{i}]: duplicate function name `{name}`"),
            ));
        }
        if function
            .get("parameters")
            .is_some_and(|p| !p.is_object() && !p.is_null())
        {
            out.push(Problem::new(
                Rule::ToolDefinition,
                param,
                format!("tools[{i}]: `parameters` must be a JSON Schema object"),
            ));
        }
    }
    let forced = obj
        .get("tool_choice")
        .and_then(|c| c.get("function"))
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str);
    if let Some(forced) = forced {
        if !names.contains(forced) {
            out.push(Problem::new(
                Rule::ToolDefinition,
                Some("tool_choice".to_owned()),
                format!("`tool_choice` names `{forced}`, which is not among the tools"),
            ));
        }
    }
}

fn check_messages(rules: &Strictness, messages: &[Value], out: &mut Vec<Problem>) {
    let mut systems = 0usize;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        match role {
            Some("system") => {
                systems += 1;
                if rules.single_leading_system && (i != 0 || systems > 1) {
                    out.push(Problem::new(
                        Rule::SystemMessage,
                        Some(format!("messages[{i}]")),
                        format!(
                            "messages[{i}]: invalid params, chat content has invalid message \
                             role: system (2013) — only the first message may be a system message"
                        ),
                    ));
                }
            }
            Some("developer") => {
                if rules.reject_developer_role {
                    out.push(Problem::new(
                        Rule::DeveloperRole,
                        Some(format!("messages[{i}].role")),
                        format!("messages[{i}]: role `developer` is not supported, use `system`"),
                    ));
                }
            }
            Some("user" | "assistant" | "tool") => {}
            other => {
                if rules.reject_unknown_roles {
                    let shown = other.map_or_else(|| "<missing>".to_owned(), |r| format!("`{r}`"));
                    out.push(Problem::new(
                        Rule::UnknownRole,
                        Some(format!("messages[{i}].role")),
                        format!(
                            "messages[{i}]: role {shown} is not one of system, user, assistant, tool"
                        ),
                    ));
                }
            }
        }
        // Content rules depend on the role; a message without a known role is already reported.
        let known_role = matches!(
            role,
            Some("system" | "developer" | "user" | "assistant" | "tool")
        );
        if rules.check_content_parts && known_role {
            check_content(i, role.unwrap_or(""), message, out);
        }
        if role == Some("assistant") {
            check_assistant_tool_calls(rules, i, message, out);
        }
    }
    if rules.check_tool_pairing {
        check_tool_pairing(messages, out);
    }
}

fn check_content(i: usize, role: &str, message: &Value, out: &mut Vec<Problem>) {
    let param = Some(format!("messages[{i}].content"));
    let allowed: &[&str] = match role {
        "user" => &["text", "image_url", "input_audio", "file"],
        "assistant" => &["text", "refusal"],
        _ => &["text"],
    };
    match message.get("content") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) if role == "assistant" => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("<none>");
                if !allowed.contains(&kind) {
                    out.push(Problem::new(
                        Rule::ContentPart,
                        param.clone(),
                        format!(
                            "messages[{i}].content[{j}]: unknown content part type `{kind}` for \
                             role `{role}` (expected one of {allowed:?})"
                        ),
                    ));
                } else if kind == "text" && !part.get("text").is_some_and(Value::is_string) {
                    out.push(Problem::new(
                        Rule::ContentPart,
                        param.clone(),
                        format!("messages[{i}].content[{j}]: text part without a string `text`"),
                    ));
                } else if kind == "image_url"
                    && !part
                        .get("image_url")
                        .and_then(|u| u.get("url"))
                        .is_some_and(Value::is_string)
                {
                    out.push(Problem::new(
                        Rule::ContentPart,
                        param.clone(),
                        format!(
                            "messages[{i}].content[{j}]: image_url part without `image_url.url`"
                        ),
                    ));
                }
            }
        }
        other => {
            let shown = other.map_or_else(|| "missing".to_owned(), |v| format!("`{v}`"));
            out.push(Problem::new(
                Rule::ContentPart,
                param,
                format!(
                    "messages[{i}]: content must be a string or an array of parts, got {shown}"
                ),
            ));
        }
    }
}

fn tool_calls_of(message: &Value) -> &[Value] {
    message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn check_assistant_tool_calls(
    rules: &Strictness,
    i: usize,
    message: &Value,
    out: &mut Vec<Problem>,
) {
    let calls = tool_calls_of(message);
    if calls.is_empty() {
        return;
    }
    if rules.require_reasoning_on_tool_calls {
        let field = rules.reasoning_field.as_str();
        let present = message
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty());
        if !present {
            out.push(Problem::new(
                Rule::ReasoningMissing,
                Some(format!("messages[{i}].{field}")),
                format!(
                    "{REASONING_REQUIRED_MESSAGE} (messages[{i}] has tool_calls but no non-empty \
                     `{field}`)"
                ),
            ));
        }
    }
    if !rules.check_history_arguments {
        return;
    }
    for (j, call) in calls.iter().enumerate() {
        let param = Some(format!("messages[{i}].tool_calls[{j}]"));
        let id_ok = call
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let type_ok = call.get("type").and_then(Value::as_str) == Some("function");
        let name_ok = call
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !(id_ok && type_ok && name_ok) {
            out.push(Problem::new(
                Rule::ToolArguments,
                param.clone(),
                format!(
                    "messages[{i}].tool_calls[{j}]: a tool call needs a non-empty `id`, \
                     `type: \"function\"` and `function.name`"
                ),
            ));
        }
        match call.get("function").and_then(|f| f.get("arguments")) {
            Some(Value::String(args)) => {
                if serde_json::from_str::<Value>(args).is_err() {
                    out.push(Problem::new(
                        Rule::ToolArguments,
                        param,
                        format!(
                            "messages[{i}].tool_calls[{j}]: `function.arguments` is not valid \
                             JSON: {args:?}"
                        ),
                    ));
                }
            }
            other => {
                let shown = other.map_or_else(|| "missing".to_owned(), ToString::to_string);
                out.push(Problem::new(
                    Rule::ToolArguments,
                    param,
                    format!(
                        "messages[{i}].tool_calls[{j}]: `function.arguments` must be a JSON \
                         string, got {shown}"
                    ),
                ));
            }
        }
    }
}

/// An assistant message whose tool calls are still waiting for their tool messages.
struct OpenCalls {
    assistant: usize,
    ids: Vec<String>,
    answered: HashSet<String>,
}

impl OpenCalls {
    fn close(self, before: Option<usize>, out: &mut Vec<Problem>) {
        let missing: Vec<&str> = self
            .ids
            .iter()
            .filter(|id| !self.answered.contains(*id))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return;
        }
        let place = before.map_or_else(
            || "before the end of messages".to_owned(),
            |b| format!("before messages[{b}]"),
        );
        out.push(Problem::new(
            Rule::ToolCallUnanswered,
            Some(format!("messages[{}]", self.assistant)),
            format!(
                "An assistant message with 'tool_calls' must be followed by tool messages \
                 responding to each 'tool_call_id': messages[{}] tool call(s) {missing:?} have no \
                 tool message {place}",
                self.assistant
            ),
        ));
    }
}

fn check_tool_pairing(messages: &[Value], out: &mut Vec<Problem>) {
    let mut open: Option<OpenCalls> = None;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        if role == Some("tool") {
            let id = message
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let problem = match open.as_mut() {
                None => Some(format!(
                    "messages[{i}]: tool message (tool_call_id `{id}`) must follow an assistant \
                     message with 'tool_calls'"
                )),
                Some(run) if !run.ids.iter().any(|c| c == id) => Some(format!(
                    "messages[{i}]: tool_call_id `{id}` does not answer any tool call of \
                     messages[{}] (ids {:?})",
                    run.assistant, run.ids
                )),
                Some(run) => (!run.answered.insert(id.to_owned()))
                    .then(|| format!("messages[{i}]: tool_call_id `{id}` is answered twice")),
            };
            if let Some(message) = problem {
                out.push(Problem::new(
                    Rule::ToolResultOrphan,
                    Some(format!("messages[{i}].tool_call_id")),
                    message,
                ));
            }
            continue;
        }
        if let Some(run) = open.take() {
            run.close(Some(i), out);
        }
        let calls = tool_calls_of(message);
        if role == Some("assistant") && !calls.is_empty() {
            open = Some(OpenCalls {
                assistant: i,
                ids: calls
                    .iter()
                    .map(|c| c.get("id").and_then(Value::as_str).unwrap_or("").to_owned())
                    .collect(),
                answered: HashSet::new(),
            });
        }
    }
    if let Some(run) = open.take() {
        run.close(None, out);
    }
}
