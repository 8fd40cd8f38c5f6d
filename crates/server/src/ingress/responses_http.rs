//! `POST /v1/responses` (also `/responses` and `/`, at the root or under a backend prefix): the
//! Responses API over HTTP, answered as SSE when the request streams, as one JSON object
//! otherwise.
//!
//! The body is read up to `max_body_bytes` (413 beyond), prepared by the gateway with the
//! original, unstripped path (the gateway routes by it), and executed. Every answer after
//! routing names the backend and the model sent upstream (`x-ccp-backend`,
//! `x-ccp-upstream-model`), so a model served by the default backend is never a silent surprise;
//! a model group's answer names the backend that gave it and the attempts it took
//! (`x-ccp-attempts`, `x-ccp-fallback-count`), on errors too.
//! A Chat Completions body (`messages`, no `input`) gets a 400 that says so.

use axum::body::{Body, Bytes};
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::{CachePolicy, Gateway, GatewayError, GatewayResponse, ResponseBody};
use ccp_telemetry::{Ingress, Transport};
use ccp_types::responses::Input;
use serde::de::IgnoredAny;
use std::sync::atomic::Ordering;

use crate::ingress::{fallback, responses_ws};
use crate::layers::auth;
use crate::layers::request_id::RequestId;
use crate::observe::{reject, start_scope};
use crate::{json_response, raw_json_response, sse, AppState};

pub use ccp_gateway::routing::{BACKEND_HEADER, UPSTREAM_MODEL_HEADER};

/// The method router for the Responses paths: `POST` here, the WebSocket upgrade on `GET`,
/// behind client authentication.
pub fn methods(state: &AppState) -> MethodRouter<AppState> {
    post(create)
        .get(responses_ws::upgrade)
        .fallback(fallback::not_supported)
        .layer(from_fn_with_state(state.clone(), auth::require_client_key))
}

/// Creates a response.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    request_id: Option<Extension<RequestId>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.stats.http_responses.fetch_add(1, Ordering::Relaxed);
    let gateway = &state.gateway;
    let request_id = request_id.as_ref().map_or("", |Extension(id)| id.as_str());
    let scope = start_scope(
        gateway,
        &headers,
        request_id,
        &identity,
        Ingress::Responses,
        Transport::Http,
    );
    let limit = gateway.config().max_body_bytes;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return reject(&scope, &GatewayError::PayloadTooLarge { limit }),
    };
    let path = uri.path();
    if gateway.config().log_body {
        log_client_request(gateway, &identity, path, &headers, &body);
    }
    let mut prepared = match gateway.prepare(&identity, path, &headers, body.clone()) {
        Ok(p) => p,
        Err(e) => {
            if is_denial(&e) {
                let (stream, model) = stream_and_model(&body);
                if stream {
                    crate::observe::end_with_error(&scope, &e);
                    return sse::response(gateway.denial_stream(&e, &model));
                }
            }
            return reject(&scope, &chat_body_error(&body).unwrap_or(e));
        }
    };
    let streaming = prepared.request.stream;
    let model = prepared.request.model.clone().unwrap_or_default();
    if is_empty(&prepared.request.input) {
        if let Some(e) = chat_body_error(&body) {
            return reject(&scope, &e);
        }
    }
    prepared.telemetry = scope.clone();
    let routed = routing_headers(gateway, prepared.backend, &prepared.upstream_model);
    let cache = CachePolicy::new(&identity.id, &headers);
    let answer = gateway.answer(&identity, prepared, &cache).await;
    let (mut resp, upstream_headers) = match answer.result {
        Ok(GatewayResponse { headers, body }) => {
            let resp = match body {
                ResponseBody::Json(resp) => json_response(StatusCode::OK, &*resp),
                ResponseBody::RawJson(bytes) => raw_json_response(StatusCode::OK, bytes),
                ResponseBody::Stream(events) => sse::response(events),
            };
            (resp, headers)
        }
        // A streaming client (Codex) learns of a governance denial in the stream, where its
        // code decides whether Codex waits, stops, or prints the message (docs/errors.md).
        Err(e) if streaming && is_denial(&e) => {
            crate::observe::end_with_error(&scope, &e);
            (
                sse::response(gateway.denial_stream(&e, &model)),
                HeaderMap::new(),
            )
        }
        Err(e) => (reject(&scope, &e), HeaderMap::new()),
    };
    // The gateway's own headers come last: they win if it ever names the route itself (a model
    // group names the backend that answered, not the one routing started with).
    resp.headers_mut().extend(routed);
    resp.headers_mut().extend(upstream_headers);
    resp.headers_mut().extend(answer.headers);
    resp
}

/// Whether `e` is a governance denial (answered in-stream to streaming clients).
pub fn is_denial(e: &GatewayError) -> bool {
    matches!(
        e,
        GatewayError::ModelNotAllowed { .. }
            | GatewayError::BudgetExceeded { .. }
            | GatewayError::RateLimited { .. }
    )
}

/// `stream` and `model` of a body that failed to prepare (read again only on that path).
fn stream_and_model(body: &[u8]) -> (bool, String) {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(default)]
        stream: Option<bool>,
        #[serde(default)]
        model: Option<String>,
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(s) => (s.stream.unwrap_or(false), s.model.unwrap_or_default()),
        Err(_) => (false, String::new()),
    }
}

/// `x-ccp-backend` and `x-ccp-upstream-model` for a routed request (a value that is not a valid
/// header value is left out rather than mangled).
pub fn routing_headers(gateway: &Gateway, backend: usize, upstream_model: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let backend = gateway
        .config()
        .backends
        .get(backend)
        .map(|b| b.name.as_str());
    let pairs = [
        (BACKEND_HEADER, backend),
        (UPSTREAM_MODEL_HEADER, Some(upstream_model)),
    ];
    for (name, value) in pairs {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    headers
}

fn is_empty(input: &Input) -> bool {
    matches!(input, Input::Items(items) if items.is_empty())
}

/// The message for a Chat Completions body sent to the Responses API.
pub const CHAT_BODY_MESSAGE: &str = "`messages` belongs to the Chat Completions API; this \
    endpoint is the Responses API and expects `input` (a string, or a list of items such as \
    {\"role\": \"user\", \"content\": \"hi\"}). Send the conversation as `input`, or send this \
    body to a Chat Completions endpoint (POST /v1/chat/completions is the Chat Completions \
    endpoint).";

/// The 400 for a body that is a Chat Completions request (`messages` and no `input`), if it is
/// one. Only bodies that mention `"messages"` are parsed again, and only on a path that is
/// already failing or has an empty input.
pub fn chat_body_error(body: &[u8]) -> Option<GatewayError> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(default)]
        messages: Option<IgnoredAny>,
        #[serde(default)]
        input: Option<IgnoredAny>,
    }
    memchr::memmem::find(body, b"\"messages\"")?;
    let shape: Shape = serde_json::from_slice(body).ok()?;
    (shape.messages.is_some() && shape.input.is_none()).then(chat_body_mistake)
}

/// The same check for a WebSocket `response.create` frame.
pub fn chat_frame_error(
    frame: &serde_json::Map<String, serde_json::Value>,
) -> Option<GatewayError> {
    let has = |k: &str| frame.get(k).is_some_and(|v| !v.is_null());
    (has("messages") && !has("input")).then(chat_body_mistake)
}

fn chat_body_mistake() -> GatewayError {
    GatewayError::BadRequest {
        param: Some("messages".to_owned()),
        message: CHAT_BODY_MESSAGE.to_owned(),
    }
}

fn log_client_request(
    gateway: &Gateway,
    identity: &ClientIdentity,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) {
    let redactor = gateway.redactor();
    let shown: Vec<String> = headers
        .iter()
        .map(|(k, v)| {
            let value = v.to_str().unwrap_or("<binary>");
            format!("{k}: {}", redactor.header_value(k.as_str(), value))
        })
        .collect();
    tracing::info!(
        path = %redactor.redact(path),
        client = %identity.id,
        headers = %shown.join("; "),
        body = %redactor.redact(&String::from_utf8_lossy(body)),
        "client request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_body_is_named_as_such() {
        let e = chat_body_error(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
        let Some(GatewayError::BadRequest { param, message }) = e else {
            panic!("expected a 400, got {e:?}");
        };
        assert_eq!(param.as_deref(), Some("messages"));
        assert!(message.contains("POST /v1/chat/completions"), "{message}");
    }

    #[test]
    fn a_responses_body_or_a_nested_messages_key_is_not() {
        for body in [
            br#"{"model":"m","input":"hi","messages":[]}"#.as_slice(),
            br#"{"model":"m","input":[],"tools":[{"type":"function","name":"f","parameters":{"properties":{"messages":{}}}}]}"#,
            br#"{"model":"m","instructions":"say \"messages\""}"#,
            br#"{"messages":"#,
        ] {
            assert_eq!(chat_body_error(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn frames_are_checked_the_same_way() {
        let frame = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert!(chat_frame_error(&frame(serde_json::json!({"messages": []}))).is_some());
        assert!(
            chat_frame_error(&frame(serde_json::json!({"messages": [], "input": []}))).is_none()
        );
        assert!(chat_frame_error(&frame(serde_json::json!({"input": "hi"}))).is_none());
    }
}
