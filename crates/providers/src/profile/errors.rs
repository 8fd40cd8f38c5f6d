//! Provider error bodies → the OpenAI error codes Codex acts on (codex-wire.md §4.4):
//! `context_length_exceeded` and `insufficient_quota` stop the turn, `invalid_prompt` is shown
//! and not retried, `rate_limit_exceeded` is retried after the delay named in "try again in Ns",
//! `server_is_overloaded` is reported as capacity.
//!
//! [`ErrorView`] pulls the usual fields out of the shapes providers use
//! (`{"error":{"code","type","message"}}`, vLLM's flat `{"object":"error",…}`, MiniMax
//! `base_resp`), so each profile's classifier is a few comparisons.

use std::fmt;

use serde_json::Value;

/// An OpenAI error code the gateway can put in `response.failed` or an HTTP error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ContextLengthExceeded,
    InsufficientQuota,
    RateLimitExceeded,
    ServerIsOverloaded,
    InvalidPrompt,
    InvalidApiKey,
}

impl ErrorCode {
    /// The wire value (`context_length_exceeded`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ContextLengthExceeded => "context_length_exceeded",
            ErrorCode::InsufficientQuota => "insufficient_quota",
            ErrorCode::RateLimitExceeded => "rate_limit_exceeded",
            ErrorCode::ServerIsOverloaded => "server_is_overloaded",
            ErrorCode::InvalidPrompt => "invalid_prompt",
            ErrorCode::InvalidApiKey => "invalid_api_key",
        }
    }

    /// The HTTP status to answer with before any byte reached the client.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ContextLengthExceeded | ErrorCode::InvalidPrompt => 400,
            ErrorCode::InvalidApiKey => 401,
            ErrorCode::InsufficientQuota | ErrorCode::RateLimitExceeded => 429,
            ErrorCode::ServerIsOverloaded => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classification of one provider error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorClass {
    pub code: ErrorCode,
    /// What happened and what to do, with the provider's own message; no backend name (the
    /// gateway adds it).
    pub message: String,
    /// Seconds to wait, when the body names a delay (rate limits).
    pub retry_after_secs: Option<u64>,
}

impl ErrorClass {
    pub(crate) fn new(code: ErrorCode, what: &str, view: &ErrorView) -> Self {
        let message = if view.message.is_empty() {
            what.to_owned()
        } else {
            format!("{what}: {}", view.message)
        };
        let retry_after_secs = match code {
            ErrorCode::RateLimitExceeded | ErrorCode::ServerIsOverloaded => view.retry_after(),
            _ => None,
        };
        ErrorClass {
            code,
            message,
            retry_after_secs,
        }
    }
}

/// The fields of an error body, wherever the provider put them.
#[derive(Debug, Clone, Default)]
pub struct ErrorView<'a> {
    body: Option<&'a Value>,
    /// `error.code` (or a flat `code`), as text: `"1261"`, `"Arrearage"`, `"402"`.
    pub code: String,
    /// `error.type` (or a flat `type`).
    pub kind: String,
    /// `error.message` (or flat `message`, or `base_resp.status_msg`).
    pub message: String,
    /// MiniMax `base_resp.status_code` when non-zero.
    pub base_status: Option<i64>,
}

fn as_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl<'a> ErrorView<'a> {
    /// Reads an error body (any JSON; a string body is taken as the message).
    pub fn new(body: &'a Value) -> Self {
        if let Value::String(s) = body {
            return ErrorView {
                body: Some(body),
                message: s.clone(),
                ..ErrorView::default()
            };
        }
        let err = body.get("error").filter(|e| e.is_object()).unwrap_or(body);
        let base = body.get("base_resp");
        let base_status = base
            .and_then(|b| b.get("status_code"))
            .and_then(|c| match c {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .filter(|c| *c != 0);
        let mut message = as_text(err.get("message"));
        if message.is_empty() {
            message = match body.get("error") {
                Some(Value::String(s)) => s.clone(),
                _ => as_text(base.and_then(|b| b.get("status_msg"))),
            };
        }
        ErrorView {
            body: Some(body),
            code: as_text(err.get("code")),
            kind: as_text(err.get("type")),
            message,
            base_status,
        }
    }

    /// The numeric `error.code`, if it is one.
    pub fn numeric_code(&self) -> Option<i64> {
        self.code.trim().parse().ok()
    }

    /// True when the message contains any of the (lower-case) needles.
    pub fn message_has(&self, needles: &[&str]) -> bool {
        let lower = self.message.to_lowercase();
        needles.iter().any(|n| lower.contains(n))
    }

    /// True when `code` or `type` equals (case-insensitively) any of the values.
    pub fn code_is(&self, values: &[&str]) -> bool {
        values
            .iter()
            .any(|v| self.code.eq_ignore_ascii_case(v) || self.kind.eq_ignore_ascii_case(v))
    }

    /// True when `code` or `type` starts with the prefix (case-insensitively).
    pub fn code_starts_with(&self, prefix: &str) -> bool {
        let p = prefix.to_ascii_lowercase();
        self.code.to_ascii_lowercase().starts_with(&p)
            || self.kind.to_ascii_lowercase().starts_with(&p)
    }

    /// A delay the body names: a `retry_after` / `retry_after_seconds` number (in `error`,
    /// `error.metadata` or the top level), or "try again in N s|ms|seconds" / "retry after N
    /// s|seconds" (also "try again after N seconds") in the message. Milliseconds round up to whole seconds.
    pub fn retry_after(&self) -> Option<u64> {
        let body = self.body?;
        let err = body.get("error").unwrap_or(body);
        let places = [Some(err), err.get("metadata"), Some(body)];
        for place in places.into_iter().flatten() {
            for key in ["retry_after", "retry_after_seconds"] {
                let secs = match place.get(key) {
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(Value::String(s)) => s.trim().parse().ok(),
                    _ => None,
                };
                if let Some(s) = secs.filter(|s| s.is_finite() && *s >= 0.0) {
                    return Some(s.ceil() as u64);
                }
            }
        }
        retry_delay_in_text(&self.message)
    }
}

/// The delay a provider names in text — "try again in 1.5s", "Retry after 20 seconds",
/// "try again in 300ms", "retry in 2 minutes" — rounded up to whole seconds (at least 1); `None`
/// when no delay is named or it is a day or more (not a real rate-limit delay).
pub fn retry_delay_in_text(message: &str) -> Option<u64> {
    let lower = message.to_lowercase();
    for marker in ["try again in", "try again after", "retry after", "retry in"] {
        let Some(at) = lower.find(marker) else {
            continue;
        };
        let rest = lower[at + marker.len()..].trim_start();
        let number: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let Ok(value) = number.parse::<f64>() else {
            continue;
        };
        let unit = rest[number.len()..].trim_start();
        let secs = if unit.starts_with("ms") || unit.starts_with("millisecond") {
            value / 1000.0
        } else if unit.starts_with('m') {
            value * 60.0
        } else {
            value
        };
        if (0.0..86_400.0).contains(&secs) {
            return Some(secs.ceil().max(1.0) as u64);
        }
    }
    None
}

/// OpenAI's own codes, which OpenAI-compatible servers and gateways reuse verbatim.
pub(crate) fn classify_openai_codes(_status: u16, view: &ErrorView) -> Option<ErrorClass> {
    let code = [
        ("context_length_exceeded", ErrorCode::ContextLengthExceeded),
        ("insufficient_quota", ErrorCode::InsufficientQuota),
        ("rate_limit_exceeded", ErrorCode::RateLimitExceeded),
        ("server_is_overloaded", ErrorCode::ServerIsOverloaded),
        ("slow_down", ErrorCode::ServerIsOverloaded),
        ("invalid_prompt", ErrorCode::InvalidPrompt),
        ("invalid_api_key", ErrorCode::InvalidApiKey),
    ]
    .into_iter()
    .find(|(name, _)| view.code.eq_ignore_ascii_case(name))
    .map(|(_, code)| code)?;
    Some(ErrorClass::new(code, "upstream error", view))
}

/// Shared detectors several profiles use.
pub(crate) mod common {

    /// The mapping for servers without codes of their own: a context overflow by its message,
    /// everything else by status.
    pub(crate) fn context_or_status(status: u16, error: &ErrorView) -> Option<ErrorClass> {
        if is_context_overflow(error) {
            return Some(ErrorClass::new(
                ErrorCode::ContextLengthExceeded,
                "the conversation is longer than the model's context window",
                error,
            ));
        }
        by_status(status, error)
    }
    use super::{ErrorClass, ErrorCode, ErrorView};

    /// The HTTP status an error stands for: a numeric `error.code` in 400..600 (servers that
    /// report mid-stream errors carry the would-be status there), else the response's status.
    pub(crate) fn effective_status(status: u16, error: &ErrorView) -> u16 {
        error
            .numeric_code()
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(status)
    }

    /// Context-window overflow phrased the usual ways.
    pub(crate) fn is_context_overflow(view: &ErrorView) -> bool {
        view.code_is(&[
            "context_length_exceeded",
            "exceed_context_size_error",
            "model_context_window_exceeded",
        ]) || view.message_has(&[
            "maximum context length",
            "context length",
            "context window",
            "context_length",
            "exceeds the available context size",
            "model_context_window_exceeded",
            "prompt is too long",
            "prompt too long",
            "input is too long",
        ])
    }

    /// HTTP-status-only mapping for the statuses whose meaning is standard.
    pub(crate) fn by_status(status: u16, view: &ErrorView) -> Option<ErrorClass> {
        let class = |code, what: &str| Some(ErrorClass::new(code, what, view));
        match status {
            401 => class(
                ErrorCode::InvalidApiKey,
                "the upstream rejected the API key (401) — check the backend's api_key",
            ),
            429 => class(ErrorCode::RateLimitExceeded, "upstream rate limit"),
            503 => class(
                ErrorCode::ServerIsOverloaded,
                "upstream is overloaded (503)",
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn view_reads_nested_flat_and_base_resp_shapes() {
        let nested = json!({"error":{"code":"1261","message":"Prompt too long","type":"x"}});
        let v = ErrorView::new(&nested);
        assert_eq!((v.code.as_str(), v.kind.as_str()), ("1261", "x"));
        assert_eq!(v.numeric_code(), Some(1261));
        let flat = json!({"object":"error","message":"m","type":"BadRequestError","code":400});
        let v = ErrorView::new(&flat);
        assert_eq!((v.code.as_str(), v.message.as_str()), ("400", "m"));
        let base = json!({"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}});
        let v = ErrorView::new(&base);
        assert_eq!(v.base_status, Some(1008));
        assert_eq!(v.message, "insufficient balance");
        let ok = json!({"base_resp":{"status_code":0,"status_msg":""}});
        assert_eq!(ErrorView::new(&ok).base_status, None);
    }

    #[test]
    fn retry_after_from_fields_and_text() {
        let field = json!({"error":{"message":"slow","metadata":{"retry_after":2.2}}});
        assert_eq!(ErrorView::new(&field).retry_after(), Some(3));
        let text = json!({"error":{"message":"Rate limit reached. Please try again in 1.5s."}});
        assert_eq!(ErrorView::new(&text).retry_after(), Some(2));
        let ms = json!({"error":{"message":"retry after 300ms"}});
        assert_eq!(ErrorView::new(&ms).retry_after(), Some(1));
        let none = json!({"error":{"message":"try again later"}});
        assert_eq!(ErrorView::new(&none).retry_after(), None);
    }
}
