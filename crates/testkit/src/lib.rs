//! Test support for the proxy (dev-only; never a dependency of shipped code).
//!
//! * [`MockUpstream`]: a scripted Chat Completions server that validates every request as
//!   strictly as the pickiest real provider ([`Strictness`]) and records what it saw.
//! * [`ResponsesUpstream`]: the same for the Responses API, as OpenAI, Azure OpenAI or the
//!   ChatGPT Codex backend ([`ResponsesStrictness`]); one [`ResponseStream`] script is streamed
//!   as complete Responses events or collapsed into the JSON `Response` object.
//! * [`AnthropicUpstream`]: the same for Anthropic Messages: role alternation, `tool_use` /
//!   `tool_result` pairing, `max_tokens`, `anthropic-version`, and thinking blocks replayed
//!   byte-identical in tool turns; [`AnthropicScript`] answers as SSE events or a `Message`.
//! * [`TokenEndpoint`]: the ChatGPT OAuth refresh endpoint with rotating refresh tokens, plus
//!   [`fake_jwt`] and [`write_auth_json`] for Codex-style credentials.
//! * [`CodexRun`]: runs the real Codex CLI offline against a base URL.
//! * [`otlp::OtlpReceiver`]: a real OTLP trace receiver (gRPC or HTTP/protobuf), and collectors
//!   that refuse or never answer.
//! * Tool locators ([`codex_binary`], [`python_bin`], [`workspace_root`]) that fail loudly with
//!   install instructions instead of skipping, and a [`TempDir`] helper.
//!
//! Tests using the mock and Codex together need a multi-threaded runtime:
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod anthropic_upstream;
pub mod codex;
pub mod locate;
pub mod otlp;
pub mod responses_upstream;
mod serve;
pub mod token_endpoint;
pub mod upstream;

pub use anthropic_upstream::{
    AnthropicReply, AnthropicScript, AnthropicUpstream, AnthropicUsage, CompatRules,
};
pub use codex::{CodexOutput, CodexRun, CLIENT_KEY_ENV, DEFAULT_CLIENT_KEY};
pub use locate::{
    codex_binary, find_codex_in, prometheus_binary, python_bin, tools_dir, workspace_root, TempDir,
};
pub use responses_upstream::{
    ChatGptTokens, Rejection, ResponseStream, ResponsesAuth, ResponsesReply, ResponsesStrictness,
    ResponsesUpstream,
};
pub use token_endpoint::{fake_jwt, jwt_claims, write_auth_json, IssuedTokens, TokenEndpoint};
pub use upstream::{
    MockUpstream, Problem, RecordedRequest, Reply, Rule, SseItem, SseScript, Strictness, MOCK_MODEL,
};
