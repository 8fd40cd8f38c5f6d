//! OpenRouter (openrouter.ai): `reasoning: {effort}` control, `reasoning_details` replayed
//! verbatim (encrypted and signed blocks included), error codes equal to HTTP statuses.

use crate::profile::{
    common, no_model_rules, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile,
    ReasoningControl, ReasoningField, Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "openrouter",
    title: "OpenRouter",
    aliases: &[],
    name_hints: &["openrouter"],
    hosts: &[HostPattern::Domain("openrouter.ai")],
    base_urls: &["https://openrouter.ai/api/v1"],
    rules: Rules {
        flatten_content: false,
        reasoning_field: ReasoningField::ReasoningDetails,
        reasoning_control: ReasoningControl::OpenRouter,
        keep_strict: true,
        parallel_tool_calls: true,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error,
    notes: &[
        "the routed model's own rules (e.g. Kimi's or DeepSeek's) are applied by OpenRouter, not here",
        "`reasoning_details` from earlier turns is sent back unmodified when the proxy kept it (ccp:v1 encrypted_content)",
    ],
};

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    match common::effective_status(status, error) {
        402 => class(
            ErrorCode::InsufficientQuota,
            "OpenRouter credits are exhausted (402) — add credits or raise the key's limit",
        ),
        403 => class(
            ErrorCode::InvalidPrompt,
            "OpenRouter moderation flagged the input (403)",
        ),
        _ if common::is_context_overflow(error) => class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the model's context window",
        ),
        503 => class(
            ErrorCode::ServerIsOverloaded,
            "OpenRouter has no provider available for this model right now (503)",
        ),
        other => common::by_status(other, error),
    }
}
