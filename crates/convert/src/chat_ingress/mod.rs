//! The Chat Completions ingress over a Responses upstream: a Chat client's request becomes a
//! Responses request, and the Responses answer becomes Chat again.
//!
//! * [`request::chat_request_to_responses`]: a Chat request body (as JSON, read leniently so
//!   unknown keys and `null`s never fail) → a Responses request body, plus what the answer needs
//!   (`stream`, `stream_options.include_usage`).
//! * [`stream::ResponsesToChat`]: a synchronous state machine fed Responses events (typed, or the
//!   JSON text of a relayed upstream event) that yields `chat.completion.chunk` data frames and
//!   the final `[DONE]`.
//! * [`completion::response_to_chat_completion`]: a whole `Response` object → `chat.completion`.
//!
//! The mapping tables are in `shared/reference/upstreams.md` §3.4 and §3.5. Ids and timestamps
//! are inputs ([`ChatContext`]), so every conversion is deterministic.

pub mod completion;
pub mod request;
pub mod stream;

use serde_json::{json, Value};

/// What every Chat object of one answer shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatContext {
    /// `chatcmpl-…`, the same on every chunk.
    pub id: String,
    /// The model the client asked for, echoed back.
    pub model: String,
    /// `created`, seconds since the epoch.
    pub created: u64,
    /// `stream_options.include_usage`: send the usage chunk (and `usage: null` on the others).
    pub include_usage: bool,
}

/// Responses `usage` → Chat `usage` (`prompt_tokens`, `completion_tokens`, `total_tokens` and
/// the cached and reasoning details).
pub fn responses_usage_to_chat(usage: &Value) -> Value {
    let n = |p: &str| usage.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let input = n("/input_tokens");
    let output = n("/output_tokens");
    let total = usage
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(input + output);
    json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": n("/input_tokens_details/cached_tokens")},
        "completion_tokens_details": {"reasoning_tokens": n("/output_tokens_details/reasoning_tokens")},
    })
}

/// The Chat `finish_reason` of a finished `Response` object: `length` or `content_filter` for
/// an incomplete one, else `tool_calls` when the answer called a tool, else `stop`.
pub fn finish_reason(response: &Value, called_tools: bool) -> &'static str {
    let status = response.get("status").and_then(Value::as_str);
    let reason = response
        .pointer("/incomplete_details/reason")
        .and_then(Value::as_str);
    match (status, reason) {
        (_, Some("content_filter")) => "content_filter",
        (Some("incomplete"), _) | (_, Some("max_output_tokens")) => "length",
        _ if called_tools => "tool_calls",
        _ => "stop",
    }
}

/// The Chat error `type` for a gateway or upstream error `code`.
pub fn error_type_for_code(code: &str) -> &'static str {
    match code {
        "rate_limit_exceeded" | "usage_limit_reached" | "insufficient_quota" => "rate_limit_error",
        "context_length_exceeded" | "invalid_request" | "invalid_prompt" | "model_not_found" => {
            "invalid_request_error"
        }
        "invalid_api_key" | "unauthorized" => "authentication_error",
        _ => "server_error",
    }
}

/// `{"error":{"message","type","code","param"}}`, the error frame of a Chat stream.
pub fn chat_error_body(code: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": error_type_for_code(code), "code": code, "param": null}})
}
