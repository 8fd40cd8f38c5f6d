//! Any other OpenAI-compatible server: conservative choices that most servers accept.

use crate::profile::{common, no_model_rules, Profile, Rules, COMPATIBLE_RULES};

pub static PROFILE: Profile = Profile {
    id: "generic",
    title: "Generic OpenAI-compatible server",
    aliases: &["openai-compatible", "compatible"],
    name_hints: &[],
    hosts: &[],
    base_urls: &["https://<host>/v1"],
    rules: Rules {
        parallel_tool_calls: true,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error: common::context_or_status,
    notes: &[
        "used when neither `provider`, the backend name nor the URL host names a known provider",
        "set `provider` (or quirks) when the server needs `reasoning` instead of `reasoning_content`",
    ],
};
