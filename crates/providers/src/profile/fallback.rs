//! The fallback classifier: what an upstream error means when the backend's own profile has
//! nothing specific to say — which [`UpstreamErrorKind`] an HTTP status plus an error body (or an
//! in-band payload) stands for. Every upstream error goes through
//! [`ResolvedProfile::classify`](super::ResolvedProfile::classify): the profile's classifier
//! first, this one after it. It is the only place that reads error bodies generically.
//!
//! Codes are matched first (MiniMax `base_resp` and GLM business codes by asking those
//! profiles, so each provider's table exists once; then OpenAI, Anthropic, DashScope and other
//! shared codes; providers.md §3 and §6 item 16), then well-known message phrases, then the HTTP
//! status. Message phrases that only make sense for a client-side problem (context window,
//! balance, safety) are not applied to 5xx answers.

use super::{ErrorCode, ErrorView};

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

/// The HTTP status an in-band error names: OpenRouter and llama.cpp put it in a numeric `code`.
pub fn status_hint(p: &ErrorView) -> Option<u16> {
    if p.base_status.is_some() {
        return None;
    }
    p.numeric_code()
        .and_then(|c| u16::try_from(c).ok())
        .filter(|s| (400..600).contains(s))
}

impl UpstreamErrorKind {
    /// The kind a profile's [`ErrorCode`] stands for.
    pub fn of_code(code: ErrorCode) -> Self {
        match code {
            ErrorCode::ContextLengthExceeded => UpstreamErrorKind::ContextOverflow,
            ErrorCode::InsufficientQuota => UpstreamErrorKind::QuotaExhausted,
            ErrorCode::RateLimitExceeded => UpstreamErrorKind::RateLimited,
            ErrorCode::ServerIsOverloaded => UpstreamErrorKind::Overloaded,
            ErrorCode::InvalidPrompt => UpstreamErrorKind::SafetyRefusal,
            ErrorCode::InvalidApiKey => UpstreamErrorKind::KeyRejected,
        }
    }
}

/// Classifies an upstream error from its HTTP status (`None` for in-band errors) and payload.
pub fn classify(status: Option<u16>, p: &ErrorView) -> UpstreamErrorKind {
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

fn classify_by_code(p: &ErrorView) -> Option<UpstreamErrorKind> {
    use UpstreamErrorKind as K;
    // Provider business codes live in their profiles; ask them rather than list them again.
    let business = if p.base_status.is_some() {
        Some(&crate::profiles::minimax::PROFILE)
    } else if p.numeric_code().is_some_and(|c| (1000..1400).contains(&c)) {
        Some(&crate::profiles::glm::PROFILE)
    } else {
        None
    };
    if let Some(profile) = business {
        // Status 0: only the body speaks here; the status is judged below.
        if let Some(class) = (profile.classify_error)(0, p) {
            return Some(K::of_code(class.code));
        }
        if p.base_status == Some(2013) {
            return Some(K::RequestRejected);
        }
    }
    for field in [p.code.as_str(), p.kind.as_str()] {
        if field.is_empty() || field == "error" {
            continue;
        }
        let f = field.to_lowercase();
        let kind = match f.as_str() {
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
