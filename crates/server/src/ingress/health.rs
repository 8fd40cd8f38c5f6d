//! `GET /health`: status, the config summary (no secrets) and request counters. Needs no client
//! key, so load balancers and `doctor` can probe it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use serde_json::json;

use crate::ingress::fallback;
use crate::{json_response, AppState};

/// The method router for the health paths (no authentication).
pub fn methods() -> MethodRouter<AppState> {
    get(show).fallback(fallback::not_supported)
}

/// The health report.
pub async fn show(State(state): State<AppState>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "config": state.gateway.config().summary_json(),
            "stats": state.stats.json(),
        }),
    )
}
