//! Moonshot Kimi (api.moonshot.ai / .cn) and Kimi for Coding (api.kimi.com/coding). Thinking
//! models fix their sampling, and every assistant tool-call turn must carry `reasoning_content`.

use crate::profile::{
    common, EffortScale, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile, ReasoningControl,
    Rules, TemperaturePolicy, ToolChoicePolicy, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "kimi",
    title: "Moonshot Kimi",
    aliases: &["moonshot", "moonshotai", "kimi-for-coding"],
    name_hints: &["kimi", "moonshot"],
    hosts: &[
        HostPattern::Domain("moonshot.ai"),
        HostPattern::Domain("moonshot.cn"),
        HostPattern::Domain("kimi.com"),
    ],
    base_urls: &[
        "https://api.moonshot.ai/v1",
        "https://api.moonshot.cn/v1",
        "https://api.kimi.com/coding/v1",
    ],
    rules: Rules {
        require_reasoning_on_tool_calls: true,
        reasoning_control: ReasoningControl::Off,
        tool_choice: ToolChoicePolicy::AutoOnly,
        max_temperature: Some(1.0),
        ..COMPATIBLE_RULES
    },
    for_model,
    classify_error,
    notes: &[
        "keys are region-bound: a .cn key fails on .ai and vice versa",
        "thinking models (k2.5+, k3, *-thinking) accept only their default sampling: temperature/top_p are not sent",
        "k2.5/k2.6 get `thinking: {type}`; k3 gets `reasoning_effort` low|high|max; kimi-k2-thinking and k2.7-code always think and get no control",
    ],
};

fn is_thinking_model(model: &str) -> bool {
    [
        "k2.5", "k2-5", "k2.6", "k2-6", "k2.7", "k2-7", "k3", "thinking",
    ]
    .iter()
    .any(|m| model.contains(m))
}

fn for_model(model: &str, rules: &mut Rules) {
    if is_thinking_model(model) {
        rules.temperature = TemperaturePolicy::Drop;
    }
    rules.reasoning_control = if model.contains("k3") {
        ReasoningControl::Effort(EffortScale::LowHighMax)
    } else if ["k2.5", "k2-5", "k2.6", "k2-6"]
        .iter()
        .any(|m| model.contains(m))
    {
        ReasoningControl::Thinking(None)
    } else {
        ReasoningControl::Off
    };
}

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    let access_denied = error.message_has(&["coding agent", "not allowed", "permission"]);
    if (status == 403 && !access_denied)
        || error.code_is(&["exceeded_current_quota_error", "insufficient_balance"])
        || error.message_has(&["insufficient balance", "suspended due to insufficient"])
    {
        return class(
            ErrorCode::InsufficientQuota,
            "Kimi account balance is insufficient — top up the account",
        );
    }
    if error.code_is(&["content_filter"]) || error.message_has(&["high risk"]) {
        return class(
            ErrorCode::InvalidPrompt,
            "Kimi's content filter rejected the request",
        );
    }
    if error.message_has(&["exceeded model token limit", "input token length too long"])
        || common::is_context_overflow(error)
    {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the Kimi model's context window",
        );
    }
    if error.code_is(&["engine_overloaded_error"]) || error.message_has(&["overloaded"]) {
        return class(
            ErrorCode::ServerIsOverloaded,
            "the Kimi engine is overloaded",
        );
    }
    common::by_status(status, error)
}
