//! Alibaba Qwen on DashScope compatible mode (Model Studio / Bailian), incl. the Coding Plan.
//! Thinking is toggled with `enable_thinking` and only works on streaming calls.

use crate::profile::{
    common, no_model_rules, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile,
    ReasoningControl, Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "qwen",
    title: "Alibaba Qwen (DashScope)",
    aliases: &["dashscope", "bailian", "alibaba", "aliyun"],
    name_hints: &["qwen", "dashscope", "bailian"],
    hosts: &[HostPattern::LabelIn {
        label_prefix: "dashscope",
        domain: "aliyuncs.com",
    }],
    base_urls: &[
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "https://coding.dashscope.aliyuncs.com/v1",
    ],
    rules: Rules {
        reasoning_control: ReasoningControl::EnableThinking,
        parallel_tool_calls: true,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error,
    notes: &[
        "keys are per region; Coding Plan keys (sk-sp-…) only work on coding.dashscope.aliyuncs.com",
        "non-streaming calls always get `enable_thinking: false` (DashScope rejects thinking without streaming)",
    ],
};

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    if error.code_is(&["Arrearage", "insufficient_quota"]) {
        return class(
            ErrorCode::InsufficientQuota,
            "the Alibaba Cloud account is in arrears or out of quota — check the account's billing",
        );
    }
    if error.code_is(&["DataInspectionFailed", "data_inspection_failed"])
        || error.message_has(&["inappropriate content"])
    {
        return class(
            ErrorCode::InvalidPrompt,
            "DashScope content inspection rejected the input",
        );
    }
    if error.message_has(&["range of input length"]) || common::is_context_overflow(error) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the Qwen model accepts",
        );
    }
    if error.code_starts_with("Throttling") || error.code_is(&["limit_requests"]) {
        return class(ErrorCode::RateLimitExceeded, "DashScope throttling");
    }
    if error.code_is(&["InvalidApiKey", "invalid_api_key"]) {
        return class(
            ErrorCode::InvalidApiKey,
            "DashScope rejected the API key — keys are per region and Coding Plan keys only work on the coding endpoint",
        );
    }
    common::by_status(status, error)
}
