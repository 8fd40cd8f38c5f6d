//! Admin authentication: the admin API (`/admin/v1/…`, [`crate::admin`]) answers only callers
//! presenting one of `admin_keys` as `Authorization: Bearer …`, and no one at all when no admin
//! key is configured (a 404 saying how to turn it on), whatever address the proxy listens on.
//!
//! Client keys and virtual keys never open it: presenting one gets a 403 that says which kind of
//! key it is (the caller holds that key, so naming its kind tells them nothing new); anything
//! else gets a 401. Admin keys are compared in constant time against every admin key, as client
//! keys are ([`super::auth`]). The caller's identity (`admin-key-<n>`, never the key) goes into
//! the request extensions for handlers' audit lines and onto the answer for the edge log.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::{Gateway, GatewayError};

use super::auth::{bearer_token, matching_key};
use crate::{error_response, AppState};

/// The message of every admin route while no admin key is configured.
pub const DISABLED: &str = "admin API disabled: set admin_keys in the config (at least 16 \
                            characters each, e.g. `openssl rand -hex 24`) to turn it on";

/// The middleware: the request with its admin identity, or the OpenAI-shaped refusal.
pub async fn require_admin_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match authenticate_admin(&state.gateway, req.headers()).await {
        Ok(identity) => {
            req.extensions_mut().insert(identity.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(identity);
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// The index of the admin key `presented` is, if any.
pub fn admin_key_index(gateway: &Gateway, presented: &str) -> Option<usize> {
    let keys: Vec<&str> = gateway
        .governor()
        .admin_keys()
        .iter()
        .map(|k| k.expose())
        .collect();
    matching_key(&keys, presented.as_bytes())
}

/// Who is calling the admin API: an admin key's identity, or why not.
pub async fn authenticate_admin(
    gateway: &Gateway,
    headers: &HeaderMap,
) -> Result<ClientIdentity, GatewayError> {
    if gateway.governor().admin_keys().is_empty() {
        return Err(GatewayError::NotFound(DISABLED.into()));
    }
    let Some(presented) = bearer_token(headers) else {
        return Err(GatewayError::Unauthorized(
            "missing admin key: the admin API needs `Authorization: Bearer <admin key>` with \
             one of the proxy's admin_keys"
                .into(),
        ));
    };
    if let Some(index) = admin_key_index(gateway, presented) {
        return Ok(ClientIdentity::admin_key(index));
    }
    let client_keys = ccp_gateway::pipeline::client_key_values(gateway.config());
    if matching_key(&client_keys, presented.as_bytes()).is_some() {
        return Err(not_an_admin_key("a client key (client_keys)"));
    }
    let governor = gateway.governor();
    if governor.keys_possible() {
        if let Ok(Some(identity)) = governor.authenticate(presented).await {
            return Err(not_an_admin_key(&format!(
                "the virtual key `{}`",
                identity.key.as_ref().map_or("?", |k| k.name.as_str())
            )));
        }
    }
    Err(GatewayError::Unauthorized(
        "invalid admin key: it matches none of the proxy's admin_keys".into(),
    ))
}

fn not_an_admin_key(what: &str) -> GatewayError {
    GatewayError::Forbidden {
        code: "admin_key_required",
        message: format!(
            "this is {what}, which serves model requests only; the admin API accepts only \
             admin_keys"
        ),
    }
}
