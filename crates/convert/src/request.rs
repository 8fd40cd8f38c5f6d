//! Responses request → Chat request.
//!
//! [`responses_request_to_chat`] is pure and provider-neutral: it builds the canonical Chat
//! request and leaves dialect choices (where replayed reasoning goes, merging system messages,
//! `max_tokens` spelling, thinking controls) to the provider step that follows.
//!
//! Invariants of the output:
//! * `instructions` come first as a `system` message; `developer`/`system` input messages follow
//!   as `system` messages in place. Role `developer` is never emitted.
//! * Every assistant tool call is answered by a `tool` message before the next other message;
//!   tool call ids are byte-exact (see the `history` module).
//! * Only `function` tools with valid, unique names are declared (see [`crate::tools`]);
//!   `tool_choice` and `parallel_tool_calls` are sent only when at least one tool is.
//! * No Responses-only field is forwarded (`store`, `include`, `reasoning`, `text`,
//!   `client_metadata`, `prompt_cache_key`, `previous_response_id`, `truncation`, `metadata`,
//!   `service_tier`, …): the Chat request is built field by field, never copied.
//! * `stream` is always set: `true` with `stream_options.include_usage` when streaming, else
//!   `false`.
//! * Replayed reasoning sits on [`ChatMessage::reasoning`], which is never serialized; call
//!   [`apply_default_reasoning_field`] (or a provider profile) to put it on the wire.

pub(crate) mod content;
mod history;

use ccp_types::chat::{ChatMessage, ChatRequest, ChatRole};
use ccp_types::responses::{Input, ResponsesRequest};
use serde_json::{json, Value};

use crate::tools::{responses_tools_to_chat, tool_choice_to_chat, ConvertedTools, ToolNameMap};
use crate::ConvertError;

pub use content::{MESSAGE_PART_SEPARATOR, OPAQUE_REASONING_PREFIX, TOOL_OUTPUT_PART_SEPARATOR};
pub use history::{ABORTED_OUTPUT, IMAGE_ONLY_OUTPUT, LOCAL_SHELL_TOOL_NAME};

/// The message field generic Chat providers (DeepSeek, Kimi, GLM, …) read replayed reasoning from.
pub const DEFAULT_REASONING_FIELD: &str = "reasoning_content";

/// What the conversion needs to know about the upstream call.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The model name to send upstream (already resolved by routing).
    pub upstream_model: String,
    /// Whether the upstream call streams (adds `stream: true` and `stream_options.include_usage`).
    pub stream: bool,
}

/// The converted request and what is needed to convert the answer back.
#[derive(Debug, Clone)]
pub struct ConvertedRequest {
    pub chat: ChatRequest,
    pub tools: ToolNameMap,
}

/// Converts a Responses request to a Chat request.
///
/// Unknown or unsupported items, parts and tools are skipped (logged at debug level). The only
/// error is a request that leaves no message at all to send.
pub fn responses_request_to_chat(
    req: &ResponsesRequest,
    opts: &RequestOptions,
) -> Result<ConvertedRequest, ConvertError> {
    let ConvertedTools { tools, names } = responses_tools_to_chat(&req.tools);

    let mut messages = Vec::new();
    if let Some(instructions) = req.instructions.as_deref().filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::text(ChatRole::System, instructions));
    }
    match &req.input {
        Input::Text(text) if text.is_empty() => {}
        Input::Text(text) => messages.push(ChatMessage::text(ChatRole::User, text.as_str())),
        Input::Items(items) => history::input_items_to_messages(items, &names, &mut messages),
    }
    if messages.is_empty() {
        let message = match &req.input {
            Input::Items(items) if !items.is_empty() => format!(
                "must contain at least one message; all {} input items were skipped (tool outputs \
                 without their call, or unsupported item types)",
                items.len()
            ),
            _ => "must contain at least one message".to_owned(),
        };
        return Err(ConvertError::InvalidRequest {
            path: "input".to_owned(),
            message,
        });
    }

    let has_tools = !tools.is_empty();
    let chat = ChatRequest {
        model: opts.upstream_model.clone(),
        messages,
        stream: Some(opts.stream),
        stream_options: opts.stream.then(|| json!({"include_usage": true})),
        max_tokens: req.max_output_tokens,
        max_completion_tokens: None,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop.as_ref().filter(|s| is_valid_stop(s)).cloned(),
        tool_choice: if has_tools {
            req.tool_choice
                .as_ref()
                .map(|c| tool_choice_to_chat(c, &names))
        } else {
            None
        },
        parallel_tool_calls: if has_tools {
            req.parallel_tool_calls
        } else {
            None
        },
        tools: has_tools.then_some(tools),
        reasoning_effort: req.reasoning.as_ref().and_then(|r| r.effort.clone()),
        response_format: req.text.as_ref().and_then(text_format_to_response_format),
        user: req.user.clone(),
        extra: Default::default(),
    };
    Ok(ConvertedRequest { chat, tools: names })
}

/// Puts replayed reasoning where generic Chat providers expect it: each message's
/// [`ChatMessage::reasoning`] text moves into `extra["reasoning_content"]` (skipped when empty)
/// and the field is cleared. Opaque state has no generic field and is dropped.
///
/// This is the default until a provider profile chooses the field (`reasoning`,
/// `reasoning_details`, `<think>` text, …); call one or the other, not both.
pub fn apply_default_reasoning_field(chat: &mut ChatRequest) {
    for msg in &mut chat.messages {
        if let Some(replay) = msg.reasoning.take() {
            if !replay.text.is_empty() {
                msg.extra.insert(
                    DEFAULT_REASONING_FIELD.to_owned(),
                    Value::String(replay.text),
                );
            }
        }
    }
}

/// `stop` as Chat accepts it: a string or an array of strings.
fn is_valid_stop(stop: &Value) -> bool {
    match stop {
        Value::String(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
        _ => false,
    }
}

/// `text.format` → `response_format`: `json_schema` and `json_object` map; `text` (the default)
/// and unknown formats send nothing.
fn text_format_to_response_format(text: &Value) -> Option<Value> {
    let format = text.get("format")?;
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => {
            let mut schema = serde_json::Map::new();
            let name = format
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("response");
            schema.insert("name".to_owned(), Value::from(name));
            for key in ["description", "schema", "strict"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.to_owned(), v.clone());
                }
            }
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        "json_object" => Some(json!({"type": "json_object"})),
        _ => None,
    }
}

/// Parses a JSON body like the server does and converts it (non-streaming, model `m`).
#[cfg(test)]
fn convert_json(body: Value) -> Result<ConvertedRequest, ConvertError> {
    let bytes = serde_json::to_vec(&body).map_err(|e| ConvertError::InvalidRequest {
        path: "test".into(),
        message: e.to_string(),
    })?;
    let req =
        ccp_types::responses::parse_request(&bytes).map_err(|e| ConvertError::InvalidRequest {
            path: e.path,
            message: e.message,
        })?;
    responses_request_to_chat(
        &req,
        &RequestOptions {
            upstream_model: "m".into(),
            stream: false,
        },
    )
}

#[cfg(test)]
mod tests;
