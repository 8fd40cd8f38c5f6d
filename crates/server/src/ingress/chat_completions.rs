//! `POST /v1/chat/completions` (also `/chat/completions`, at the root or under a backend
//! prefix): the Chat Completions API for every backend kind, answered as SSE
//! (`chat.completion.chunk`s, then `data: [DONE]`) when the request streams, as one
//! `chat.completion` otherwise.
//!
//! Routing, keys, timeouts and retries are the gateway's, as for Responses
//! ([`Gateway::prepare_chat`], [`Gateway::answer_chat`]); the answer names the backend and the
//! upstream model (`x-ccp-backend`, `x-ccp-upstream-model`), and for a model group the attempts
//! (`x-ccp-attempts`, `x-ccp-fallback-count`). Errors before the stream starts are
//! HTTP statuses with `{"error":{"message","type","code","param"}}`; after, an error frame then
//! `[DONE]` (written by the gateway's stream).

use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{post, MethodRouter};
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::pipeline::{ChatBody, ChatResponse};
use ccp_gateway::{Gateway, GatewayError};
use ccp_telemetry::{Ingress, Transport};

use crate::ingress::fallback;
use crate::ingress::responses_http::routing_headers;
use crate::layers::auth;
use crate::layers::request_id::RequestId;
use crate::observe::{reject, start_scope};
use crate::{raw_json_response, sse, AppState};

/// The method router for the Chat Completions paths, behind client authentication.
pub fn methods(state: &AppState) -> MethodRouter<AppState> {
    post(create)
        .fallback(fallback::not_supported)
        .layer(from_fn_with_state(state.clone(), auth::require_client_key))
}

/// Creates a chat completion.
pub async fn create(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    request_id: Option<Extension<RequestId>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state.stats.chat_completions.fetch_add(1, Ordering::Relaxed);
    let gateway: &Gateway = &state.gateway;
    let scope = start_scope(
        gateway,
        &headers,
        request_id.as_ref().map_or("", |Extension(id)| id.as_str()),
        &identity,
        Ingress::Chat,
        Transport::Http,
    );
    let limit = gateway.config().max_body_bytes;
    let body: Bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return reject(&scope, &GatewayError::PayloadTooLarge { limit }),
    };
    let mut prepared = match gateway.prepare_chat(&identity, uri.path(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return reject(&scope, &e),
    };
    prepared.telemetry = scope.clone();
    let routed = routing_headers(gateway, prepared.backend, &prepared.upstream_model);
    let answer = gateway.answer_chat(&identity, prepared).await;
    let (mut resp, upstream_headers) = match answer.result {
        Ok(ChatResponse { headers, body }) => {
            let resp = match body {
                ChatBody::Json(bytes) => raw_json_response(StatusCode::OK, bytes),
                ChatBody::Stream(frames) => sse::chat_response(frames),
            };
            (resp, headers)
        }
        Err(e) => (reject(&scope, &e), HeaderMap::new()),
    };
    resp.headers_mut().extend(routed);
    resp.headers_mut().extend(upstream_headers);
    resp.headers_mut().extend(answer.headers);
    resp
}
