//! Message and parameter shaping: roles, system messages, content, replayed reasoning, token
//! limit, tools, sampling, and finally `extra_body` / `drop_fields`.

use ccp_convert::request::MESSAGE_PART_SEPARATOR;
use ccp_types::chat::{
    ChatContent, ChatContentPart, ChatMessage, ChatRequest, ChatRole, ReasoningReplay,
};
use serde_json::{json, Map, Value};

use super::{
    DeveloperRole, MaxTokensField, ReasoningField, Rules, SystemMessages, TemperaturePolicy,
    ToolChoicePolicy,
};

/// Roles, system messages, content, names and reasoning replay.
pub(super) fn shape_messages(chat: &mut ChatRequest, rules: &Rules) {
    if rules.developer_role == DeveloperRole::System {
        for msg in &mut chat.messages {
            if msg.role == ChatRole::Developer {
                msg.role = ChatRole::System;
            }
        }
    }
    match rules.system_messages {
        SystemMessages::Keep => {}
        SystemMessages::MergeLeading => merge_leading_system(&mut chat.messages),
        SystemMessages::MergeAll => merge_all_system(&mut chat.messages),
    }
    for msg in &mut chat.messages {
        if rules.flatten_content {
            flatten_text_parts(msg);
        }
        if rules.drop_message_names {
            msg.name = None;
        }
        place_reasoning(msg, rules);
    }
}

/// Token limit, tools, stream options and sampling.
pub(super) fn shape_parameters(chat: &mut ChatRequest, rules: &Rules, stream: bool) {
    let limit = chat.max_tokens.take().or(chat.max_completion_tokens.take());
    match rules.max_tokens_field {
        MaxTokensField::MaxTokens => chat.max_tokens = limit,
        MaxTokensField::MaxCompletionTokens => chat.max_completion_tokens = limit,
    }

    let has_tools = chat.tools.as_ref().is_some_and(|t| !t.is_empty());
    if !rules.keep_strict {
        for tool in chat.tools.iter_mut().flatten() {
            tool.function.strict = None;
        }
    }
    chat.tool_choice = match chat.tool_choice.take() {
        Some(choice) if has_tools => shape_tool_choice(choice, rules.tool_choice),
        _ => None,
    };
    if !has_tools || !rules.parallel_tool_calls {
        chat.parallel_tool_calls = None;
    }

    chat.stream_options = if stream && rules.stream_options {
        Some(
            chat.stream_options
                .take()
                .unwrap_or_else(|| json!({"include_usage": true})),
        )
    } else {
        None
    };

    match rules.temperature {
        TemperaturePolicy::Keep => {}
        TemperaturePolicy::Drop => {
            chat.temperature = None;
            chat.top_p = None;
        }
        TemperaturePolicy::Force(value) => {
            chat.temperature = Some(value);
            chat.top_p = None;
        }
    }
    if let (Some(max), Some(t)) = (rules.max_temperature, chat.temperature) {
        if t > max {
            chat.temperature = Some(max);
        }
    }
}

fn shape_tool_choice(choice: Value, policy: ToolChoicePolicy) -> Option<Value> {
    let auto = || Value::from("auto");
    match policy {
        ToolChoicePolicy::Keep => Some(choice),
        ToolChoicePolicy::RequiredToAuto if choice == "required" => Some(auto()),
        ToolChoicePolicy::RequiredToAuto => Some(choice),
        ToolChoicePolicy::AutoOnly if choice == "auto" || choice == "none" => Some(choice),
        ToolChoicePolicy::AutoOnly => Some(auto()),
        ToolChoicePolicy::Drop => None,
    }
}

/// The text of a system message, `None` when it has none.
fn system_text(msg: &ChatMessage) -> Option<String> {
    let text = match msg.content.as_ref()? {
        ChatContent::Text(t) => t.clone(),
        ChatContent::Parts(parts) => join_text_parts(parts),
    };
    (!text.is_empty()).then_some(text)
}

fn merged_system(texts: Vec<String>) -> ChatMessage {
    ChatMessage::text(ChatRole::System, texts.join(MESSAGE_PART_SEPARATOR))
}

fn merge_leading_system(messages: &mut Vec<ChatMessage>) {
    let run = messages
        .iter()
        .take_while(|m| m.role == ChatRole::System)
        .count();
    if run < 2 {
        return;
    }
    let texts: Vec<String> = messages
        .drain(..run)
        .filter_map(|m| system_text(&m))
        .collect();
    messages.insert(0, merged_system(texts));
}

fn merge_all_system(messages: &mut Vec<ChatMessage>) {
    let count = messages
        .iter()
        .filter(|m| m.role == ChatRole::System)
        .count();
    let already_single_head = count == 1 && messages[0].role == ChatRole::System;
    if count == 0 || already_single_head {
        return;
    }
    let mut texts = Vec::new();
    messages.retain(|m| {
        if m.role != ChatRole::System {
            return true;
        }
        texts.extend(system_text(m));
        false
    });
    messages.insert(0, merged_system(texts));
}

fn join_text_parts(parts: &[ChatContentPart]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            ChatContentPart::Text { text } if !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join(MESSAGE_PART_SEPARATOR)
}

fn flatten_text_parts(msg: &mut ChatMessage) {
    if let Some(content @ ChatContent::Parts(_)) = &mut msg.content {
        if content.is_text_only() {
            if let ChatContent::Parts(parts) = content {
                *content = ChatContent::Text(join_text_parts(parts));
            }
        }
    }
}

/// Moves [`ChatMessage::reasoning`] to the provider's field (assistant messages only; any other
/// role's replay is dropped) and enforces the non-empty rule on tool-call turns.
fn place_reasoning(msg: &mut ChatMessage, rules: &Rules) {
    let replay = msg.reasoning.take();
    if msg.role != ChatRole::Assistant {
        return;
    }
    let has_calls = msg.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
    let needs_value = rules.require_reasoning_on_tool_calls && has_calls;
    let text = replay
        .as_ref()
        .map(|r| r.text.as_str())
        .filter(|t| !t.trim().is_empty());
    let placeholder = || rules.reasoning_placeholder.to_string();
    match rules.reasoning_field {
        ReasoningField::Omit => {}
        ReasoningField::ReasoningContent | ReasoningField::Reasoning => {
            let field = rules.reasoning_field.as_str();
            let value = text
                .map(str::to_owned)
                .or_else(|| needs_value.then(placeholder));
            if let Some(v) = value {
                msg.extra.insert(field.to_owned(), Value::String(v));
            }
        }
        ReasoningField::ReasoningDetails => {
            let details = replay
                .as_ref()
                .and_then(opaque_details)
                .or_else(|| text.map(text_details))
                .or_else(|| needs_value.then(|| text_details(&placeholder())));
            if let Some(details) = details {
                msg.extra.insert("reasoning_details".to_owned(), details);
            }
        }
        ReasoningField::ThinkTags => {
            let value = text
                .map(str::to_owned)
                .or_else(|| needs_value.then(placeholder));
            if let Some(reasoning) = value {
                prefix_think_block(msg, &reasoning);
            }
        }
    }
}

/// The provider's own `reasoning_details` array kept in the opaque replay: either the array
/// itself or the `ccp:v1` object holding it.
fn opaque_details(replay: &ReasoningReplay) -> Option<Value> {
    let opaque = replay.opaque.as_ref()?;
    let details = match opaque {
        Value::Array(_) => opaque,
        Value::Object(map) => map.get("reasoning_details")?,
        _ => return None,
    };
    details
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|_| details.clone())
}

fn text_details(text: &str) -> Value {
    json!([{"type": "reasoning.text", "text": text}])
}

/// Puts `<think>reasoning</think>` in front of the content, the way MiniMax wrote it: the
/// reasoning on its own lines (newlines added only where the text lacks them).
fn prefix_think_block(msg: &mut ChatMessage, reasoning: &str) {
    let open = if reasoning.starts_with('\n') {
        ""
    } else {
        "\n"
    };
    let close = if reasoning.ends_with('\n') { "" } else { "\n" };
    let block = format!("<think>{open}{reasoning}{close}</think>\n\n");
    msg.content = Some(match msg.content.take() {
        None => ChatContent::Text(block.trim_end().to_owned()),
        Some(ChatContent::Text(t)) if t.is_empty() => {
            ChatContent::Text(block.trim_end().to_owned())
        }
        Some(ChatContent::Text(t)) => ChatContent::Text(format!("{block}{t}")),
        Some(ChatContent::Parts(mut parts)) => {
            parts.insert(0, ChatContentPart::Text { text: block });
            ChatContent::Parts(parts)
        }
    });
}

/// Merges `extra_body` (objects recursively; `null` removes a key) and then removes
/// `drop_fields` (dotted paths; arrays on the way apply to every element). Goes through JSON so
/// typed fields and provider extras are treated alike.
pub(super) fn apply_extra_body_and_drops(
    chat: &mut ChatRequest,
    extra_body: &Map<String, Value>,
    drop_fields: &[String],
) {
    if extra_body.is_empty() && drop_fields.is_empty() {
        return;
    }
    match with_body_edits(chat, extra_body, drop_fields) {
        Ok(edited) => *chat = edited,
        Err(e) => tracing::warn!(
            error = %e,
            "quirks.extra_body / quirks.drop_fields left the request invalid; sending it unedited"
        ),
    }
}

/// The request after `extra_body` and `drop_fields`; also used to validate quirks.
pub(crate) fn with_body_edits(
    chat: &ChatRequest,
    extra_body: &Map<String, Value>,
    drop_fields: &[String],
) -> Result<ChatRequest, serde_json::Error> {
    let mut body = serde_json::to_value(chat)?;
    if let Value::Object(map) = &mut body {
        merge_object(map, extra_body);
    }
    for path in drop_fields {
        let segments: Vec<&str> = path.split('.').collect();
        remove_path(&mut body, &segments);
    }
    serde_json::from_value(body)
}

fn merge_object(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Object(existing)), Value::Object(inner)) => merge_object(existing, inner),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

fn remove_path(value: &mut Value, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| remove_path(v, segments)),
        Value::Object(map) if rest.is_empty() => {
            map.remove(*first);
        }
        Value::Object(map) => {
            if let Some(inner) = map.get_mut(*first) {
                remove_path(inner, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::COMPATIBLE_RULES;
    use ccp_types::chat::{ChatFunctionCall, ChatToolCall};

    fn assistant_call(reasoning: Option<&str>) -> ChatMessage {
        let mut m = ChatMessage::text(ChatRole::Assistant, "");
        m.content = None;
        m.tool_calls = Some(vec![ChatToolCall {
            id: "c1".into(),
            kind: "function".into(),
            function: ChatFunctionCall {
                name: "f".into(),
                arguments: "{}".into(),
            },
            extra: Map::new(),
        }]);
        m.reasoning = reasoning.map(|t| ReasoningReplay {
            text: t.into(),
            opaque: None,
        });
        m
    }

    #[test]
    fn merge_all_moves_mid_conversation_system_to_the_head() {
        let mut msgs = vec![
            ChatMessage::text(ChatRole::User, "u"),
            ChatMessage::text(ChatRole::System, "a"),
            ChatMessage::text(ChatRole::System, "b"),
        ];
        merge_all_system(&mut msgs);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], ChatMessage::text(ChatRole::System, "a\n\nb"));
        assert_eq!(msgs[1].role, ChatRole::User);
    }

    #[test]
    fn merge_leading_keeps_later_system_messages() {
        let mut msgs = vec![
            ChatMessage::text(ChatRole::System, "a"),
            ChatMessage::text(ChatRole::System, "b"),
            ChatMessage::text(ChatRole::User, "u"),
            ChatMessage::text(ChatRole::System, "c"),
        ];
        merge_leading_system(&mut msgs);
        let roles: Vec<ChatRole> = msgs.iter().map(|m| m.role).collect();
        assert_eq!(roles, [ChatRole::System, ChatRole::User, ChatRole::System]);
        assert_eq!(msgs[0], ChatMessage::text(ChatRole::System, "a\n\nb"));
    }

    #[test]
    fn whitespace_reasoning_gets_the_placeholder() {
        let rules = Rules {
            require_reasoning_on_tool_calls: true,
            ..COMPATIBLE_RULES
        };
        let mut m = assistant_call(Some("  \n"));
        place_reasoning(&mut m, &rules);
        assert_eq!(
            m.extra["reasoning_content"],
            json!(crate::profile::REASONING_PLACEHOLDER)
        );
        assert!(m.reasoning.is_none());
    }

    #[test]
    fn think_tags_fill_empty_content() {
        let rules = Rules {
            reasoning_field: ReasoningField::ThinkTags,
            ..COMPATIBLE_RULES
        };
        let mut m = assistant_call(Some("plan"));
        place_reasoning(&mut m, &rules);
        assert_eq!(
            m.content,
            Some(ChatContent::Text("<think>\nplan\n</think>".into()))
        );
    }

    #[test]
    fn think_tags_keep_the_streamed_newlines() {
        let rules = Rules {
            reasoning_field: ReasoningField::ThinkTags,
            ..COMPATIBLE_RULES
        };
        let mut m = assistant_call(Some("\nplan\n"));
        m.content = Some(ChatContent::Text("Hi".into()));
        place_reasoning(&mut m, &rules);
        assert_eq!(
            m.content,
            Some(ChatContent::Text("<think>\nplan\n</think>\n\nHi".into()))
        );
    }

    #[test]
    fn drop_paths_reach_into_arrays() {
        let mut v =
            json!({"tools":[{"function":{"strict":true,"name":"a"}},{"function":{"name":"b"}}]});
        remove_path(&mut v, &["tools", "function", "strict"]);
        assert_eq!(
            v,
            json!({"tools":[{"function":{"name":"a"}},{"function":{"name":"b"}}]})
        );
    }
}
