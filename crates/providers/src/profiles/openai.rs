//! OpenAI's own Chat Completions API: the reference dialect, changed as little as possible.

use crate::profile::{
    no_model_rules, DeveloperRole, EffortScale, ErrorClass, ErrorView, HostPattern, MaxTokensField,
    Profile, ReasoningControl, ReasoningField, Rules, SystemMessages, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "openai",
    title: "OpenAI Chat Completions",
    aliases: &[],
    // "openai" inside a backend name often means "OpenAI-compatible"; only the exact id selects
    // this profile by name.
    name_hints: &[],
    hosts: &[HostPattern::Domain("api.openai.com")],
    base_urls: &["https://api.openai.com/v1"],
    rules: Rules {
        developer_role: DeveloperRole::Keep,
        system_messages: SystemMessages::Keep,
        flatten_content: false,
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        // Chat Completions validates message fields and has no reasoning replay field.
        reasoning_field: ReasoningField::Omit,
        reasoning_control: ReasoningControl::Effort(EffortScale::AsRequested),
        keep_strict: true,
        parallel_tool_calls: true,
        think_tags: false,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error,
    notes: &[
        "OpenAI error codes pass through unchanged; reasoning is not replayed (Chat Completions has no field for it)",
    ],
};

/// OpenAI's codes are already the ones Codex reads; the shared fallback recognises them.
fn classify_error(_status: u16, _error: &ErrorView) -> Option<ErrorClass> {
    None
}
