//! DeepSeek (api.deepseek.com): V4 thinking mode with mandatory reasoning replay on tool-call
//! turns; legacy `deepseek-reasoner` (R1) rejects replayed reasoning.

use crate::profile::{
    common, EffortScale, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile, ReasoningControl,
    ReasoningField, Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "deepseek",
    title: "DeepSeek",
    aliases: &[],
    name_hints: &["deepseek"],
    hosts: &[HostPattern::Domain("deepseek.com")],
    base_urls: &["https://api.deepseek.com", "https://api.deepseek.com/v1"],
    rules: Rules {
        require_reasoning_on_tool_calls: true,
        reasoning_control: ReasoningControl::Thinking(Some(EffortScale::HighMax)),
        ..COMPATIBLE_RULES
    },
    for_model,
    classify_error,
    notes: &[
        "`deepseek-reasoner` is treated as legacy R1: replayed reasoning is stripped and no thinking controls are sent (set quirks.strip_reasoning: false if your account maps it to V4 thinking mode)",
        "`deepseek-chat` picks its mode by name: no thinking controls are sent",
        "tool `strict` is honoured only on the /beta base URL; it is removed unless quirks.strict is true",
    ],
};

fn for_model(model: &str, rules: &mut Rules) {
    if model.contains("deepseek-reasoner") || model.contains("deepseek-r1") {
        rules.reasoning_field = ReasoningField::Omit;
        rules.require_reasoning_on_tool_calls = false;
        rules.reasoning_control = ReasoningControl::Off;
    } else if model.contains("deepseek-chat") {
        rules.reasoning_control = ReasoningControl::Off;
    }
}

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    if status == 402 || error.message_has(&["insufficient balance"]) {
        return class(
            ErrorCode::InsufficientQuota,
            "DeepSeek account balance is exhausted — top up at platform.deepseek.com",
        );
    }
    if common::is_context_overflow(error) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the model's context window",
        );
    }
    if status == 503 {
        return class(
            ErrorCode::ServerIsOverloaded,
            "DeepSeek servers are overloaded (503)",
        );
    }
    common::by_status(status, error)
}
