//! The request pipeline between the HTTP edge and the upstream: config and routing, request
//! conversion, the upstream call (or the built-in mock backend), stream conversion, error
//! mapping and usage accounting.
//!
//! Invariants: every stream handed to the edge ends with exactly one terminal event
//! (`response.completed` or `response.failed`); no upstream key ever appears in an error, a log
//! line or a response.

mod access_log;
pub mod config;
pub mod error;
pub mod identity;
pub mod mock;
pub mod pipeline;
pub mod redact;
pub mod routing;
pub mod upstream;
mod upstream_stream;

pub use error::GatewayError;
pub use pipeline::{ClientBody, Gateway, GatewayResponse, PreparedRequest, ResponseBody};
