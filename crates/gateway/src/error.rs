//! The one error type at the HTTP edge, with its OpenAI-shaped body, and the mapping of upstream
//! failures to the error codes Codex acts on (see codex-wire.md §4.4 and docs/errors.md).
//!
//! Codex retries a `response.failed` whose code is `rate_limit_exceeded` after the delay named in
//! "try again in Ns", stops on `context_length_exceeded` / `insufficient_quota` /
//! `invalid_prompt` / `server_is_overloaded`, and retries any other code. The mapping is written
//! for that: deterministic upstream rejections (a 400, a refused prompt) use codes Codex stops
//! on, transient failures use `server_error`.
//!
//! Invariants:
//! * A rate-limit message contains exactly one "try again in Ns." and ends with it (Codex reads
//!   the first match, the edge's `Retry-After` the last one).
//! * A rejected upstream key is reported without any of the upstream's text (which often quotes
//!   the key); every other upstream text is truncated and scrubbed of key-like tokens.

mod text;

pub use ccp_providers::profile::UpstreamErrorKind;
pub use text::scrub_secrets;

use ccp_providers::profile::{ProviderId, ResolvedProfile};
use serde_json::{json, Value};
use text::{neutralize_try_again, quote};

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
    #[error("request body is larger than the limit of {limit} bytes (max_body_bytes)")]
    PayloadTooLarge { limit: usize },
    /// Missing or wrong client key.
    #[error("{0}")]
    Unauthorized(String),
    /// No such route.
    #[error("{0}")]
    NotFound(String),
    /// `strict_models` is on and no backend serves the requested model.
    #[error("the model `{model}` does not exist or is not served by this proxy — use one of: {}", served.join(", "))]
    ModelNotFound { model: String, served: Vec<String> },
    /// The upstream failed; `code` is an OpenAI error code.
    #[error("{message}")]
    Upstream {
        status: u16,
        code: String,
        message: String,
        /// Seconds the client should wait before retrying (rate limits): the `Retry-After`
        /// header and the "try again in Ns" of the message both come from here.
        retry_after: Option<u64>,
    },
    /// The upstream account's plan limit is reached (the ChatGPT backend's `usage_limit_reached`
    /// or `usage_not_included`): answered in that backend's shape, so Codex shows its
    /// usage-limit message with the reset time.
    #[error("{message}")]
    UsageLimit {
        kind: String,
        message: String,
        plan_type: Option<String>,
        /// Unix seconds when the limit resets, when known.
        resets_at: Option<u64>,
    },
    /// A request about stored state that cannot be served: an unknown, foreign or expired
    /// response or item id, a tampered `encrypted_content` (OpenAI's shapes: `code` such as
    /// `previous_response_not_found`, the message naming the id).
    #[error("{message}")]
    State {
        status: u16,
        code: &'static str,
        param: Option<String>,
        message: String,
    },
    /// The caller's virtual key may not use this model (403 `model_not_allowed`).
    #[error("model `{model}` is not allowed for this key; allowed: {}", if allowed.is_empty() { "no model".to_owned() } else { allowed.join(", ") })]
    ModelNotAllowed { model: String, allowed: Vec<String> },
    /// A budget is used up (402 `budget_exceeded`); the message names the scope and its reset.
    #[error("{message}")]
    BudgetExceeded { message: String, retry_after: u64 },
    /// A rate limit of the caller's key (429 `rate_limit_exceeded`, `Retry-After` and
    /// `x-ratelimit-*` headers).
    #[error("rate limit exceeded: {message}")]
    RateLimited {
        message: String,
        retry_after: u64,
        headers: Vec<(String, String)>,
    },
    /// The caller is known but may not do this (403), e.g. a client key on the admin API;
    /// `code` names why.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
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
            GatewayError::NotFound(_) | GatewayError::ModelNotFound { .. } => 404,
            GatewayError::Upstream { status, .. } => *status,
            GatewayError::UsageLimit { .. } => 429,
            GatewayError::State { status, .. } => *status,
            GatewayError::ModelNotAllowed { .. } => 403,
            GatewayError::BudgetExceeded { .. } => 402,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::Forbidden { .. } => 403,
            GatewayError::Internal(_) => 500,
        }
    }

    /// OpenAI error `type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            GatewayError::BadRequest { .. }
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::NotFound(_)
            | GatewayError::State { .. }
            | GatewayError::ModelNotAllowed { .. }
            | GatewayError::ModelNotFound { .. } => "invalid_request_error",
            GatewayError::Forbidden { .. } => "permission_error",
            GatewayError::BudgetExceeded { .. } => "insufficient_quota",
            GatewayError::RateLimited { .. } => "rate_limit_error",
            GatewayError::Unauthorized(_) => "authentication_error",
            GatewayError::Upstream { code, status, .. } => match code.as_str() {
                "invalid_api_key" => "authentication_error",
                "rate_limit_exceeded" => "rate_limit_error",
                "insufficient_quota" => "insufficient_quota",
                _ if *status < 500 => "invalid_request_error",
                _ => "server_error",
            },
            GatewayError::UsageLimit { .. } => "usage_limit_reached",
            GatewayError::Internal(_) => "server_error",
        }
    }

    /// OpenAI error `code`.
    pub fn code(&self) -> &str {
        match self {
            GatewayError::BadRequest { .. } => "invalid_request",
            GatewayError::PayloadTooLarge { .. } => "request_too_large",
            GatewayError::Unauthorized(_) => "invalid_api_key",
            GatewayError::NotFound(_) => "not_found",
            GatewayError::ModelNotFound { .. } => "model_not_found",
            GatewayError::Upstream { code, .. } => code,
            GatewayError::UsageLimit { kind, .. } => kind,
            GatewayError::State { code, .. } => code,
            GatewayError::ModelNotAllowed { .. } => "model_not_allowed",
            GatewayError::BudgetExceeded { .. } => "budget_exceeded",
            GatewayError::RateLimited { .. } => "rate_limit_exceeded",
            GatewayError::Forbidden { code, .. } => code,
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
            GatewayError::ModelNotFound { .. } => "model_not_found",
            GatewayError::Upstream { .. } => "upstream",
            GatewayError::UsageLimit { .. } => "usage_limit",
            GatewayError::State { .. } => "state",
            GatewayError::ModelNotAllowed { .. } => "model_not_allowed",
            GatewayError::BudgetExceeded { .. } => "budget_exceeded",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::Forbidden { .. } => "forbidden",
            GatewayError::Internal(_) => "internal",
        }
    }

    /// Seconds the client should wait before retrying, when the error names a delay.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::Upstream { retry_after, .. } => *retry_after,
            GatewayError::BudgetExceeded { retry_after, .. }
            | GatewayError::RateLimited { retry_after, .. } => Some(*retry_after),
            GatewayError::UsageLimit {
                resets_at: Some(at),
                ..
            } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                Some(at.saturating_sub(now).max(1))
            }
            _ => None,
        }
    }

    /// Headers the answer carries besides `Retry-After` (a rate limit's `x-ratelimit-*`).
    pub fn extra_headers(&self) -> &[(String, String)] {
        match self {
            GatewayError::RateLimited { headers, .. } => headers,
            _ => &[],
        }
    }

    /// The code a `response.failed` event carries for this error, chosen for what Codex does
    /// with it (codex-wire §4.4): a rate limit waits and retries ("try again in Ns" is in the
    /// message); an exhausted budget and a refused model stop at once and print the message
    /// (`invalid_prompt`: Codex 0.169 prints its own fixed text for `insufficient_quota`, which
    /// would hide which budget ran out; the binding code leads the message instead). Other
    /// errors keep their code.
    pub fn in_stream_code(&self) -> &str {
        match self {
            GatewayError::RateLimited { .. } => "rate_limit_exceeded",
            GatewayError::BudgetExceeded { .. } | GatewayError::ModelNotAllowed { .. } => {
                "invalid_prompt"
            }
            other => other.code(),
        }
    }

    /// `{"error": {"message", "type", "code", "param"}}`.
    pub fn body(&self) -> Value {
        let param = match self {
            GatewayError::BadRequest { param: Some(p), .. }
            | GatewayError::State { param: Some(p), .. } => Value::String(p.clone()),
            GatewayError::ModelNotFound { .. } | GatewayError::ModelNotAllowed { .. } => {
                Value::String("model".into())
            }
            _ => Value::Null,
        };
        let mut body = json!({"error": {
            "message": self.to_string(),
            "type": self.error_type(),
            "code": self.code(),
            "param": param,
        }});
        if let GatewayError::UsageLimit {
            kind,
            plan_type,
            resets_at,
            ..
        } = self
        {
            // Codex reads `type`, `plan_type` and `resets_at` (codex-api `UsageErrorBody`).
            body["error"]["type"] = Value::String(kind.clone());
            body["error"]["plan_type"] = json!(plan_type);
            body["error"]["resets_at"] = json!(resets_at);
            body["error"]["resets_in_seconds"] = json!(self.retry_after());
        }
        body
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
    /// An error payload arrived inside the stream (or as a 2xx body).
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

/// Maps an upstream failure to the client-facing error for a backend with the generic profile.
pub fn map_upstream_failure(backend: &str, failure: &UpstreamFailure) -> GatewayError {
    let generic = ccp_providers::profile::resolve(ProviderId::generic(), Default::default());
    map_failure(backend, &generic, failure)
}

/// Maps an upstream failure to the client-facing error for backend `backend`, whose provider
/// profile classifies error bodies (the one classifier: profile first, then the fallback).
pub fn map_failure(
    backend: &str,
    profile: &ResolvedProfile,
    failure: &UpstreamFailure,
) -> GatewayError {
    let server_error = |status: u16, message: String| GatewayError::Upstream {
        status,
        code: "server_error".into(),
        message,
        retry_after: None,
    };
    match failure {
        UpstreamFailure::Connect(detail) => server_error(
            502,
            format!(
                "backend `{backend}`: could not connect to the upstream ({}) — check the backend's url and that the server is up",
                quote(detail)
            ),
        ),
        UpstreamFailure::Timeout(which) => server_error(504, timeout_message(backend, which)),
        UpstreamFailure::Disconnected(detail) => server_error(
            502,
            format!(
                "backend `{backend}`: the upstream connection broke mid-answer ({}); the answer was not completed",
                quote(detail)
            ),
        ),
        UpstreamFailure::Protocol(detail) => server_error(
            502,
            format!("backend `{backend}`: the upstream sent an invalid response ({})", quote(detail)),
        ),
        UpstreamFailure::InBand(payload) => {
            let class = profile.classify(None, payload);
            let hint = ccp_providers::profile::status_hint(&ccp_providers::profile::ErrorView::new(payload));
            from_class(backend, Origin::InBand(hint), class, None)
        }
        UpstreamFailure::Status { status, body, retry_after } => {
            let v = match serde_json::from_str::<Value>(body) {
                Ok(v) if v.is_object() => v,
                _ => Value::String(body.trim().to_owned()),
            };
            let class = profile.classify(Some(*status), &v);
            from_class(backend, Origin::Status(*status), class, *retry_after)
        }
    }
}

fn timeout_message(backend: &str, which: &str) -> String {
    match which {
        "connect" => format!(
            "backend `{backend}`: connect timeout — the upstream did not accept a connection within connect_timeout_secs"
        ),
        "first byte" => format!(
            "backend `{backend}`: first byte timeout — the upstream sent no response headers within first_byte_timeout_secs"
        ),
        "idle" => format!(
            "backend `{backend}`: idle timeout — the upstream sent nothing for idle_timeout_secs mid-answer; the answer was not completed"
        ),
        "total" => format!(
            "backend `{backend}`: total timeout — the upstream answer took longer than total_timeout_secs; the answer was not completed"
        ),
        other => format!("backend `{backend}`: upstream {other} timeout fired"),
    }
}

/// Where an upstream error came from: an HTTP status, or a payload inside a 2xx answer (with
/// the status it names, if any).
#[derive(Debug, Clone, Copy)]
enum Origin {
    Status(u16),
    InBand(Option<u16>),
}

/// The client-facing error for a classified upstream error. `header_retry` is the upstream's
/// `Retry-After`, which wins over a delay named in the body.
fn from_class(
    backend: &str,
    origin: Origin,
    class: ccp_providers::profile::Classified,
    header_retry: Option<u64>,
) -> GatewayError {
    use UpstreamErrorKind as K;
    let retry_after = header_retry.or(class.retry_after);
    match (&class.explanation, class.kind) {
        // A rejected key is reported without any upstream text, which often quotes the key.
        (_, K::KeyRejected) | (None, _) => {}
        (Some(explanation), kind) => {
            let mut message = format!("backend `{backend}`: {}", quote(explanation));
            if !message.ends_with(['.', '!', '?', '。']) {
                message.push('.');
            }
            let mut delay = None;
            if kind == K::RateLimited {
                let secs = retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS).max(1);
                delay = Some(secs);
                message = neutralize_try_again(&message);
                message.push_str(&format!(" Please try again in {secs}s."));
            }
            let (status, code) = kind_status_code(kind, origin);
            return GatewayError::Upstream {
                status,
                code: code.to_owned(),
                message,
                retry_after: delay,
            };
        }
    }
    let said = quote(&class.upstream_message);
    let kind = class.kind;
    let http = match origin {
        Origin::Status(s) => format!("HTTP {s}"),
        Origin::InBand(Some(s)) => format!("in-band error {s}"),
        Origin::InBand(None) => "in-band error".to_owned(),
    };
    let (status_out, code) = kind_status_code(kind, origin);
    let mut delay = None;
    let message = match kind {
        K::RateLimited => {
            let secs = retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECS).max(1);
            delay = Some(secs);
            let said = neutralize_try_again(&said);
            format!("backend `{backend}`: upstream rate limit ({http}): {said}. Please try again in {secs}s.")
        }
        K::QuotaExhausted => format!("backend `{backend}`: upstream quota or balance exhausted ({http}): {said} — top up or change the plan of this backend's account"),
        K::KeyRejected => format!(
            "backend `{backend}`: the upstream rejected the API key configured for this backend ({http}) — check the backend's api_key (or the environment variable it names)"
        ),
        K::ContextOverflow => format!("backend `{backend}`: the input exceeds the model's context window ({http}): {said}"),
        K::SafetyRefusal => format!("backend `{backend}`: the upstream's content filter refused the request ({http}): {said}"),
        K::Overloaded => format!("backend `{backend}`: the upstream model is overloaded ({http}): {said}"),
        K::RequestRejected => format!("backend `{backend}`: the upstream rejected the request ({http}): {said}"),
        K::ClientError => format!("backend `{backend}`: the upstream refused the request ({http}): {said}"),
        K::ServerError => format!("backend `{backend}`: upstream error ({http}): {said}"),
    };
    GatewayError::Upstream {
        status: status_out,
        code: code.to_owned(),
        message,
        retry_after: delay,
    }
}

/// The HTTP status (before any byte reached the client) and the OpenAI code of each kind; codes
/// are the ones Codex acts on (codex-wire.md §4.4).
fn kind_status_code(kind: UpstreamErrorKind, origin: Origin) -> (u16, &'static str) {
    use UpstreamErrorKind as K;
    let status = match origin {
        Origin::Status(s) | Origin::InBand(Some(s)) => Some(s),
        Origin::InBand(None) => None,
    };
    match kind {
        K::RateLimited => (429, "rate_limit_exceeded"),
        K::QuotaExhausted => (429, "insufficient_quota"),
        K::KeyRejected => (401, "invalid_api_key"),
        K::ContextOverflow => (400, "context_length_exceeded"),
        K::SafetyRefusal => (400, "invalid_prompt"),
        K::Overloaded => (503, "server_is_overloaded"),
        K::RequestRejected => (status.unwrap_or(400), "invalid_prompt"),
        K::ClientError => (status.unwrap_or(400), "invalid_request_error"),
        K::ServerError => (if status == Some(408) { 504 } else { 502 }, "server_error"),
    }
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

    fn in_band(payload: Value) -> GatewayError {
        map_upstream_failure("kimi", &UpstreamFailure::InBand(payload))
    }

    fn try_again_count(e: &GatewayError) -> usize {
        e.to_string().to_lowercase().matches("try again in").count()
    }

    #[test]
    fn rate_limit_names_one_delay_from_header_body_or_default() {
        let e = status(429, r#"{"error":{"message":"slow down"}}"#, Some(1));
        assert_eq!((e.code(), e.status()), ("rate_limit_exceeded", 429));
        assert!(e.to_string().ends_with("try again in 1s."), "{e}");
        let e = status(
            429,
            r#"{"error":{"message":"Limit hit. Please try again in 1.5s."}}"#,
            None,
        );
        assert!(e.to_string().ends_with("try again in 2s."), "{e}");
        assert_eq!(try_again_count(&e), 1, "{e}");
        let e = status(
            429,
            r#"{"error":{"message":"Try again in 20 seconds"}}"#,
            Some(3),
        );
        assert!(
            e.to_string().ends_with("try again in 3s."),
            "header wins: {e}"
        );
        assert_eq!(try_again_count(&e), 1, "{e}");
        let e = status(429, "busy", None);
        assert!(
            e.to_string()
                .ends_with(&format!("try again in {DEFAULT_RETRY_AFTER_SECS}s.")),
            "{e}"
        );
        let e =
            in_band(json!({"error": {"code": "rate_limit_exceeded", "message": "retry in 500ms"}}));
        assert!(e.to_string().ends_with("try again in 1s."), "{e}");
    }

    #[test]
    fn key_rejection_never_echoes_the_body() {
        for s in [401, 403] {
            let e = status(
                s,
                r#"{"error":{"message":"Incorrect API key provided: sk-live-SECRET"}}"#,
                None,
            );
            assert_eq!((e.code(), e.status()), ("invalid_api_key", 401));
            assert!(
                !e.to_string().contains("SECRET") && !e.to_string().contains("Incorrect"),
                "{e}"
            );
            assert!(
                e.to_string().contains("`kimi`") && e.to_string().contains("rejected"),
                "{e}"
            );
        }
        assert_eq!(
            in_band(json!({"error": {"code": 401, "message": "bad key"}})).code(),
            "invalid_api_key"
        );
    }

    #[test]
    fn balance_forms_are_insufficient_quota() {
        let cases = [
            (
                402,
                r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","code":"invalid_request_error"}}"#,
            ),
            (
                403,
                r#"{"error":{"message":"Your account is suspended, please check your plan and billing details","type":"exceeded_current_quota_error"}}"#,
            ),
            (
                429,
                r#"{"error":{"code":"1113","message":"您的账户已欠费"}}"#,
            ),
            (
                403,
                r#"{"error":{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing."}}"#,
            ),
            (
                402,
                r#"{"error":{"code":402,"message":"Insufficient credits"}}"#,
            ),
        ];
        for (s, body) in cases {
            assert_eq!(
                status(s, body, None).code(),
                "insufficient_quota",
                "{s} {body}"
            );
        }
        let e = in_band(
            json!({"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}),
        );
        assert_eq!(e.code(), "insufficient_quota");
    }

    #[test]
    fn context_overflow_forms() {
        let cases = [
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens","type":"BadRequestError","code":400}"#,
            r#"{"error":{"type":"invalid_request_error","message":"Invalid request: Your request exceeded model token limit: 262144"}}"#,
            r#"{"error":{"code":"1261","message":"Prompt 超过最大长度"}}"#,
            r#"{"error":{"code":"InvalidParameter","message":"Range of input length should be [1, 129024]"}}"#,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#,
        ];
        for body in cases {
            let e = status(400, body, None);
            assert_eq!(
                (e.code(), e.status()),
                ("context_length_exceeded", 400),
                "{body}"
            );
        }
        assert_eq!(
            status(
                429,
                r#"{"error":{"message":"token limit per minute reached"}}"#,
                None
            )
            .code(),
            "rate_limit_exceeded"
        );
    }

    #[test]
    fn safety_overload_rejections_and_server_errors() {
        assert_eq!(
            status(
                400,
                r#"{"error":{"code":"1301","message":"不安全或敏感内容"}}"#,
                None
            )
            .code(),
            "invalid_prompt"
        );
        assert_eq!(
            status(
                400,
                r#"{"error":{"type":"content_filter","message":"high risk"}}"#,
                None
            )
            .code(),
            "invalid_prompt"
        );
        assert_eq!(
            in_band(json!({"base_resp": {"status_code": 1027, "status_msg": "output sensitive"}}))
                .code(),
            "invalid_prompt"
        );
        for (s, body) in [
            (503, "Service Unavailable"),
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            (429, r#"{"error":{"code":"1312","message":"访问量过大"}}"#),
        ] {
            let e = status(s, body, None);
            assert_eq!(
                (e.code(), e.status()),
                ("server_is_overloaded", 503),
                "{s} {body}"
            );
        }
        let e = status(
            400,
            r#"{"error":{"message":"tool_choice is not supported","code":null,"type":"invalid_request_error"}}"#,
            None,
        );
        assert_eq!((e.code(), e.status()), ("invalid_prompt", 400));
        let e = status(404, r#"{"error":{"message":"model not found"}}"#, None);
        assert_eq!((e.code(), e.status()), ("invalid_request_error", 404));
        let e = status(500, "<html>boom</html>", None);
        assert_eq!((e.code(), e.status()), ("server_error", 502));
        assert_eq!(
            in_band(json!({"error": {"message": "oops"}})).code(),
            "server_error"
        );
        assert_eq!(
            in_band(json!({"error": "plain text"})).to_string(),
            "backend `kimi`: upstream error (in-band error): plain text"
        );
    }

    #[test]
    fn transport_failures_name_what_fired() {
        for (which, setting) in [
            ("connect", "connect_timeout_secs"),
            ("first byte", "first_byte_timeout_secs"),
            ("idle", "idle_timeout_secs"),
            ("total", "total_timeout_secs"),
        ] {
            let e = map_upstream_failure("glm", &UpstreamFailure::Timeout(which));
            assert_eq!((e.code(), e.status()), ("server_error", 504));
            assert!(
                e.to_string().contains(setting)
                    && e.to_string().contains(&format!("{which} timeout")),
                "{e}"
            );
        }
        let e = map_upstream_failure(
            "glm",
            &UpstreamFailure::Connect("Connection refused (os error 111)".into()),
        );
        assert!(
            e.to_string().contains("could not connect") && e.to_string().contains("refused"),
            "{e}"
        );
    }

    #[test]
    fn quoted_text_is_scrubbed_and_bounded() {
        let e = status(
            400,
            r#"{"error":{"message":"bad header Bearer sk-abcdef0123456789abcdef and key 0123456789abcdef0123456789abcdef.AbCdEfGhIjKlMnOp"}}"#,
            None,
        );
        let text = e.to_string();
        assert!(
            !text.contains("sk-abcdef") && !text.contains("0123456789abcdef"),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
        assert_eq!(
            scrub_secrets("model glm-4.6 at https://api.z.ai/v1"),
            "model glm-4.6 at https://api.z.ai/v1"
        );
        let long = "é".repeat(2000);
        assert!(status(400, &long, None).to_string().len() < 1200);
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
        let e = status(401, "{}", None);
        assert_eq!(e.body()["error"]["type"], "authentication_error");
        assert_eq!(e.body()["error"]["param"], Value::Null);
    }
}
