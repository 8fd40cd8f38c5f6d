//! `GET /v1/models`: every model name served as-is, with the backend serving it as `owned_by`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use serde_json::json;

use crate::ingress::fallback;
use crate::layers::auth;
use crate::{json_response, AppState};

/// The method router for the model-list paths, behind client authentication.
pub fn methods(state: &AppState) -> MethodRouter<AppState> {
    get(list)
        .fallback(fallback::not_supported)
        .layer(from_fn_with_state(state.clone(), auth::require_client_key))
}

/// The model list in OpenAI shape.
pub async fn list(State(state): State<AppState>) -> Response {
    let data: Vec<_> = state
        .gateway
        .router()
        .served_models()
        .into_iter()
        .map(|(model, backend)| json!({"id": model, "object": "model", "created": 0, "owned_by": backend}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}
