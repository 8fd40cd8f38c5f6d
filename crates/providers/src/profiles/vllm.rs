//! vLLM's OpenAI server: reasoning in `reasoning` (vLLM ≥ 0.16 drops `reasoning_content` on
//! input), errors as flat `{"object":"error",…}` bodies, also mid-stream.

use crate::profile::{
    common, no_model_rules, EffortScale, ErrorClass, ErrorCode, ErrorView, Profile,
    ReasoningControl, ReasoningField, Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "vllm",
    title: "vLLM",
    aliases: &[],
    name_hints: &["vllm"],
    hosts: &[],
    base_urls: &["http://localhost:8000/v1"],
    rules: Rules {
        reasoning_field: ReasoningField::Reasoning,
        reasoning_control: ReasoningControl::Effort(EffortScale::LowMediumHigh {
            none_disables: false,
        }),
        keep_strict: true,
        parallel_tool_calls: true,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error,
    notes: &[
        "tool calls need `--enable-auto-tool-choice --tool-call-parser <parser>` on the server",
        "vLLM before 0.16 reads `reasoning_content`: set quirks.reasoning_field to \"reasoning_content\"",
        "chat templates that reject mid-conversation system messages: set quirks.merge_system_messages to \"all\"",
    ],
};

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    if common::is_context_overflow(error)
        || error.message_has(&["reduce the length of the messages"])
    {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the served model's max_model_len",
        );
    }
    common::by_status(common::effective_status(status, error), error)
}
