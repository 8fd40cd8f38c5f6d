//! Panic catching: a handler that panics (a bug) answers an OpenAI-shaped 500 — "internal
//! error in the proxy (it has been logged)" — the panic is logged (redacted) under `ccp::edge`,
//! and the server keeps serving other requests. tower-http's `CatchPanicLayer` does the
//! catching; this module decides the answer.

use std::any::Any;

use axum::body::Body;
use axum::http::Response;
use ccp_gateway::redact::Redactor;
use ccp_gateway::GatewayError;
use tower_http::catch_panic::ResponseForPanic;

use crate::error_response;

/// The message a client gets for a panic (the panic's own text stays in the log).
pub const PANIC_MESSAGE: &str = "internal error in the proxy (it has been logged)";

/// Builds the answer for a caught panic.
#[derive(Clone)]
pub struct PanicResponse {
    redactor: Redactor,
}

impl PanicResponse {
    pub fn new(redactor: Redactor) -> Self {
        PanicResponse { redactor }
    }
}

impl ResponseForPanic for PanicResponse {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, err: Box<dyn Any + Send + 'static>) -> Response<Body> {
        let what = panic_message(err.as_ref());
        tracing::error!(
            target: "ccp::edge",
            panic = %self.redactor.redact(&what),
            "handler panicked; answered 500 and kept serving"
        );
        error_response(&GatewayError::Internal(PANIC_MESSAGE.into()))
    }
}

/// The text of a panic payload (`panic!("…")` carries a `&str` or a `String`).
pub fn panic_message(err: &(dyn Any + Send)) -> String {
    err.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_an_openai_shaped_500_without_the_panic_text() {
        let mut responder = PanicResponse::new(Redactor::new(vec!["sk-secret-1234".to_owned()]));
        let resp = responder.response_for_panic(Box::new("boom with sk-secret-1234".to_owned()));
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let reason = resp.extensions().get::<crate::ErrorReason>().unwrap();
        assert_eq!(reason.code, "server_error");
        assert_eq!(reason.message, PANIC_MESSAGE);
    }

    #[test]
    fn reads_str_and_string_payloads() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "unknown panic");
    }
}
