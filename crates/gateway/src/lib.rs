//! The request pipeline between the HTTP edge and the upstreams: config and routing, the
//! pipeline (`pipeline`), every upstream kind behind one seam (`upstream`: chat, responses,
//! codex, mock), model groups (`groups`: fallbacks and load balancing across backends), the
//! Codex login (`codex_auth`), Responses state (`state`: the store behind `previous_response_id`
//! and the stored-response endpoints), governance (`govern`: virtual keys, budgets, rate
//! limits), the opt-in response cache (`cache`), error mapping and the access log.
//!
//! Invariants: every stream handed to the edge ends with exactly one terminal event
//! (`response.completed` or `response.failed`); no upstream key ever appears in an error, a log
//! line or a response.

mod access_log;
pub mod cache;
pub mod codex_auth;
pub mod config;
pub mod error;
pub mod govern;
pub mod groups;
pub mod identity;
mod observe;
pub mod pipeline;
pub mod redact;
pub mod routing;
pub mod state;
pub mod upstream;
pub mod usage;

pub use cache::{CacheControl, CacheMode, CachePolicy, CacheStatus, ResponseCache};
pub use error::GatewayError;
pub use pipeline::{Answer, ClientBody, Gateway, GatewayResponse, PreparedRequest, ResponseBody};
