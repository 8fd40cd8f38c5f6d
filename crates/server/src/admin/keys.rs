//! `/admin/v1/keys`: create, list, show, update and revoke virtual keys, over the gateway's
//! [`Governor`](ccp_gateway::govern::Governor) (which validates a key's settings exactly as the
//! config's `virtual_keys` entries are validated).
//!
//! `DELETE /keys/{id}` revokes: the key stops working for good, but its record is kept — it stays
//! listed with `status: "revoked"`, its spend and usage stay attributed to it, and deleting it
//! again changes nothing. It reaches every replica within a second (a notice through Redis;
//! without Redis, each replica's one-second refresh of its cached copy).
//!
//! Each change is logged (`ccp::admin`) with the admin key's identity and the key's id, never a
//! secret.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use ccp_gateway::govern::keys::KeySpec;
use ccp_gateway::identity::ClientIdentity;
use serde_json::{json, Value};

use super::parse_body;
use crate::{error_response, json_response, AppState};

const CREATE_EXAMPLE: &str = r#"{"name": "eng-laptop-1", "models_allowed": ["kimi-*"]}"#;
const UPDATE_EXAMPLE: &str = r#"{"rate_limits": {"rpm": 60}}"#;

/// `POST /admin/v1/keys`: 201 with the key's view and, under `key`, its secret (shown once).
pub async fn create(
    State(state): State<AppState>,
    Extension(admin): Extension<ClientIdentity>,
    body: Bytes,
) -> Response {
    let spec: KeySpec = match parse_body(&body, CREATE_EXAMPLE) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    match state.gateway.governor().create_key(spec).await {
        Ok(view) => {
            let id = view["id"].as_str().unwrap_or_default().to_owned();
            tracing::info!(target: "ccp::admin", admin = %admin.id, key_id = %id, "virtual key created");
            let mut resp = json_response(StatusCode::CREATED, &view);
            if let Ok(location) = HeaderValue::from_str(&format!("{}/keys/{id}", super::PREFIX)) {
                resp.headers_mut().insert(header::LOCATION, location);
            }
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// `GET /admin/v1/keys`: every key (the config's, then the store's, newest first).
pub async fn list(State(state): State<AppState>) -> Response {
    match state.gateway.governor().list_keys().await {
        Ok(keys) => json_response(StatusCode::OK, &json!({"object": "list", "data": keys})),
        Err(e) => error_response(&e),
    }
}

/// `GET /admin/v1/keys/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    answer(state.gateway.governor().get_key(&id).await)
}

/// `PATCH /admin/v1/keys/{id}`: the fields given replace the key's; absent fields stay.
pub async fn update(
    State(state): State<AppState>,
    Extension(admin): Extension<ClientIdentity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let spec: KeySpec = match parse_body(&body, UPDATE_EXAMPLE) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let result = state.gateway.governor().update_key(&id, spec).await;
    if result.is_ok() {
        tracing::info!(target: "ccp::admin", admin = %admin.id, key_id = %id, "virtual key updated");
    }
    answer(result)
}

/// `DELETE /admin/v1/keys/{id}`: revokes; the key's view, `status: "revoked"`.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(admin): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> Response {
    let result = state.gateway.governor().revoke_key(&id).await;
    if result.is_ok() {
        tracing::info!(target: "ccp::admin", admin = %admin.id, key_id = %id, "virtual key revoked");
    }
    answer(result)
}

fn answer(result: Result<Value, ccp_gateway::GatewayError>) -> Response {
    match result {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => error_response(&e),
    }
}
