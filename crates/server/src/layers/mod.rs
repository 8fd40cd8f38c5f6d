//! The tower layers around every route and the fallback, outermost first:
//!
//! 1. [`request_id`] — the client's sane `x-request-id` or a new one, in the request
//!    extensions and on every answer;
//! 2. a tracing span per request (`request{method, path, request_id}`, tower-http's
//!    `TraceLayer`, which also enters it while a streamed body is polled);
//! 3. [`edge_log`] — one `ccp::edge` line per answer: status, method, path, reason, duration,
//!    request id, caller;
//! 4. [`panic`] — a panicking handler becomes an OpenAI-shaped 500 and is logged; the server
//!    keeps serving.
//!
//! Client authentication ([`auth`]) sits inside, on the routes that need it, because `/health`
//! does not; the admin API has its own ([`admin_auth`]), which client keys never pass.
//!
//! Invariant: nothing here logs a header value, a query string or a configured secret; paths
//! and reasons go through the gateway's redactor.

pub mod admin_auth;
pub mod auth;
pub mod edge_log;
pub mod panic;
pub mod request_id;

use axum::http::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use ccp_gateway::redact::Redactor;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{MakeSpan, TraceLayer};

/// `router` wrapped in the edge's layers.
pub fn around(router: Router, redactor: &Redactor) -> Router {
    // `Router::layer` wraps what is already there: the last layer added runs first.
    router
        .layer(CatchPanicLayer::custom(panic::PanicResponse::new(
            redactor.clone(),
        )))
        .layer(from_fn_with_state(redactor.clone(), edge_log::log_answer))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan {
                    redactor: redactor.clone(),
                })
                // The edge log writes the one line per request; the span only gives context.
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(from_fn(request_id::assign))
}

/// Makes the per-request span: method, redacted path (no query), request id.
#[derive(Clone)]
pub struct RequestSpan {
    redactor: Redactor,
}

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &Request<B>) -> tracing::Span {
        let id = req
            .extensions()
            .get::<request_id::RequestId>()
            .map(request_id::RequestId::as_str)
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            method = %req.method(),
            path = %self.redactor.redact(req.uri().path()),
            request_id = %id,
        )
    }
}
