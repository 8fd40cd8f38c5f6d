//! The edge's part of telemetry (issue 15): each LLM request's [`RequestScope`] starts here,
//! continuing the client's `traceparent`, with the ingress, the transport, the caller's identity
//! id and the request id; errors the edge answers end it. `GET /metrics` serves the gateway's
//! Prometheus registry: on its own listener (`metrics_listen`, [`metrics_app`]) with no key, or on
//! the main listener to callers [`metrics_authorized`] lets through.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::{Gateway, GatewayError};
use ccp_telemetry::{Ingress, Outcome, RequestScope, RequestStart, Transport};

use crate::{error_response, AppState};

/// Starts the telemetry of an LLM request (which also makes its usage record when it ends).
pub fn start_scope(
    gateway: &Gateway,
    headers: &HeaderMap,
    request_id: &str,
    identity: &ClientIdentity,
    ingress: Ingress,
    transport: Transport,
) -> RequestScope {
    let telemetry = gateway.telemetry();
    let parent = telemetry
        .traces_enabled()
        .then(|| ccp_telemetry::propagation::extract_parent(headers))
        .flatten();
    telemetry.start_request(RequestStart {
        ingress,
        transport,
        client: &identity.id,
        request_id,
        parent,
        record: Some(gateway.record_start(identity)),
    })
}

/// Ends `scope` with the error the edge answers, and builds that answer.
pub fn reject(scope: &RequestScope, e: &GatewayError) -> Response {
    end_with_error(scope, e);
    error_response(e)
}

/// Ends `scope` with `e` (a no-op when the gateway already ended it).
pub fn end_with_error(scope: &RequestScope, e: &GatewayError) {
    scope.finish(Outcome {
        status: e.status(),
        code: e.code(),
        ..Outcome::default()
    });
}

/// Who may read `/metrics` on the main listener: a caller on this machine, or one presenting
/// an admin key (`admin_keys`; client and virtual keys never).
pub fn metrics_authorized(
    gateway: &Gateway,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> bool {
    if peer.is_some_and(|p| p.ip().is_loopback()) {
        return true;
    }
    crate::layers::auth::bearer_token(headers)
        .is_some_and(|k| crate::layers::admin_auth::admin_key_index(gateway, k).is_some())
}

/// `GET /metrics` on the main listener.
pub async fn metrics_on_main(State(state): State<AppState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if !metrics_authorized(&state.gateway, req.headers(), peer) {
        return error_response(&GatewayError::Unauthorized(
            "/metrics on the main listener answers callers on this machine or with an admin key \
             (`Authorization: Bearer <admin key>`, see `admin_keys`); or set `metrics_listen` to \
             serve it on its own address"
                .into(),
        ));
    }
    render(&state.gateway)
}

/// The Prometheus text of the gateway's metrics.
pub fn render(gateway: &Gateway) -> Response {
    let mut resp = gateway.telemetry().metrics().render().into_response();
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ccp_telemetry::metrics::CONTENT_TYPE),
    );
    resp
}

/// The app of the `metrics_listen` listener: `GET /metrics` and nothing else.
pub fn metrics_app(gateway: std::sync::Arc<Gateway>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let gateway = gateway.clone();
            async move { render(&gateway) }
        }),
    )
}
