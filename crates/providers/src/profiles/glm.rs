//! Zhipu GLM (open.bigmodel.cn) and Z.ai (api.z.ai), including the coding-plan endpoints.
//! Business error codes arrive as strings in `error.code`, and HTTP 429 also means "no balance".

use crate::profile::{
    common, EffortScale, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile, ReasoningControl,
    Rules, ToolChoicePolicy, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "glm",
    title: "Zhipu GLM / Z.ai",
    aliases: &["zhipu", "bigmodel", "zai", "z.ai", "chatglm"],
    name_hints: &["glm", "zhipu", "bigmodel", "zai"],
    hosts: &[HostPattern::Domain("bigmodel.cn"), HostPattern::Domain("z.ai")],
    base_urls: &[
        "https://open.bigmodel.cn/api/paas/v4",
        "https://open.bigmodel.cn/api/coding/paas/v4",
        "https://api.z.ai/api/paas/v4",
        "https://api.z.ai/api/coding/paas/v4",
    ],
    rules: Rules {
        drop_message_names: true,
        require_reasoning_on_tool_calls: true,
        reasoning_control: ReasoningControl::Thinking(None),
        tool_choice: ToolChoicePolicy::AutoOnly,
        max_temperature: Some(1.0),
        ..COMPATIBLE_RULES
    },
    for_model,
    classify_error,
    notes: &[
        "coding-plan keys only work on the /api/coding/paas/v4 URLs (no /v1 segment)",
        "GLM-5.3 cannot turn thinking off: it gets `reasoning_effort` low|high|max instead of `thinking`",
    ],
};

fn for_model(model: &str, rules: &mut Rules) {
    if model.contains("glm-5.3") {
        rules.reasoning_control = ReasoningControl::Effort(EffortScale::LowHighMax);
    }
}

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    match error.numeric_code() {
        Some(1000..=1004) => {
            return class(
                ErrorCode::InvalidApiKey,
                "GLM rejected the API key — check the key and that it belongs to this endpoint (coding-plan keys need /api/coding/paas/v4)",
            )
        }
        Some(1113) => {
            return class(
                ErrorCode::InsufficientQuota,
                "GLM account is in arrears (1113) — top up the balance",
            )
        }
        Some(1304 | 1308 | 1309 | 1310) => {
            return class(
                ErrorCode::InsufficientQuota,
                "GLM plan quota or usage cap reached — wait for the reset or upgrade the plan",
            )
        }
        Some(1261) => {
            return class(
                ErrorCode::ContextLengthExceeded,
                "GLM says the prompt is too long (1261)",
            )
        }
        Some(1301) => {
            return class(
                ErrorCode::InvalidPrompt,
                "GLM content safety rejected the input (1301)",
            )
        }
        Some(1302 | 1303 | 1305 | 1313) => {
            return class(ErrorCode::RateLimitExceeded, "GLM rate or concurrency limit")
        }
        Some(1312) => {
            return class(
                ErrorCode::ServerIsOverloaded,
                "the GLM model is overloaded (1312)",
            )
        }
        _ => {}
    }
    if common::is_context_overflow(error) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the model's context window",
        );
    }
    if status == 429 && error.message_has(&["余额", "balance", "arrear", "欠费"]) {
        return class(
            ErrorCode::InsufficientQuota,
            "GLM account balance is exhausted — top up the balance",
        );
    }
    common::by_status(status, error)
}
