//! Ollama's `/v1` OpenAI compatibility: reasoning in `reasoning`, whole tool calls, and
//! `reasoning_effort: "none"` as the documented way to turn thinking off.

use crate::profile::{
    common, no_model_rules, EffortScale, HostPattern, Profile, ReasoningControl, ReasoningField,
    Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "ollama",
    title: "Ollama",
    aliases: &[],
    name_hints: &["ollama"],
    hosts: &[HostPattern::Port(11434), HostPattern::Domain("ollama.com")],
    base_urls: &["http://localhost:11434/v1", "https://ollama.com/v1"],
    rules: Rules {
        reasoning_field: ReasoningField::Reasoning,
        reasoning_control: ReasoningControl::Effort(EffortScale::LowMediumHigh {
            none_disables: true,
        }),
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error: common::context_or_status,
    notes: &[
        "models without thinking support reject any `reasoning_effort` (\"does not support thinking\"): set quirks.reasoning_control to \"none\" for them",
        "Ollama silently truncates prompts longer than the model's num_ctx; raise it for Codex",
    ],
};
