//! What the edge answers when no ingress takes the request: a 404 in OpenAI shape, for an
//! unknown path (with the base-URL hints of [`crate::hints`]) and for a known path asked with a
//! method it does not serve ("GET is not supported on /v1/models").

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::response::Response;
use ccp_gateway::GatewayError;

use crate::{error_response, hints};

/// The app's fallback: no route has this path.
pub async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error_response(&GatewayError::NotFound(hints::not_found_message(
        &method,
        uri.path(),
    )))
}

/// A route's fallback: the path exists, the method does not.
pub async fn not_supported(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    not_supported_response(&method, uri.path())
}

/// The 404 for `method` on a path that serves other methods.
pub fn not_supported_response(method: &Method, path: &str) -> Response {
    error_response(&GatewayError::NotFound(format!(
        "{method} is not supported on {path}"
    )))
}
