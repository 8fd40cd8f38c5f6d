//! The HTTP edge: axum routes per ingress over the gateway, behind tower layers.
//!
//! A request flows through, in order:
//! 1. [`layers`] — request id ([`layers::request_id`]), a tracing span, the edge log line
//!    ([`layers::edge_log`]), panic catching ([`layers::panic`]);
//! 2. [`routes`] — the ingress router at the root and nested under each backend's
//!    `match_rules.path_prefix`; anything else reaches the 404 fallback with base-URL hints
//!    ([`hints`]);
//! 3. client authentication ([`layers::auth`]) on every route but `/health`, which puts the
//!    caller's [`ClientIdentity`](ccp_gateway::identity::ClientIdentity) into the request
//!    extensions;
//! 4. one handler module per ingress ([`ingress`]): Responses over HTTP (SSE or JSON), Responses
//!    over WebSocket, Chat Completions, models, health; each LLM request's telemetry starts
//!    there ([`observe`]), and `GET /metrics` serves the Prometheus registry;
//! 5. the admin API ([`admin`], `/admin/v1/…`): keys, spend, usage, backends, behind admin
//!    authentication ([`layers::admin_auth`]) instead of client authentication.
//!
//! Invariants: every answer carries `x-request-id`; every error answer has the OpenAI shape
//! `{"error":{"message","type","code","param"}}` (built only by [`error_response`]); SSE frames
//! are written in exactly one place ([`sse::frame`]), which assigns `sequence_number`.

pub mod admin;
pub mod console;
pub mod hints;
pub mod ingress;
pub mod layers;
pub mod observe;
pub mod routes;
pub mod sse;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ccp_gateway::{Gateway, GatewayError};
use serde_json::json;

/// Shared state of the app.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub stats: Arc<Stats>,
}

/// Request counters by transport, reported by `/health`.
#[derive(Debug, Default)]
pub struct Stats {
    pub http_responses: AtomicU64,
    pub ws_connections: AtomicU64,
    pub ws_responses: AtomicU64,
    pub chat_completions: AtomicU64,
}

impl Stats {
    fn json(&self) -> serde_json::Value {
        json!({
            "http_responses_requests": self.http_responses.load(Ordering::Relaxed),
            "websocket_connections": self.ws_connections.load(Ordering::Relaxed),
            "websocket_responses_requests": self.ws_responses.load(Ordering::Relaxed),
            "chat_completions_requests": self.chat_completions.load(Ordering::Relaxed),
        })
    }
}

/// Builds the axum app.
pub fn app(gateway: Arc<Gateway>) -> axum::Router {
    app_with(gateway, axum::Router::new())
}

/// Builds the axum app with `extra` routes merged at the root, behind the same layers and the
/// same client authentication as the ingress routes (tests use it for probe routes; the admin
/// API is always part of the app, behind admin authentication). `extra` must not set a fallback
/// of its own.
pub fn app_with(gateway: Arc<Gateway>, extra: axum::Router<AppState>) -> axum::Router {
    let state = AppState {
        gateway,
        stats: Arc::new(Stats::default()),
    };
    routes::router(state, extra)
}

/// Why the edge answered with an error: attached to the response's extensions by
/// [`error_response`] so the edge log can name the reason without reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReason {
    pub code: String,
    pub message: String,
}

/// A JSON response.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => raw_json_response(status, Bytes::from(bytes)),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A JSON response from bytes that already hold JSON.
pub fn raw_json_response(status: StatusCode, bytes: Bytes) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// An OpenAI-shaped error response, with `Retry-After` when the error names a delay and an
/// [`ErrorReason`] extension for the edge log.
pub fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = json_response(status, &e.body());
    if let Some(secs) = e.retry_after() {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    for (name, value) in e.extra_headers() {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp.extensions_mut().insert(ErrorReason {
        code: e.code().to_owned(),
        message: e.to_string(),
    });
    resp
}

/// Serves the app until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, app(gateway), shutdown).await
}

/// Serves a built app (see [`app_with`]) like [`serve`].
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // SSE frames and WebSocket messages are small writes: without TCP_NODELAY, Nagle's
    // algorithm holds each one until the client's delayed ACK (~40 ms) releases it.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Headers helper for tests and handlers.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
