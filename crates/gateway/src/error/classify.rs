//! Reading and classifying upstream error payloads: which of the [`UpstreamErrorKind`]s an
//! HTTP status plus a provider's `{"error":…}` body (or an in-band payload) means.
//!
//! Provider codes are matched first (GLM business codes, MiniMax `base_resp` codes, DashScope
//! and OpenAI codes; providers.md §3 and §6 item 16), then well-known message phrases, then the
//! HTTP status. Message phrases that only make sense for a client-side problem (context window,
//! balance, safety) are not applied to 5xx answers.

use serde_json::Value;

/// What an upstream error means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Too many requests for now: retry after a delay.
    RateLimited,
    /// Balance, credits or plan exhausted: retrying will not help.
    QuotaExhausted,
    /// The backend's API key was refused.
    KeyRejected,
    /// The prompt does not fit the model's context window.
    ContextOverflow,
    /// The provider's content safety refused the prompt or the answer.
    SafetyRefusal,
    /// The model is at capacity.
    Overloaded,
    /// A 400/422: the upstream refused the request as invalid; retrying will not help.
    RequestRejected,
    /// Any other 4xx (404, 405, 409, …).
    ClientError,
    /// A 5xx, a 408 or an unclassified in-band error: transient, worth retrying.
    ServerError,
}

/// An upstream error payload, read leniently from the shapes providers send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPayload {
    /// `error.code` (numbers as text), or MiniMax `base_resp.status_code`.
    pub code: Option<String>,
    /// `error.type`.
    pub kind: Option<String>,
    /// `error.message` (or `base_resp.status_msg`), or the whole payload as text.
    pub message: String,
    /// The payload is MiniMax's `base_resp`, whose numeric codes mean something else than GLM's.
    pub minimax: bool,
}

/// Reads `{"error":{code,type,message}}`, `{"object":"error",…}` (vLLM), `{"type":"error",
/// "error":{…}}` (Anthropic) and `{"base_resp":{status_code,status_msg}}` (MiniMax).
pub fn read_error_payload(v: &Value) -> ErrorPayload {
    let err = v.get("error").filter(|e| e.is_object()).unwrap_or(v);
    let text = |f: &Value| match f {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let base = v.get("base_resp").filter(|_| err.get("code").is_none());
    let minimax_code = base.and_then(|b| b.get("status_code")).and_then(text);
    let minimax = minimax_code.as_deref().is_some_and(|c| c != "0");
    let code = if minimax {
        minimax_code
    } else {
        err.get("code").and_then(text)
    };
    let kind = err.get("type").and_then(text).filter(|t| t != "error");
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| v.get("error").and_then(Value::as_str))
        .or_else(|| {
            base.and_then(|b| b.get("status_msg"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string());
    ErrorPayload {
        code,
        kind,
        message,
        minimax,
    }
}

/// The HTTP status an in-band error names: OpenRouter and llama.cpp put it in a numeric `code`.
pub fn status_hint(p: &ErrorPayload) -> Option<u16> {
    if p.minimax {
        return None;
    }
    p.code
        .as_deref()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| (400..600).contains(s))
}

/// Classifies an upstream error from its HTTP status (`None` for in-band errors) and payload.
pub fn classify(status: Option<u16>, p: &ErrorPayload) -> UpstreamErrorKind {
    use UpstreamErrorKind as K;
    if let Some(kind) = classify_by_code(p) {
        return kind;
    }
    let status = status.or_else(|| status_hint(p));
    let msg = p.message.to_lowercase();
    let client_side = status.is_none_or(|s| s < 500);
    // A 429's "token limit" is a tokens-per-minute limit, not the context window.
    if client_side && status != Some(429) && is_context_message(&msg) {
        return K::ContextOverflow;
    }
    if client_side && is_quota_message(&msg) {
        return K::QuotaExhausted;
    }
    if client_side && is_safety_message(&msg) {
        return K::SafetyRefusal;
    }
    if msg.contains("overloaded") || msg.contains("at capacity") {
        return K::Overloaded;
    }
    if msg.contains("rate limit") || msg.contains("too many requests") {
        return K::RateLimited;
    }
    match status {
        Some(402) => K::QuotaExhausted,
        Some(429) => K::RateLimited,
        Some(401 | 403) => K::KeyRejected,
        Some(413) => K::ContextOverflow,
        Some(400 | 422) => K::RequestRejected,
        Some(408) => K::ServerError,
        Some(503 | 529) => K::Overloaded,
        Some(s) if s < 500 => K::ClientError,
        _ => K::ServerError,
    }
}

fn classify_by_code(p: &ErrorPayload) -> Option<UpstreamErrorKind> {
    use UpstreamErrorKind as K;
    if p.minimax {
        // MiniMax base_resp codes (1001 timeout, 1024 internal, 1033 downstream are transient).
        return match p.code.as_deref()? {
            "1002" | "1039" => Some(K::RateLimited),
            "1008" => Some(K::QuotaExhausted),
            "1004" => Some(K::KeyRejected),
            "1026" | "1027" => Some(K::SafetyRefusal),
            "2013" => Some(K::RequestRejected),
            _ => None,
        };
    }
    for field in [p.code.as_deref(), p.kind.as_deref()].into_iter().flatten() {
        let f = field.to_lowercase();
        let kind = match f.as_str() {
            // GLM business codes (providers.md §3.1).
            "1261" => K::ContextOverflow,
            "1113" | "1304" | "1308" | "1309" | "1310" => K::QuotaExhausted,
            "1302" | "1303" | "1305" | "1313" => K::RateLimited,
            "1312" => K::Overloaded,
            "1301" => K::SafetyRefusal,
            "1000" | "1001" | "1002" | "1003" | "1004" => K::KeyRejected,
            "context_length_exceeded"
            | "exceed_context_size_error"
            | "request_too_large"
            | "model_context_window_exceeded"
            | "string_above_max_length" => K::ContextOverflow,
            "insufficient_quota"
            | "insufficient_balance"
            | "exceeded_current_quota_error"
            | "arrearage"
            | "billing_error"
            | "payment_required"
            | "usage_limit_reached" => K::QuotaExhausted,
            "invalid_api_key"
            | "authentication_error"
            | "invalid_authentication_error"
            | "incorrect_api_key_error"
            | "invalidapikey"
            | "permission_error"
            | "permission_denied_error" => K::KeyRejected,
            "content_filter"
            | "content_policy_violation"
            | "datainspectionfailed"
            | "data_inspection_failed"
            | "invalid_prompt"
            | "sensitive" => K::SafetyRefusal,
            "overloaded_error"
            | "server_is_overloaded"
            | "engine_overloaded_error"
            | "slow_down" => K::Overloaded,
            "rate_limit_exceeded"
            | "rate_limit_error"
            | "too_many_requests"
            | "rate_limit_reached_error" => K::RateLimited,
            _ if f.starts_with("throttling") => K::RateLimited,
            _ => continue,
        };
        return Some(kind);
    }
    None
}

fn is_context_message(m: &str) -> bool {
    [
        "context length",
        "context_length",
        "maximum context",
        "context window",
        "context size",
        "token limit",
        "prompt is too long",
        "prompt too long",
        "input token length too long",
        "range of input length",
        "exceeds the maximum number of tokens",
        "maximum number of tokens",
        "too many tokens",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn is_quota_message(m: &str) -> bool {
    [
        "insufficient balance",
        "insufficient_quota",
        "insufficient quota",
        "insufficient credits",
        "exceeded your current quota",
        "quota exceeded",
        "billing",
        "good standing",
        "arrear",
        "余额不足",
        "欠费",
    ]
    .iter()
    .any(|p| m.contains(p))
}

fn is_safety_message(m: &str) -> bool {
    [
        "content_filter",
        "content filter",
        "high risk",
        "inappropriate content",
        "sensitive content",
        "content policy",
        "moderation",
        "flagged",
        "敏感",
    ]
    .iter()
    .any(|p| m.contains(p))
}
