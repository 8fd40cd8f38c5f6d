//! Pure conversions between the Responses API and Chat Completions or Anthropic Messages.
//!
//! * [`request::responses_request_to_chat`]: a Responses request → a Chat request plus the
//!   [`tools::ToolNameMap`] needed to turn tool calls back into Responses items.
//! * [`stream::ChatToResponses`]: a synchronous state machine fed Chat chunks (`push`) that
//!   yields Responses events; non-streaming answers go through the same machine as one chunk.
//! * [`think::ThinkSplitter`]: separates a leading `<think>…</think>` from content, buffering
//!   partial tags so they never leak.
//! * [`anthropic`]: Responses → Anthropic Messages requests and Messages stream events →
//!   Responses events.
//!
//! No IO, no tokio, no clocks: ids and timestamps are inputs, so every conversion is
//! deterministic and snapshot-testable.

pub mod anthropic;
pub mod chat_ingress;
pub mod request;
pub mod stream;
pub mod think;
pub mod tools;

/// Errors a request conversion can report. Each names what is wrong and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    /// The request is semantically invalid (e.g. no input at all).
    #[error("{path}: {message}")]
    InvalidRequest { path: String, message: String },
}
