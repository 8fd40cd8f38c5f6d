//! One module per ingress: the API a client speaks to the proxy. Each module exposes its
//! handlers and a `methods(&AppState)` method router that already carries client
//! authentication (where required) and the OpenAI-shaped answer for a wrong method.
//!
//! | ingress | paths (under a prefix or at the root) | module |
//! | --- | --- | --- |
//! | Responses over HTTP | `POST /v1/responses`, `/responses`, `/` | [`responses_http`] |
//! | Responses over WebSocket | `GET` upgrade on the same paths | [`responses_ws`] |
//! | stored responses | `GET`/`DELETE /v1/responses/{id}`, `GET …/{id}/input_items` | [`responses_state`] |
//! | Chat Completions | `POST /v1/chat/completions`, `/chat/completions` | [`chat_completions`] |
//! | models | `GET /v1/models`, `/models` | [`models`] |
//! | health (no client key) | `GET /health`, `/v1/health` | [`health`] |
//!
//! A new ingress joins as one more module and one more row in [`router`].
//! Each path is also served with a trailing `/`.

pub mod chat_completions;
pub mod fallback;
pub mod health;
pub mod models;
pub mod responses_http;
pub mod responses_state;
pub mod responses_ws;

use axum::routing::MethodRouter;
use axum::Router;

use crate::AppState;

/// Paths of the Responses API, relative to a backend prefix (or the root).
pub const RESPONSES_PATHS: &[&str] = &["/v1/responses", "/responses", "/"];
/// Paths of the Chat Completions API, relative to a backend prefix (or the root).
pub const CHAT_PATHS: &[&str] = &["/v1/chat/completions", "/chat/completions"];
/// Paths of the model list.
pub const MODELS_PATHS: &[&str] = &["/v1/models", "/models"];
/// Paths of the health report.
pub const HEALTH_PATHS: &[&str] = &["/health", "/v1/health"];

/// The ingress routes relative to one prefix; `owns(path)` says whether this prefix is the one
/// the gateway routes `path` by (a longer prefix may claim some of them).
pub fn router(state: &AppState, owns: &dyn Fn(&str) -> bool) -> Router<AppState> {
    let table: [(&[&str], MethodRouter<AppState>); 6] = [
        (RESPONSES_PATHS, responses_http::methods(state)),
        (
            responses_state::RESPONSE_PATHS,
            responses_state::response_methods(state),
        ),
        (
            responses_state::INPUT_ITEMS_PATHS,
            responses_state::input_items_methods(state),
        ),
        (CHAT_PATHS, chat_completions::methods(state)),
        (MODELS_PATHS, models::methods(state)),
        (HEALTH_PATHS, health::methods()),
    ];
    let mut router = Router::new();
    for (paths, methods) in table {
        for path in paths.iter().flat_map(|p| with_trailing_slash(p)) {
            if owns(&path) {
                router = router.route(&path, methods.clone());
            }
        }
    }
    router
}

fn with_trailing_slash(path: &str) -> Vec<String> {
    if path == "/" {
        vec![path.to_owned()]
    } else {
        vec![path.to_owned(), format!("{path}/")]
    }
}
