//! Optional client authentication: when `client_keys` is configured, every request except
//! `GET /health` must carry one of them as `Authorization: Bearer …` or `x-api-key`.

use axum::http::HeaderMap;
use ccp_gateway::{Gateway, GatewayError};

use crate::Endpoint;

/// Checks the client key.
pub fn check(
    gateway: &Gateway,
    headers: &HeaderMap,
    endpoint: Endpoint,
) -> Result<(), GatewayError> {
    let keys = ccp_gateway::pipeline::client_key_values(gateway.config());
    if keys.is_empty() || endpoint == Endpoint::Health {
        return Ok(());
    }
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    match presented {
        None => Err(GatewayError::Unauthorized(
            "missing client key: send `Authorization: Bearer <key>` with one of the proxy's client_keys".into(),
        )),
        Some(k) if keys.iter().any(|ok| constant_time_eq(ok.as_bytes(), k.as_bytes())) => Ok(()),
        Some(_) => Err(GatewayError::Unauthorized("invalid client key: it matches none of the proxy's client_keys".into())),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
