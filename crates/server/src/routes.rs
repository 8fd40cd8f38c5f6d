//! Assembles the app: the ingress router at the root and nested under each backend's
//! `match_rules.path_prefix`, the admin API at `/admin/v1` (behind admin authentication, not
//! client authentication), extra routes, the 404 fallback, and the layers around all of it.
//!
//! The gateway routes by the full path (`Router::resolve`: longest prefix on a segment boundary
//! wins), and handlers pass it the original, unstripped path. The routes here mirror that
//! choice: a path is registered under the prefix the gateway would pick for it and nowhere else,
//! so two prefixes such as `/a` and `/a/responses` never register the same path (axum would
//! refuse the overlap) and the handler that answers is the backend's that serves.

use axum::handler::Handler as _;
use axum::middleware::from_fn_with_state;
use axum::Router;

use crate::admin;
use crate::ingress::{self, fallback, responses_http};
use crate::layers::{self, auth};
use crate::AppState;

/// The whole app, state applied.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let gateway = state.gateway.clone();
    let owns = |prefix: &str, relative: &str| {
        let full = if relative == "/" {
            if prefix.is_empty() {
                "/".to_owned()
            } else {
                prefix.to_owned()
            }
        } else {
            format!("{prefix}{relative}")
        };
        gateway.router().path_after_prefix(&full) == relative
    };

    let mut app = ingress::router(&state, &|relative| owns("", relative));
    let prefixes = gateway
        .config()
        .backends
        .iter()
        .filter_map(|b| b.match_rules.path_prefix.as_deref());
    for prefix in prefixes {
        app = app
            .nest(prefix, ingress::router(&state, &|rel| owns(prefix, rel)))
            // `nest` maps the nested "/" to the bare prefix only; `/kimi/` is Responses too.
            .route(&format!("{prefix}/"), responses_http::methods(&state));
    }
    // `/metrics` on the main listener unless it has its own (`metrics_listen`); it checks its
    // callers itself (`observe::metrics_authorized`).
    if gateway.config().metrics_listen.is_none() {
        app = app.route(
            "/metrics",
            axum::routing::get(crate::observe::metrics_on_main),
        );
    }
    // The admin API checks admin keys itself (`layers::admin_auth`); client keys never pass.
    app = app.nest(admin::PREFIX, admin::router(&state));
    // The operator console's page and assets (no key to load them; its data needs one).
    app = app.merge(crate::console::router());
    // Future ingresses join `ingress::router`; `extra` routes (tests' probes) take client keys.
    if extra.has_routes() {
        app = app
            .merge(extra.route_layer(from_fn_with_state(state.clone(), auth::require_client_key)));
    }
    let not_found =
        fallback::not_found.layer(from_fn_with_state(state.clone(), auth::require_client_key));
    let app = app.fallback(not_found).with_state(state);
    layers::around(app, gateway.redactor())
}
