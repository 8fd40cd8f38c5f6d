//! The stored-response endpoints (issue 13): `GET` and `DELETE /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items` (also under `/responses/…` and a backend prefix), behind
//! client authentication. Each answers for the caller's identity only: another identity's
//! response is "not found" (404), exactly like an unknown one.
//!
//! Query strings follow what clients send: `include[]=a&include[]=b` (openai-python), repeated
//! `include=`, or a comma list; `limit` 1–100 (default 20), `order` `asc`/`desc` (default
//! `desc`), `after` an item id. A bad value is a 400 naming the parameter.

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::GatewayError;
use ccp_store::Order;

use crate::ingress::fallback;
use crate::layers::auth;
use crate::{error_response, json_response, AppState};

/// Paths of one stored response, relative to a backend prefix (or the root).
pub const RESPONSE_PATHS: &[&str] = &["/v1/responses/{id}", "/responses/{id}"];
/// Paths of its input items.
pub const INPUT_ITEMS_PATHS: &[&str] = &[
    "/v1/responses/{id}/input_items",
    "/responses/{id}/input_items",
];

/// `GET` and `DELETE` of one response.
pub fn response_methods(state: &AppState) -> MethodRouter<AppState> {
    get(retrieve)
        .delete(delete)
        .fallback(fallback::not_supported)
        .layer(from_fn_with_state(state.clone(), auth::require_client_key))
}

/// `GET` of its input items.
pub fn input_items_methods(state: &AppState) -> MethodRouter<AppState> {
    get(input_items)
        .fallback(fallback::not_supported)
        .layer(from_fn_with_state(state.clone(), auth::require_client_key))
}

/// The query's `(name, value)` pairs, `name[]` read as `name`.
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| {
            let k = k.strip_suffix("[]").unwrap_or(&k).to_owned();
            (k, v.into_owned())
        })
        .collect()
}

fn includes(pairs: &[(String, String)], what: &str) -> bool {
    pairs
        .iter()
        .filter(|(k, _)| k == "include")
        .flat_map(|(_, v)| v.split(','))
        .any(|v| v.trim() == what)
}

async fn retrieve(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = pairs(query.as_deref());
    if q.iter().any(|(k, v)| k == "stream" && v == "true") {
        return error_response(&GatewayError::BadRequest {
            param: Some("stream".into()),
            message: "streaming a stored response again is not supported (only background \
                      responses can be resumed, and this proxy runs none); retrieve it without \
                      `stream`"
                .into(),
        });
    }
    let include_encrypted = includes(&q, "reasoning.encrypted_content");
    match state
        .gateway
        .state()
        .retrieve(&identity.id, &id, include_encrypted)
        .await
    {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => error_response(&e),
    }
}

async fn delete(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
) -> Response {
    match state.gateway.state().delete(&identity.id, &id).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => error_response(&e),
    }
}

async fn input_items(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = pairs(query.as_deref());
    let param = |name: &str| {
        q.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let bad = |name: &str, message: String| {
        error_response(&GatewayError::BadRequest {
            param: Some(name.to_owned()),
            message,
        })
    };
    let limit = match param("limit") {
        None => 20,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return bad(
                    "limit",
                    format!("`limit` must be an integer from 1 to 100, got {v:?}"),
                )
            }
        },
    };
    let order = match param("order") {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(v) => {
            return bad(
                "order",
                format!("`order` must be \"asc\" or \"desc\", got {v:?}"),
            )
        }
    };
    let after = param("after").filter(|a| !a.is_empty());
    match state
        .gateway
        .state()
        .input_items(&identity.id, &id, after, limit, order)
        .await
    {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_in_every_form_clients_send() {
        for q in [
            "include%5B%5D=reasoning.encrypted_content",
            "include[]=x&include[]=reasoning.encrypted_content",
            "include=reasoning.encrypted_content",
            "include=a,reasoning.encrypted_content",
        ] {
            assert!(
                includes(&pairs(Some(q)), "reasoning.encrypted_content"),
                "{q}"
            );
        }
        assert!(!includes(
            &pairs(Some("include=other")),
            "reasoning.encrypted_content"
        ));
        assert!(!includes(&pairs(None), "reasoning.encrypted_content"));
    }
}
