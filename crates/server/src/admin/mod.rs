//! The admin API (issue 14), nested at [`PREFIX`]: virtual keys ([`keys`]), spend ([`spend`]),
//! usage records ([`usage`]), the configured backends ([`backends`]) and an OpenAPI 3.1
//! description of all of it ([`openapi`]). One file per resource; `docs/admin.md` is the user's
//! guide.
//!
//! Every route, and the admin 404, sits behind [`require_admin_key`]: only `admin_keys` open it,
//! and with none configured every admin path answers 404 "admin API disabled". Answers are JSON;
//! errors have the OpenAI shape, and bad input names the field (`param`) it is about.
//!
//! Invariants: no answer but `POST /keys` carries a key's secret, and that one only once; no
//! answer carries a key's hash; [`routes`] is the single list the router is built from, and the
//! OpenAPI document is tested to describe exactly it.

pub mod backends;
pub mod keys;
pub mod openapi;
pub mod spend;
pub mod usage;

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::Router;
use ccp_gateway::GatewayError;
use serde::de::DeserializeOwned;

use crate::ingress::fallback;
use crate::layers::admin_auth::require_admin_key;
use crate::{error_response, AppState};

/// Where the admin API is mounted.
pub const PREFIX: &str = "/admin/v1";

/// Every admin route: method, path relative to [`PREFIX`], handler.
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::POST, "/keys", post(keys::create)),
        (Method::GET, "/keys", get(keys::list)),
        (Method::GET, "/keys/{id}", get(keys::show)),
        (Method::PATCH, "/keys/{id}", patch(keys::update)),
        (Method::DELETE, "/keys/{id}", delete(keys::revoke)),
        (Method::GET, "/spend", get(spend::report)),
        (Method::GET, "/usage", get(usage::list)),
        (Method::GET, "/backends", get(backends::list)),
        (Method::GET, "/openapi.json", get(openapi::document)),
    ]
    .into_iter()
    // The operator console's own endpoints (overview, live requests, backend health, daily usage).
    .chain(crate::console::api::routes())
    .collect()
}

/// The admin routes as (method, full path), in [`routes`] order.
pub fn route_table() -> Vec<(Method, String)> {
    routes()
        .into_iter()
        .map(|(method, path, _)| (method, format!("{PREFIX}{path}")))
        .collect()
}

/// The admin router (to nest at [`PREFIX`]), behind admin authentication.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, methods) in routes() {
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(methods),
            None => by_path.push((path, methods)),
        }
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods.fallback(fallback::not_supported));
    }
    router
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), require_admin_key))
}

/// An admin path that does not exist (after authentication: strangers learn nothing).
async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error_response(&GatewayError::NotFound(format!(
        "no admin route {method} {}; the routes are listed in {PREFIX}/openapi.json",
        uri.path()
    )))
}

/// A 400 about `param`.
pub(crate) fn bad_param(param: &str, message: String) -> GatewayError {
    GatewayError::BadRequest {
        param: Some(param.to_owned()),
        message,
    }
}

/// Parses a JSON body, naming the field at fault (`rate_limits.rpm`) when it does not fit.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: &[u8],
    example: &str,
) -> Result<T, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::BadRequest {
            param: None,
            message: format!("the body must be a JSON object, e.g. {example}"),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            GatewayError::BadRequest {
                param: None,
                message: format!(
                    "invalid body: {inner} (the body is a JSON object, e.g. {example})"
                ),
            }
        } else {
            bad_param(&path, format!("`{path}`: {inner}"))
        }
    })?;
    de.end().map_err(|e| GatewayError::BadRequest {
        param: None,
        message: format!("the body has trailing characters after its JSON ({e})"),
    })?;
    Ok(value)
}

/// The query string's parameters, refusing any not in `allowed` (a typo would otherwise be
/// silently ignored) and any given twice.
pub(crate) fn query_params(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, GatewayError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            return Err(bad_param(
                &name,
                format!(
                    "unknown query parameter `{name}`; this route takes {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(bad_param(&name, format!("`{name}` is given twice")));
        }
        out.push((name.into_owned(), value.into_owned()));
    }
    Ok(out)
}

/// The value of `name` among `params`.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A time given as RFC 3339 (`2026-11-01T00:00:00Z`) or Unix seconds, as Unix seconds.
pub(crate) fn parse_time(name: &str, text: &str) -> Result<i64, GatewayError> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    ccp_governance::calendar::parse_rfc3339(text)
        .map(|ms| ms.div_euclid(1_000))
        .map_err(|_| {
            bad_param(
                name,
                format!(
                    "`{name}` is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor Unix \
                     seconds: {text:?}"
                ),
            )
        })
}

/// Unix seconds as RFC 3339 (UTC).
pub(crate) fn rfc3339(secs: i64) -> String {
    ccp_governance::calendar::format_rfc3339(secs.saturating_mul(1_000))
}

/// The current time, Unix seconds.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Micro-USD as USD.
pub(crate) fn usd(micro: u64) -> f64 {
    micro as f64 / 1e6
}

/// The store the admin API reports from, or a 503 saying why there is none.
pub(crate) fn store(state: &AppState) -> Result<&ccp_store::Store, GatewayError> {
    state
        .gateway
        .governor()
        .store()
        .ok_or_else(|| GatewayError::Upstream {
            status: 503,
            code: "store_unavailable".into(),
            message: "this proxy runs without a store; spend and usage need one (data_dir or \
                      storage.url)"
                .into(),
            retry_after: None,
        })
}

/// A store failure as a 500 that names no internals (the details go to the log).
pub(crate) fn store_failed(e: ccp_store::StoreError) -> GatewayError {
    tracing::error!(error = %e, "admin API: store query failed");
    GatewayError::Internal("the store is unavailable; try again".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn query_params_refuse_unknown_and_repeated_names() {
        let ok = query_params(Some("group_by=key&window=day"), &["group_by", "window"]).unwrap();
        assert_eq!(param(&ok, "window"), Some("day"));
        let unknown = query_params(Some("windw=day"), &["window"]).unwrap_err();
        assert_eq!(unknown.body()["error"]["param"], "windw");
        let twice = query_params(Some("window=day&window=week"), &["window"]).unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        assert_eq!(parse_time("from", "86400").unwrap(), 86_400);
        assert_eq!(parse_time("from", "1970-01-02T00:00:00Z").unwrap(), 86_400);
        let e = parse_time("to", "yesterday").unwrap_err();
        assert_eq!(e.body()["error"]["param"], "to");
        assert_eq!(rfc3339(86_400), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn bodies_name_the_field_at_fault() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Limits {
            rpm: Option<u64>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Spec {
            name: Option<String>,
            rate_limits: Option<Limits>,
        }
        let e = parse_body::<Spec>(br#"{"rate_limits": {"rpm": "many"}}"#, "{}").unwrap_err();
        assert_eq!(e.body()["error"]["param"], "rate_limits.rpm");
        let e = parse_body::<Spec>(br#"{"nmae": "x"}"#, "{}").unwrap_err();
        assert!(e.to_string().contains("nmae"), "{e}");
        let e = parse_body::<Spec>(b"", "{\"name\": \"x\"}").unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        let e = parse_body::<Spec>(b"{} {}", "{}").unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
        assert!(parse_body::<Spec>(br#"{"name": "x"}"#, "{}").is_ok());
    }
}
