//! Wire types for the dialects the proxy speaks: the OpenAI **Responses API** (what Codex and
//! the OpenAI SDK send and expect back), **Chat Completions** (what most providers speak) and
//! **Anthropic Messages**.
//!
//! Invariants: these types do no IO and hold no policy. They are lenient on input (unknown item
//! types and fields never become hard errors; `Other` arms and `extra` maps keep what matters) and
//! canonical on output (optional fields are skipped, not serialized as `null`, unless the wire
//! requires the key).

pub mod anthropic;
pub mod chat;
pub mod events;
pub mod responses;
