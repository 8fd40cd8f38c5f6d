//! The edge log: one line (target `ccp::edge`) for every request the edge answers, whatever
//! answered it — a handler, authentication, the 404 fallback, the panic catcher — so rejected
//! requests (a 400, Codex retrying a mis-composed base URL six times, a 401) leave a trace.
//!
//! Fields: `status`, `method`, `path` (no query string, redacted), `request_id`, `client` (the
//! caller's identity id, or `-` before authentication), `duration_ms` (until the answer's
//! headers: a streamed answer's end is logged by the gateway's `ccp::access` line), and for
//! errors `reason` (`code: message`, redacted). `info` for 1xx–3xx, `warn` for 4xx and 5xx.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::redact::Redactor;

use crate::layers::request_id::RequestId;
use crate::ErrorReason;

/// The middleware.
pub async fn log_answer(State(redactor): State<Redactor>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = redactor.redact(req.uri().path()).into_owned();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status();
    let duration_ms = started.elapsed().as_millis() as u64;
    let client = resp
        .extensions()
        .get::<ClientIdentity>()
        .map_or("-", |c| c.id.as_str());
    if status.is_client_error() || status.is_server_error() {
        let reason = match resp.extensions().get::<ErrorReason>() {
            Some(r) => format!("{}: {}", r.code, redactor.redact(&r.message)),
            None => status.canonical_reason().unwrap_or("error").to_owned(),
        };
        tracing::warn!(
            target: "ccp::edge",
            status = status.as_u16(),
            %method,
            %path,
            %request_id,
            %client,
            duration_ms,
            %reason,
            "answered"
        );
    } else {
        tracing::info!(
            target: "ccp::edge",
            status = status.as_u16(),
            %method,
            %path,
            %request_id,
            %client,
            duration_ms,
            "answered"
        );
    }
    resp
}
