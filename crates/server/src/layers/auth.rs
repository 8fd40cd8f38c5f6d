//! Client authentication: when `client_keys` is configured, a request must carry one of them as
//! `Authorization: Bearer …` or `x-api-key`; the routes that need it (every route but `/health`,
//! and the 404 fallback) wrap their handlers in [`require_client_key`]. It runs before the body
//! is read, so an unauthenticated request costs nothing more than its headers.
//!
//! The caller's [`ClientIdentity`] (named by the key's position, never by the key) goes into the
//! request extensions for handlers (`Extension<ClientIdentity>`) and, later, governance; it is
//! also copied onto the answer's extensions for the edge log. Keys are compared in constant time,
//! and every configured key is compared, so the timing shows neither where a key differs nor
//! which key matched.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::{Gateway, GatewayError};

use crate::{error_response, AppState};

/// The middleware: a 401 in OpenAI shape, or the request with its caller's identity.
pub async fn require_client_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match authenticate(&state.gateway, req.headers()).await {
        Ok(identity) => {
            req.extensions_mut().insert(identity.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(identity);
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// Who is calling: anonymous when no client key of any sort is configured, else the
/// `client_keys` entry or the virtual key the request presents; a 401 when it presents none, a
/// wrong one, or a revoked or expired virtual key. Admin keys are never client keys.
pub async fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
) -> Result<ClientIdentity, GatewayError> {
    let keys = ccp_gateway::pipeline::client_key_values(gateway.config());
    let governor = gateway.governor();
    if keys.is_empty() && !governor.keys_possible() {
        return Ok(ClientIdentity::anonymous());
    }
    let presented = bearer_token(headers).or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    });
    let Some(presented) = presented else {
        return Err(GatewayError::Unauthorized(
            "missing client key: send `Authorization: Bearer <key>` with one of the proxy's client_keys".into(),
        ));
    };
    if let Some(index) = matching_key(&keys, presented.as_bytes()) {
        return Ok(ClientIdentity::client_key(index));
    }
    if governor.keys_possible() {
        if let Some(identity) = governor.authenticate(presented).await? {
            return Ok(identity);
        }
    }
    Err(GatewayError::Unauthorized(
        "invalid client key: it matches none of the proxy's client keys or virtual keys".into(),
    ))
}

/// The non-empty token of `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// The index of the key equal to `presented`, comparing against every key.
pub(crate) fn matching_key(keys: &[&str], presented: &[u8]) -> Option<usize> {
    let mut found = None;
    for (i, key) in keys.iter().enumerate() {
        if constant_time_eq(key.as_bytes(), presented) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// Whether `a` equals `b`, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_matching_key_by_position() {
        let keys = ["key-zero-000", "key-one-1111", "key-two-2222"];
        assert_eq!(matching_key(&keys, b"key-one-1111"), Some(1));
        assert_eq!(matching_key(&keys, b"key-two-2222"), Some(2));
        assert_eq!(matching_key(&keys, b"key-one-111"), None);
        assert_eq!(matching_key(&keys, b""), None);
    }
}
