//! Tencent Cloud LKEAP and the TokenHub Token Plan (`/plan/v3`): one endpoint fronting DeepSeek,
//! Kimi, GLM, MiniMax and Hunyuan models, so the underlying model's rules are applied by name.

use crate::profile::{
    common, EffortScale, ErrorClass, ErrorCode, ErrorView, HostPattern, Profile, ReasoningControl,
    ReasoningField, Rules, SystemMessages, TemperaturePolicy, ToolChoicePolicy, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "lkeap",
    title: "Tencent LKEAP / TokenHub Token Plan",
    aliases: &["tencent", "tokenhub", "tencent-lkeap"],
    name_hints: &["lkeap", "tencent", "tokenhub"],
    hosts: &[
        HostPattern::Domain("lkeap.cloud.tencent.com"),
        HostPattern::Domain("lkeap.tencentcloud.com"),
        HostPattern::LabelIn {
            label_prefix: "tokenhub",
            domain: "tencentmaas.com",
        },
        HostPattern::LabelIn {
            label_prefix: "tokenhub",
            domain: "tencentcloudmaas.com",
        },
    ],
    base_urls: &[
        "https://api.lkeap.cloud.tencent.com/plan/v3",
        "https://tokenhub.tencentmaas.com/plan/v3",
        "https://tokenhub-intl.tencentcloudmaas.com/plan/v3",
        "https://api.lkeap.cloud.tencent.com/v1",
    ],
    rules: Rules {
        require_reasoning_on_tool_calls: true,
        reasoning_control: ReasoningControl::Thinking(Some(EffortScale::LowHighMax)),
        tool_choice: ToolChoicePolicy::AutoOnly,
        max_temperature: Some(1.0),
        ..COMPATIBLE_RULES
    },
    for_model,
    classify_error,
    notes: &[
        "Token Plan keys (sk-tp-…) only work on /plan/v3 URLs; pay-as-you-go keys only on /v1",
        "effort is sent as low|high|max (glm-5.3 rejects medium/xhigh)",
        "models that cannot turn thinking off (glm-5.3, kimi-k3, kimi-k2.7-code) get only `reasoning_effort`",
    ],
};

fn for_model(model: &str, rules: &mut Rules) {
    if model.contains("minimax") {
        rules.system_messages = SystemMessages::MergeAll;
    }
    if model.contains("deepseek-r1") {
        rules.reasoning_field = ReasoningField::Omit;
        rules.require_reasoning_on_tool_calls = false;
    }
    let kimi_thinking = model.contains("kimi")
        && ["k2.5", "k2.6", "k2.7", "k3", "thinking"]
            .iter()
            .any(|m| model.contains(m));
    if kimi_thinking {
        rules.temperature = TemperaturePolicy::Drop;
    }
    let always_thinks = ["glm-5.3", "kimi-k3", "kimi-k2.7", "kimi-k2-thinking"]
        .iter()
        .any(|m| model.contains(m));
    if always_thinks {
        rules.reasoning_control = ReasoningControl::Effort(EffortScale::LowHighMax);
    }
}

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    if error.code_is(&["not_authorized_error"]) {
        return class(
            ErrorCode::InvalidApiKey,
            "Tencent rejected the API key — Token Plan keys (sk-tp-…) only work on /plan/v3 URLs, pay-as-you-go keys only on /v1",
        );
    }
    if common::is_context_overflow(error) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the model's context window",
        );
    }
    if error.message_has(&["insufficient balance", "余额不足", "quota exhausted"]) {
        return class(
            ErrorCode::InsufficientQuota,
            "the Tencent account or plan quota is exhausted",
        );
    }
    common::by_status(status, error)
}
