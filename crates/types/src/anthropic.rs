//! Anthropic Messages API types: the request the proxy sends to `POST /v1/messages`, the
//! `Message` a non-streaming call answers, and the SSE events of a streaming one.
//!
//! Invariants: requests serialize canonically (absent optional fields are omitted). Everything
//! read from the upstream is tolerant: an unknown content block type, delta type or event type
//! deserializes to an `Unknown` arm and is never a hard error (the API adds block types such as
//! `server_tool_use` and events over time). Thinking blocks keep their `thinking` and `signature`
//! strings exactly as received, since they must go back upstream unmodified.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Messages request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MessagesRequest {
    pub model: String,
    /// Required by the API; the proxy always sends it.
    pub max_tokens: u64,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// The role of a message: Messages has only these two; the system prompt is top-level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

/// `cache_control: {"type": "ephemeral"}`: a prompt-caching breakpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: String,
}

impl CacheControl {
    /// The default five-minute breakpoint.
    pub fn ephemeral() -> Self {
        CacheControl {
            kind: "ephemeral".to_owned(),
        }
    }
}

/// A text block of the top-level `system` prompt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SystemBlock {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

impl SystemBlock {
    /// A `text` block without a breakpoint.
    pub fn text(text: impl Into<String>) -> Self {
        SystemBlock {
            kind: "text".to_owned(),
            text: text.into(),
            cache_control: None,
        }
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// A content block, in a request or an answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    Image {
        source: ImageSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        content: Vec<ContentBlock>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// Extended thinking; `signature` must be replayed with the text unchanged.
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    /// Thinking the API encrypted; `data` is opaque and replayed unchanged.
    RedactedThinking { data: String },
    /// A block type this proxy does not know (server tools, citations, …): skipped.
    #[serde(other)]
    Unknown,
}

impl ContentBlock {
    /// A text block without a breakpoint.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text {
            text: text.into(),
            cache_control: None,
        }
    }

    /// The block's breakpoint slot, if the API allows one on this block type (thinking blocks
    /// cannot carry `cache_control`).
    pub fn cache_control_mut(&mut self) -> Option<&mut Option<CacheControl>> {
        match self {
            ContentBlock::Text { cache_control, .. }
            | ContentBlock::Image { cache_control, .. }
            | ContentBlock::ToolUse { cache_control, .. }
            | ContentBlock::ToolResult { cache_control, .. } => Some(cache_control),
            ContentBlock::Thinking { .. }
            | ContentBlock::RedactedThinking { .. }
            | ContentBlock::Unknown => None,
        }
    }
}

/// A client tool declaration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

/// `thinking`: extended thinking with a token budget (below `max_tokens`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Thinking {
    Enabled { budget_tokens: u64 },
    Disabled,
}

/// Token counts. Anthropic's `input_tokens` excludes the cached ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

/// A whole answer (non-streaming), or the `message` of `message_start` (content empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MessageResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Usage,
}

/// `error` of an error body or an `error` event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// The `delta` of `content_block_delta`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    /// `citations_delta` and newer kinds: ignored.
    #[serde(other)]
    Unknown,
}

/// The `delta` of `message_delta`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MessageDelta {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// One streaming event (the SSE `data:`; its `type` repeats the SSE `event:` name).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessageResponse,
    },
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: ErrorBody,
    },
    /// An event type this proxy does not know: ignored.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_events_blocks_and_deltas_are_tolerated() {
        let ev: StreamEvent =
            serde_json::from_value(json!({"type": "brand_new_event", "x": 1})).unwrap();
        assert_eq!(ev, StreamEvent::Unknown);
        let ev: StreamEvent = serde_json::from_value(json!({"type": "content_block_start",
            "index": 2, "content_block": {"type": "server_tool_use", "id": "s", "name": "web"}}))
        .unwrap();
        assert_eq!(
            ev,
            StreamEvent::ContentBlockStart {
                index: 2,
                content_block: ContentBlock::Unknown
            }
        );
        let ev: StreamEvent = serde_json::from_value(json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "citations_delta", "citation": {}}}))
        .unwrap();
        assert!(matches!(
            ev,
            StreamEvent::ContentBlockDelta {
                delta: BlockDelta::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn requests_serialize_canonically() {
        let req = MessagesRequest {
            model: "claude".into(),
            max_tokens: 10,
            messages: vec![Message {
                role: Role::User,
                content: vec![ContentBlock::text("hi")],
            }],
            tool_choice: Some(ToolChoice::Auto {
                disable_parallel_tool_use: Some(true),
            }),
            thinking: Some(Thinking::Enabled {
                budget_tokens: 1024,
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"model": "claude", "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
                "thinking": {"type": "enabled", "budget_tokens": 1024}})
        );
    }

    #[test]
    fn message_and_error_events_parse() {
        let ev: StreamEvent = serde_json::from_value(json!({"type": "message_start", "message":
            {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
             "content": [], "stop_reason": null,
             "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}}}))
        .unwrap();
        let StreamEvent::MessageStart { message } = ev else {
            panic!("not message_start")
        };
        assert_eq!(message.usage.cache_read_input_tokens, Some(100));
        let ev: StreamEvent = serde_json::from_value(json!({"type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        .unwrap();
        assert_eq!(
            ev,
            StreamEvent::Error {
                error: ErrorBody {
                    kind: "overloaded_error".into(),
                    message: "Overloaded".into()
                }
            }
        );
    }
}
