//! The HTTP edge: thin axum handlers over the gateway.
//!
//! * `POST /v1/responses`, `/responses`, `/` (and the same under a backend's path prefix) serve
//!   the Responses API, streamed as SSE or answered as JSON.
//! * `GET /health`, `GET /v1/models`.
//! * Anything else: a 404 in OpenAI shape; a mis-composed base URL gets a message that explains
//!   the mistake and the base URL to use.
//!
//! SSE frames are written in exactly one place ([`sse::frame`]), which assigns `sequence_number`.

pub mod auth;
pub mod hints;
pub mod sse;
pub mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ccp_gateway::{Gateway, GatewayError, GatewayResponse, ResponseBody};
use futures_util::FutureExt as _;
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
}

impl Stats {
    fn json(&self) -> serde_json::Value {
        json!({
            "http_responses_requests": self.http_responses.load(Ordering::Relaxed),
            "websocket_connections": self.ws_connections.load(Ordering::Relaxed),
            "websocket_responses_requests": self.ws_responses.load(Ordering::Relaxed),
        })
    }
}

/// Builds the axum app.
pub fn app(gateway: Arc<Gateway>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(AppState {
        gateway,
        stats: Arc::new(Stats::default()),
    })
}

/// What a path asks for, once a backend prefix is stripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Responses,
    Health,
    Models,
    Unknown,
}

/// Classifies a path (prefix already stripped).
pub fn classify(rest: &str) -> Endpoint {
    let rest = rest.trim_end_matches('/');
    match rest {
        "" | "/responses" | "/v1/responses" => Endpoint::Responses,
        "/health" | "/v1/health" => Endpoint::Health,
        "/v1/models" | "/models" => Endpoint::Models,
        _ => Endpoint::Unknown,
    }
}

async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    let result = std::panic::AssertUnwindSafe(handle(state, req))
        .catch_unwind()
        .await;
    match result {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(panic = %what, "handler panicked; answered 500 and kept serving");
            error_response(&GatewayError::Internal(
                "internal error in the proxy (it has been logged)".into(),
            ))
        }
    }
}

async fn handle(state: AppState, req: Request) -> Response {
    let gateway = &state.gateway;
    let path = req.uri().path().to_owned();
    let endpoint = classify(&gateway.router().path_after_prefix(&path));
    let method = req.method().clone();
    if let Err(e) = auth::check(gateway, req.headers(), endpoint) {
        return error_response(&e);
    }
    match (endpoint, &method) {
        (Endpoint::Responses, &Method::POST) => {
            state.stats.http_responses.fetch_add(1, Ordering::Relaxed);
            responses(gateway, path, req).await
        }
        (Endpoint::Responses, &Method::GET) if is_upgrade(req.headers()) => {
            upgrade(state.clone(), path, req).await
        }
        (Endpoint::Health, &Method::GET) => health(gateway, &state.stats),
        (Endpoint::Models, &Method::GET) => models(gateway),
        (Endpoint::Responses | Endpoint::Health | Endpoint::Models, _) => error_response(
            &GatewayError::NotFound(format!("{method} is not supported on {path}")),
        ),
        (Endpoint::Unknown, _) => error_response(&GatewayError::NotFound(
            hints::not_found_message(&method, &path),
        )),
    }
}

async fn responses(gateway: &Gateway, path: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let limit = gateway.config().max_body_bytes;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return error_response(&GatewayError::PayloadTooLarge { limit }),
    };
    if gateway.config().log_body {
        let shown: Vec<String> = headers
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    gateway
                        .redactor()
                        .header_value(k.as_str(), v.to_str().unwrap_or("<binary>"))
                )
            })
            .collect();
        tracing::info!(
            path = %path,
            headers = %shown.join("; "),
            body = %gateway.redactor().redact(&String::from_utf8_lossy(&body)),
            "client request"
        );
    }
    let prepared = match gateway.prepare(&path, &headers, body) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    match gateway.execute(prepared).await {
        Ok(GatewayResponse { headers, body }) => {
            let mut resp = match body {
                ResponseBody::Json(resp) => json_response(StatusCode::OK, &*resp),
                ResponseBody::RawJson(bytes) => raw_json_response(StatusCode::OK, bytes),
                ResponseBody::Stream(events) => sse::response(events),
            };
            resp.headers_mut().extend(headers);
            resp
        }
        Err(e) => error_response(&e),
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    header_str(headers, "upgrade")
        .map(|v| v.eq_ignore_ascii_case("websocket"))
        .unwrap_or(false)
}

async fn upgrade(state: AppState, path: String, req: Request) -> Response {
    use axum::extract::FromRequestParts as _;
    let (mut parts, _body) = req.into_parts();
    let headers = parts.headers.clone();
    match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws
            .max_message_size(ws::MAX_FRAME_BYTES)
            .max_frame_size(ws::MAX_FRAME_BYTES)
            .on_upgrade(move |socket| {
                state.stats.ws_connections.fetch_add(1, Ordering::Relaxed);
                ws::serve_socket(socket, state.gateway, state.stats, path, headers)
            }),
        Err(rejection) => rejection.into_response(),
    }
}

fn health(gateway: &Gateway, stats: &Stats) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"status": "ok", "config": gateway.config().summary_json(), "stats": stats.json()}),
    )
}

fn models(gateway: &Gateway) -> Response {
    let data: Vec<_> = gateway
        .router()
        .served_models()
        .into_iter()
        .map(|(model, backend)| json!({"id": model, "object": "model", "created": 0, "owned_by": backend}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

/// A JSON response.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = Response::new(Body::from(bytes));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
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

/// An OpenAI-shaped error response.
pub fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = json_response(status, &e.body());
    if let Some(secs) = e.retry_after() {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Serves the app until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = app(gateway);
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
