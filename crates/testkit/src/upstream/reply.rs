//! Scripted answers for [`MockUpstream`](super::MockUpstream).
//!
//! A [`Reply`] is one complete upstream answer: a Server-Sent-Events stream ([`SseScript`]), a
//! JSON body with a status (normal non-streaming answers and provider errors), or a raw body with
//! an arbitrary content type. Replies are queued FIFO and each chat request consumes exactly one.
//!
//! The canned helpers ([`Reply::text_stream`], [`Reply::tool_call_stream`], …) produce the
//! canonical OpenAI chunk shapes so tests only hand-write payloads when they exercise a quirk.

use serde_json::{json, Value};

use crate::serve::SseScript;

/// Model name used in the canned chunks and completions.
pub const MOCK_MODEL: &str = "mock-model";
/// Chunk/completion id used in the canned chunks and completions.
pub const MOCK_COMPLETION_ID: &str = "chatcmpl-mock-0001";
/// `prompt_tokens` reported by the canned helpers.
pub const MOCK_PROMPT_TOKENS: u64 = 10;
/// `created` / `created_at` of the canned chunks, completions and responses.
pub(crate) const MOCK_CREATED: u64 = 1_700_000_000;

/// One scripted upstream answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `200 text/event-stream` (status overridable) built from data payloads and options.
    Sse(SseScript),
    /// A JSON body with this status and extra response headers (names as given).
    Json(u16, Value, Vec<(String, String)>),
    /// Any body with an explicit status and content type, e.g. an HTML error page.
    Raw(u16, String, String),
}

impl From<SseScript> for Reply {
    fn from(script: SseScript) -> Self {
        Reply::Sse(script)
    }
}

impl Reply {
    /// A stream of raw data payloads (each a JSON chunk as text).
    pub fn sse<I, S>(payloads: I) -> SseScript
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SseScript::new(payloads)
    }

    /// A stream of JSON chunks.
    pub fn sse_json<I>(chunks: I) -> SseScript
    where
        I: IntoIterator<Item = Value>,
    {
        SseScript::new(chunks.into_iter().map(|c| c.to_string()))
    }

    /// Canonical text answer: a role chunk, the text split into several content deltas (see
    /// [`split_text`]), a `finish_reason: "stop"` chunk and a `choices: []` usage chunk with
    /// `prompt_tokens = 10` and `completion_tokens` = number of content deltas.
    pub fn text_stream(text: &str) -> SseScript {
        let pieces = split_text(text);
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        chunks.extend(pieces.iter().map(|p| chunk(json!({ "content": p }), None)));
        chunks.push(chunk(json!({}), Some("stop")));
        chunks.push(usage_chunk(pieces.len() as u64));
        Reply::sse_json(chunks)
    }

    /// Canonical parallel tool-call answer: a role chunk, then per call (index = position) a
    /// header fragment with `id`, `type` and `name` and empty arguments, followed by the
    /// arguments in up to three fragments; then `finish_reason: "tool_calls"` and a usage chunk.
    pub fn tool_call_stream(calls: &[(&str, &str, &str)]) -> SseScript {
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": null}), None)];
        let mut fragments = 0u64;
        for (index, (id, name, args)) in calls.iter().enumerate() {
            chunks.push(chunk(
                json!({"tool_calls": [{
                    "index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}
                }]}),
                None,
            ));
            for piece in split_in_three(args) {
                fragments += 1;
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        chunks.push(chunk(json!({}), Some("tool_calls")));
        chunks.push(usage_chunk(fragments.max(1)));
        Reply::sse_json(chunks)
    }

    /// Reasoning first (as `reasoning_content` deltas), then the text, like DeepSeek/Kimi.
    pub fn reasoning_text_stream(reasoning: &str, text: &str) -> SseScript {
        let thoughts = split_text(reasoning);
        let pieces = split_text(text);
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        chunks.extend(
            thoughts
                .iter()
                .map(|p| chunk(json!({ "reasoning_content": p }), None)),
        );
        chunks.extend(pieces.iter().map(|p| chunk(json!({ "content": p }), None)));
        chunks.push(chunk(json!({}), Some("stop")));
        chunks.push(usage_chunk((thoughts.len() + pieces.len()) as u64));
        Reply::sse_json(chunks)
    }

    /// A non-streaming `chat.completion` with this text and `finish_reason: "stop"`.
    pub fn completion_text(text: &str) -> Reply {
        let completion_tokens = split_text(text).len() as u64;
        Reply::json(
            200,
            json!({
                "id": MOCK_COMPLETION_ID,
                "object": "chat.completion",
                "created": MOCK_CREATED,
                "model": MOCK_MODEL,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop"
                }],
                "usage": usage(completion_tokens),
            }),
        )
    }

    /// An OpenAI-shaped error body `{"error":{"message","type","param","code"}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        let kind = match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        };
        Reply::json(status, error_body(kind, code, message, None))
    }

    /// A JSON body with a status and no extra headers.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json(status, body, Vec::new())
    }

    /// Any body with an explicit content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply::Raw(status, content_type.to_owned(), body.into())
    }

    /// Add a response header (for [`Reply::Raw`] it is ignored: use `Json` or `Sse`).
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        match &mut self {
            Reply::Sse(script) => script.headers.push((name.to_owned(), value.to_owned())),
            Reply::Json(_, _, headers) => headers.push((name.to_owned(), value.to_owned())),
            Reply::Raw(..) => {}
        }
        self
    }
}

/// The OpenAI error envelope used by both scripted errors and strictness rejections.
pub fn error_body(kind: &str, code: &str, message: &str, param: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

/// One `chat.completion.chunk` with a single choice.
pub fn chunk(delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": MOCK_COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": MOCK_CREATED,
        "model": MOCK_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })
}

/// The trailing `choices: []` chunk carrying usage (what `include_usage` produces).
pub fn usage_chunk(completion_tokens: u64) -> Value {
    json!({
        "id": MOCK_COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": MOCK_CREATED,
        "model": MOCK_MODEL,
        "choices": [],
        "usage": usage(completion_tokens),
    })
}

fn usage(completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": MOCK_PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": MOCK_PROMPT_TOKENS + completion_tokens,
    })
}

/// Splits text into word-sized deltas (each piece keeps its trailing whitespace), so that the
/// concatenation of the pieces is exactly `text`. Empty text gives no pieces.
pub fn split_text(text: &str) -> Vec<String> {
    text.split_inclusive(char::is_whitespace)
        .map(str::to_owned)
        .collect()
}

/// Splits a string into at most three non-empty pieces on char boundaries.
pub(crate) fn split_in_three(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let step = chars.len().div_ceil(3);
    chars
        .chunks(step)
        .map(|piece| piece.iter().collect())
        .collect()
}
