//! The operator console (issue 15): a single page served at `/admin` on the main listener, its
//! script and style at `/admin/assets/…`, all embedded in the binary (`assets/`, plain
//! HTML/CSS/JS: no build step, nothing fetched at run time), and the admin endpoints it needs
//! beside the admin API's ([`api`], served by `crate::admin` behind its authentication).
//!
//! The page itself holds nothing secret: it asks for an admin key, keeps it in the tab's
//! `sessionStorage` and sends it as `Authorization: Bearer …` to the admin endpoints, which check
//! it. With no `admin_keys` configured, `/admin` answers 404 like the admin API.
//!
//! Invariants: the page loads only its own assets (a strict Content-Security-Policy: no inline
//! script, no other origin); the script writes data into the page as text, never as HTML.

pub mod api;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::Router;
use ccp_gateway::GatewayError;

use crate::{error_response, AppState};

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/admin";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// Only the page's own script, style and API; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes: the page and its assets (no key needed to load them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONSOLE_PATH, get(index))
        .route("/admin/", get(index))
        .route("/admin/assets/{file}", get(asset))
}

async fn index(State(state): State<AppState>) -> Response {
    if let Some(refused) = disabled(&state) {
        return refused;
    }
    page(INDEX_HTML, "text/html; charset=utf-8")
}

async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    if let Some(refused) = disabled(&state) {
        return refused;
    }
    match file.as_str() {
        "console.js" => page(CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => page(CONSOLE_CSS, "text/css; charset=utf-8"),
        _ => error_response(&GatewayError::NotFound(format!(
            "no console asset `{file}`"
        ))),
    }
}

/// The 404 of a proxy without admin keys.
fn disabled(state: &AppState) -> Option<Response> {
    state.gateway.governor().admin_keys().is_empty().then(|| {
        error_response(&GatewayError::NotFound(
            crate::layers::admin_auth::DISABLED.into(),
        ))
    })
}

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
