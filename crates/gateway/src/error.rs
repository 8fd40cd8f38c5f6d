//! The one error type at the HTTP edge, with its OpenAI-shaped body, and the mapping of upstream
//! failures to the error codes Codex acts on (see codex-wire.md §4.4).
//!
//! Codex retries a `response.failed` whose code is `rate_limit_exceeded` after the delay named in
//! "try again in Ns", stops on `context_length_exceeded` / `insufficient_quota` /
//! `invalid_prompt`, and retries any other code. The mapping below is written for that.

use serde_json::{json, Value};

/// An error the gateway reports to the client.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    /// The client's request is malformed; `param` is the JSON path.
    #[error("{message}")]
    BadRequest {
        param: Option<String>,
        message: String,
    },
    /// The body is larger than `max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Missing or wrong client key.
    #[error("{0}")]
    Unauthorized(String),
    /// No such route.
    #[error("{0}")]
    NotFound(String),
    /// The upstream failed; `code` is an OpenAI error code.
    #[error("{message}")]
    Upstream {
        status: u16,
        code: String,
        message: String,
    },
    /// A bug or an unexpected condition inside the proxy.
    #[error("{0}")]
    Internal(String),
}

impl GatewayError {
    /// HTTP status for a non-streaming answer.
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::BadRequest { .. } => 400,
            GatewayError::PayloadTooLarge { .. } => 413,
            GatewayError::Unauthorized(_) => 401,
            GatewayError::NotFound(_) => 404,
            GatewayError::Upstream { status, .. } => *status,
            GatewayError::Internal(_) => 500,
        }
    }

    /// OpenAI error `type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            GatewayError::BadRequest { .. }
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::NotFound(_) => "invalid_request_error",
            GatewayError::Unauthorized(_) => "authentication_error",
            GatewayError::Upstream { status, .. } if *status == 429 => "rate_limit_error",
            GatewayError::Upstream { status, .. } if *status < 500 => "invalid_request_error",
            GatewayError::Upstream { .. } | GatewayError::Internal(_) => "server_error",
        }
    }

    /// OpenAI error `code`.
    pub fn code(&self) -> &str {
        match self {
            GatewayError::BadRequest { .. } => "invalid_request",
            GatewayError::PayloadTooLarge { .. } => "request_too_large",
            GatewayError::Unauthorized(_) => "invalid_api_key",
            GatewayError::NotFound(_) => "not_found",
            GatewayError::Upstream { code, .. } => code,
            GatewayError::Internal(_) => "server_error",
        }
    }

    /// A low-cardinality label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            GatewayError::BadRequest { .. } => "bad_request",
            GatewayError::PayloadTooLarge { .. } => "payload_too_large",
            GatewayError::Unauthorized(_) => "unauthorized",
            GatewayError::NotFound(_) => "not_found",
            GatewayError::Upstream { .. } => "upstream",
            GatewayError::Internal(_) => "internal",
        }
    }

    /// `{"error": {"message", "type", "code", "param"}}`.
    pub fn body(&self) -> Value {
        let param = match self {
            GatewayError::BadRequest { param, .. } => {
                param.clone().map(Value::String).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        json!({"error": {"message": self.to_string(), "type": self.error_type(), "code": self.code(), "param": param}})
    }
}

/// What went wrong talking to the upstream, before mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect (DNS, TCP, TLS).
    Connect(String),
    /// A timeout fired; the name says which (`connect`, `first byte`, `idle`, `total`).
    Timeout(&'static str),
    /// The upstream answered with a non-2xx status.
    Status {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
    /// The connection broke while reading the body.
    Disconnected(String),
    /// The upstream sent something that is not a chat stream.
    Protocol(String),
    /// An error payload arrived inside the stream.
    InBand(Value),
}

impl UpstreamFailure {
    /// True when a retry before the first byte to the client makes sense.
    pub fn is_retryable_before_first_byte(&self) -> bool {
        match self {
            UpstreamFailure::Connect(_)
            | UpstreamFailure::Timeout(_)
            | UpstreamFailure::Disconnected(_) => true,
            UpstreamFailure::Status { status, .. } => *status >= 500 && *status != 501,
            UpstreamFailure::Protocol(_) | UpstreamFailure::InBand(_) => false,
        }
    }
}

/// Default delay Codex is told to wait after an upstream 429 that names none.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;

/// Maps an upstream failure to the client-facing error for backend `backend`.
pub fn map_upstream_failure(backend: &str, failure: &UpstreamFailure) -> GatewayError {
    match failure {
        UpstreamFailure::Connect(detail) => GatewayError::Upstream {
            status: 502,
            code: "server_error".into(),
            message: format!("backend `{backend}`: could not connect to the upstream ({detail})"),
        },
        UpstreamFailure::Timeout(which) => GatewayError::Upstream {
            status: 504,
            code: "server_error".into(),
            message: format!("backend `{backend}`: upstream {which} timeout fired"),
        },
        UpstreamFailure::Disconnected(detail) => GatewayError::Upstream {
            status: 502,
            code: "server_error".into(),
            message: format!("backend `{backend}`: upstream connection broke mid-answer ({detail}); the answer was not completed"),
        },
        UpstreamFailure::Protocol(detail) => GatewayError::Upstream {
            status: 502,
            code: "server_error".into(),
            message: format!("backend `{backend}`: upstream sent an invalid response ({detail})"),
        },
        UpstreamFailure::InBand(payload) => {
            let (code, message) = classify_error_payload(payload);
            from_classified(backend, 0, code, message, None)
        }
        UpstreamFailure::Status { status, body, retry_after } => {
            let parsed: Option<Value> = serde_json::from_str(body).ok();
            let (code, message) = match &parsed {
                Some(v) => classify_error_payload(v),
                None => (None, truncate(body.trim(), 500)),
            };
            from_classified(backend, *status, code, message, *retry_after)
        }
    }
}

fn from_classified(
    backend: &str,
    status: u16,
    provider_code: Option<String>,
    message: String,
    retry_after: Option<u64>,
) -> GatewayError {
    let lower = message.to_lowercase();
    let code_l = provider_code.clone().unwrap_or_default().to_lowercase();
    let is_context = lower.contains("context length")
        || lower.contains("context_length")
        || lower.contains("maximum context")
        || lower.contains("context window")
        || lower.contains("too long")
        || lower.contains("token limit")
        || lower.contains("prompt is too long")
        || code_l.contains("context_length");
    let is_quota = status == 402
        || code_l.contains("insufficient_quota")
        || lower.contains("insufficient balance")
        || lower.contains("insufficient_quota")
        || lower.contains("quota exceeded");
    let is_safety = code_l.contains("content_filter")
        || lower.contains("content_filter")
        || lower.contains("high risk");
    let (status_out, code, msg) = if status == 429 || code_l.contains("rate_limit") {
        let secs = retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS);
        (
            429,
            "rate_limit_exceeded",
            format!(
                "backend `{backend}`: upstream rate limit: {message}. Please try again in {secs}s."
            ),
        )
    } else if is_quota {
        (
            429,
            "insufficient_quota",
            format!("backend `{backend}`: upstream quota or balance exhausted: {message}"),
        )
    } else if status == 401 || status == 403 {
        (
            401,
            "invalid_api_key",
            format!(
                "backend `{backend}`: the upstream rejected the API key configured for this backend ({status}) — check the backend's api_key"
            ),
        )
    } else if is_context {
        (
            400,
            "context_length_exceeded",
            format!("backend `{backend}`: {message}"),
        )
    } else if is_safety {
        (
            400,
            "invalid_prompt",
            format!("backend `{backend}`: upstream refused the content: {message}"),
        )
    } else if status == 503 || code_l.contains("overloaded") {
        (
            503,
            "server_is_overloaded",
            format!("backend `{backend}`: upstream is overloaded: {message}"),
        )
    } else if status >= 500 || status == 0 {
        (
            502,
            "server_error",
            format!("backend `{backend}`: upstream error: {message}"),
        )
    } else {
        (
            status,
            "invalid_request_error",
            format!("backend `{backend}`: upstream rejected the request ({status}): {message}"),
        )
    };
    GatewayError::Upstream {
        status: status_out,
        code: code.to_owned(),
        message: msg,
    }
}

/// Pulls `(code, message)` out of the error payloads providers send.
pub fn classify_error_payload(v: &Value) -> (Option<String>, String) {
    let err = v.get("error").unwrap_or(v);
    let code = err
        .get("code")
        .or_else(|| err.get("type"))
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .or_else(|| {
            v.get("base_resp")
                .and_then(|b| b.get("status_code"))
                .map(|c| c.to_string())
        });
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| {
            v.get("base_resp")
                .and_then(|b| b.get("status_msg"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
        .unwrap_or_else(|| truncate(&v.to_string(), 500));
    (code, message)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, body: &str, retry_after: Option<u64>) -> GatewayError {
        map_upstream_failure(
            "kimi",
            &UpstreamFailure::Status {
                status,
                body: body.into(),
                retry_after,
            },
        )
    }

    #[test]
    fn rate_limit_names_the_delay() {
        let e = status(429, r#"{"error":{"message":"slow down"}}"#, Some(1));
        assert_eq!(e.code(), "rate_limit_exceeded");
        assert!(e.to_string().contains("try again in 1s"), "{e}");
        let e = status(429, "busy", None);
        assert!(
            e.to_string()
                .contains(&format!("try again in {DEFAULT_RETRY_AFTER_SECS}s")),
            "{e}"
        );
    }

    #[test]
    fn key_rejection_never_echoes_the_body() {
        let e = status(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-live-SECRET"}}"#,
            None,
        );
        assert_eq!(e.code(), "invalid_api_key");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(e.to_string().contains("kimi"));
    }

    #[test]
    fn context_quota_overload_and_server_errors() {
        assert_eq!(
            status(
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
                None
            )
            .code(),
            "context_length_exceeded"
        );
        assert_eq!(
            status(402, r#"{"error":{"message":"Insufficient Balance"}}"#, None).code(),
            "insufficient_quota"
        );
        assert_eq!(
            status(503, "overloaded", None).code(),
            "server_is_overloaded"
        );
        assert_eq!(status(500, "boom", None).code(), "server_error");
        assert_eq!(
            status(422, r#"{"error":{"message":"bad param"}}"#, None).status(),
            422
        );
    }

    #[test]
    fn body_is_openai_shaped() {
        let e = GatewayError::BadRequest {
            param: Some("input[0].role".into()),
            message: "bad role".into(),
        };
        let b = e.body();
        assert_eq!(b["error"]["param"], "input[0].role");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["message"], "bad role");
    }
}
