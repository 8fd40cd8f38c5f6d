//! Upstream side of the proxy: decoding what Chat Completions providers send back.
//!
//! * [`sse`]: an incremental Server-Sent Events decoder and the classification of each event's
//!   `data` (chunk, `[DONE]`, in-band error, garbage).

pub mod anthropic_dialect;
pub mod profile;
pub mod profiles;
pub mod quirks;
pub mod sse;
