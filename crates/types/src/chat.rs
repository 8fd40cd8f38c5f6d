//! Chat Completions types: the request the proxy sends upstream and the chunks and completions it
//! reads back.
//!
//! Request types serialize canonically (absent fields are omitted). Provider-specific request
//! fields (`thinking`, `enable_thinking`, `reasoning`, …) go in `extra`. Response types accept
//! every deviation providers are known to produce: usage inside `choices[0]`, `""` ids, missing
//! `index`, arguments given as objects, reasoning under three different names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Chat Completions request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ChatTool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Provider-specific top-level fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Chat message role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub role: ChatRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ChatContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChatToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Reasoning to replay on an assistant turn. The provider profile decides the wire field
    /// (`reasoning_content`, `reasoning`, `reasoning_details`, `<think>` text) and moves it into
    /// `extra`; it is never serialized from here.
    #[serde(skip)]
    pub reasoning: Option<ReasoningReplay>,
    /// Provider-specific message fields (`reasoning_content`, `reasoning_details`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    /// A message with only a role and text content.
    pub fn text(role: ChatRole, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(ChatContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            reasoning: None,
            extra: Map::new(),
        }
    }
}

/// Reasoning carried over from a replayed Responses `reasoning` item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReasoningReplay {
    /// The reasoning text exactly as it was streamed.
    pub text: String,
    /// Opaque provider state decoded from `encrypted_content` (e.g. OpenRouter
    /// `reasoning_details`), if the proxy put it there.
    pub opaque: Option<Value>,
}

/// Message content: a string or typed parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ChatContent {
    Text(String),
    Parts(Vec<ChatContentPart>),
}

impl ChatContent {
    /// True when every part is text (so the content can be flattened to a string).
    pub fn is_text_only(&self) -> bool {
        match self {
            ChatContent::Text(_) => true,
            ChatContent::Parts(p) => p.iter().all(|p| matches!(p, ChatContentPart::Text { .. })),
        }
    }

    /// Concatenated text of all text parts.
    pub fn joined_text(&self) -> String {
        match self {
            ChatContent::Text(t) => t.clone(),
            ChatContent::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    if let ChatContentPart::Text { text } = p {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(text);
                    }
                }
                out
            }
        }
    }
}

/// A typed content part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// `{"url", "detail"?}` of an `image_url` part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call on an assistant message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: ChatFunctionCall,
    /// Provider extras that must round-trip (e.g. Gemini `extra_content`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn function_type() -> String {
    "function".to_owned()
}

/// `{"name", "arguments"}` of a tool call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatFunctionCall {
    pub name: String,
    pub arguments: String,
}

/// A tool declared to the upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: ChatFunctionDef,
}

/// A function definition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatFunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Responses from the upstream.
// ---------------------------------------------------------------------------------------------

/// One streamed `chat.completion.chunk`, as tolerant as providers require.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    /// In-band error payload (`{"error": {...}}` mid-stream).
    #[serde(default)]
    pub error: Option<Value>,
    /// `"chat.completion.chunk"`, or `"error"` for vLLM's in-band errors.
    #[serde(default)]
    pub object: Option<Value>,
    /// MiniMax status (`{"status_code", "status_msg"}`; non-zero is an error).
    #[serde(default)]
    pub base_resp: Option<Value>,
    // No `#[serde(flatten)]` catch-all: it would force serde's buffered slow path on every chunk.
}

/// One choice of a chunk.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub delta: ChunkDelta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Moonshot puts usage here.
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

/// The delta of a chunk choice.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChunkDelta {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub reasoning_details: Option<Vec<Value>>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A fragment of a tool call.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ToolCallDelta {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
    /// Provider extras (Gemini `extra_content.google.thought_signature`).
    #[serde(default)]
    pub extra_content: Option<Value>,
}

/// Name and argument fragment. `arguments` may be a string fragment or (GLM) a whole object.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// Token usage in any provider's spelling.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ChatUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// DeepSeek.
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
    /// Moonshot (top level).
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    /// Anthropic-style spelling some gateways use.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl ChatUsage {
    /// Cached prompt tokens from whichever field the provider filled.
    pub fn cached(&self) -> u64 {
        self.cache_read_input_tokens
            .or(self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens))
            .or(self.prompt_cache_hit_tokens)
            .or(self.cached_tokens)
            .unwrap_or(0)
    }

    /// Reasoning tokens, 0 when not reported.
    pub fn reasoning(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0)
    }

    /// True when the object carries real counts (MiniMax sends all-zero usage on every chunk).
    pub fn is_meaningful(&self) -> bool {
        self.prompt_tokens.unwrap_or(0) > 0
            || self.completion_tokens.unwrap_or(0) > 0
            || self.total_tokens.unwrap_or(0) > 0
    }
}

/// A non-streaming `chat.completion`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ChatCompletion {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<CompletionChoice>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub base_resp: Option<Value>,
}

/// One choice of a completion.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CompletionChoice {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: CompletionMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
}

/// The message of a completion choice.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CompletionMessage {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub reasoning_details: Option<Vec<Value>>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<CompletionToolCall>>,
}

/// A tool call in a non-streaming completion.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CompletionToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
    #[serde(default)]
    pub extra_content: Option<Value>,
}

impl ChatCompletion {
    /// Re-expresses a whole completion as one chunk, so the stream state machine is the only
    /// place where chat output becomes Responses output.
    pub fn into_chunk(self) -> ChatChunk {
        let choices = self
            .choices
            .into_iter()
            .map(|c| ChunkChoice {
                index: c.index,
                finish_reason: c.finish_reason,
                usage: c.usage,
                delta: ChunkDelta {
                    role: c.message.role,
                    content: c.message.content,
                    reasoning_content: c.message.reasoning_content,
                    reasoning: c.message.reasoning,
                    reasoning_details: c.message.reasoning_details,
                    refusal: c.message.refusal,
                    tool_calls: c.message.tool_calls.map(|calls| {
                        calls
                            .into_iter()
                            .enumerate()
                            .map(|(i, tc)| ToolCallDelta {
                                index: Some(i as u32),
                                id: tc.id,
                                function: tc.function,
                                extra_content: tc.extra_content,
                            })
                            .collect()
                    }),
                },
            })
            .collect();
        ChatChunk {
            id: self.id,
            model: self.model,
            choices,
            usage: self.usage,
            error: self.error,
            object: self.object,
            base_resp: self.base_resp,
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
