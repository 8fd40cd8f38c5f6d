//! Plain-text descriptions of profiles, for `codex-convert-proxy providers`.

use super::{
    DeveloperRole, EffortScale, MaxTokensField, Profile, ProviderId, ReasoningControl,
    ReasoningField, Rules, SystemMessages, TemperaturePolicy, ToolChoicePolicy,
};
use crate::quirks::Quirks;

fn scale_text(scale: EffortScale) -> &'static str {
    match scale {
        EffortScale::AsRequested => "as requested",
        EffortScale::LowMediumHigh {
            none_disables: true,
        } => "low|medium|high, `none` passed to disable thinking",
        EffortScale::LowMediumHigh {
            none_disables: false,
        } => "low|medium|high (`none` not sent)",
        EffortScale::LowHighMax => "low|high|max (`none` not sent)",
        EffortScale::HighMax => "high|max (`none` not sent)",
    }
}

fn control_text(control: ReasoningControl) -> String {
    match control {
        ReasoningControl::Off => "reasoning effort: not sent".to_owned(),
        ReasoningControl::Effort(scale) => {
            format!("reasoning effort: `reasoning_effort` {}", scale_text(scale))
        }
        ReasoningControl::Thinking(None) => {
            "reasoning effort: `thinking: {type: enabled|disabled}` (`none` → disabled)".to_owned()
        }
        ReasoningControl::Thinking(Some(scale)) => format!(
            "reasoning effort: `thinking: {{type: enabled|disabled}}` (`none` → disabled) plus `reasoning_effort` {}",
            scale_text(scale)
        ),
        ReasoningControl::EnableThinking => {
            "reasoning effort: `enable_thinking` (`none` → false; false on non-streaming calls)"
                .to_owned()
        }
        ReasoningControl::OpenRouter => {
            "reasoning effort: `reasoning: {effort}` (max|ultra → xhigh), never top-level `reasoning_effort`"
                .to_owned()
        }
        ReasoningControl::MiniMax => {
            "reasoning effort: not sent; `reasoning_split: true` when replaying via `reasoning_details`; `none` disables thinking on M3"
                .to_owned()
        }
    }
}

/// What a resolved profile changes, one line per rule.
pub(super) fn describe_rules(profile: &Profile, rules: &Rules, quirks: &Quirks) -> Vec<String> {
    let mut out = Vec::new();
    out.push(match rules.developer_role {
        DeveloperRole::System => "role `developer` → `system`".to_owned(),
        DeveloperRole::Keep => "role `developer` kept".to_owned(),
    });
    out.push(
        match rules.system_messages {
            SystemMessages::Keep => "system messages: kept in place",
            SystemMessages::MergeLeading => "system messages: leading ones merged into one",
            SystemMessages::MergeAll => {
                "system messages: all merged into one leading message (mid-conversation ones move to the top)"
            }
        }
        .to_owned(),
    );
    if rules.flatten_content {
        out.push("text-only content arrays → plain strings".to_owned());
    }
    if rules.drop_message_names {
        out.push("message `name` removed".to_owned());
    }
    out.push(format!(
        "output limit sent as `{}`",
        match rules.max_tokens_field {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    ));
    let replay = match rules.reasoning_field {
        ReasoningField::Omit => "reasoning replay: not sent".to_owned(),
        ReasoningField::ThinkTags => {
            "reasoning replay: `<think>…</think>` in front of the assistant content".to_owned()
        }
        ReasoningField::ReasoningDetails => {
            "reasoning replay: `reasoning_details` (the provider's array verbatim when kept, else one reasoning.text entry)".to_owned()
        }
        field => format!("reasoning replay: `{}`", field.as_str()),
    };
    out.push(replay);
    if rules.require_reasoning_on_tool_calls && rules.reasoning_field != ReasoningField::Omit {
        out.push(format!(
            "assistant tool-call turns always carry reasoning (placeholder {:?} when none was kept)",
            rules.reasoning_placeholder
        ));
    }
    out.push(control_text(rules.reasoning_control));
    out.push(
        match rules.tool_choice {
            ToolChoicePolicy::Keep => "tool_choice: passed through",
            ToolChoicePolicy::RequiredToAuto => "tool_choice: `required` → `auto`",
            ToolChoicePolicy::AutoOnly => "tool_choice: only `auto`/`none`; others → `auto`",
            ToolChoicePolicy::Drop => "tool_choice: not sent",
        }
        .to_owned(),
    );
    if !rules.keep_strict {
        out.push("tool `strict` removed".to_owned());
    }
    out.push(format!(
        "parallel_tool_calls: {}",
        if rules.parallel_tool_calls {
            "sent"
        } else {
            "not sent"
        }
    ));
    out.push(format!(
        "stream_options.include_usage: {}",
        if rules.stream_options {
            "sent when streaming"
        } else {
            "not sent"
        }
    ));
    match rules.temperature {
        TemperaturePolicy::Keep => {}
        TemperaturePolicy::Drop => out.push("temperature/top_p: not sent".to_owned()),
        TemperaturePolicy::Force(v) => {
            out.push(format!("temperature forced to {v}; top_p not sent"))
        }
    }
    if let Some(max) = rules.max_temperature {
        out.push(format!("temperature clamped to ≤ {max}"));
    }
    let mut parse = Vec::new();
    if rules.think_tags {
        parse.push("leading <think> in content read as reasoning");
    }
    if rules.cumulative_deltas {
        parse.push("cumulative deltas de-duplicated");
    }
    if !parse.is_empty() {
        out.push(format!("stream: {}", parse.join("; ")));
    }
    if !quirks.extra_body.is_empty() {
        let keys: Vec<&str> = quirks.extra_body.keys().map(String::as_str).collect();
        out.push(format!("extra_body merged: {}", keys.join(", ")));
    }
    if !quirks.drop_fields.is_empty() {
        out.push(format!("fields removed: {}", quirks.drop_fields.join(", ")));
    }
    out.extend(profile.notes.iter().map(|n| format!("note: {n}")));
    out
}

/// Every profile with its base URLs, how it is recognised and what it changes (default quirks).
pub fn describe_all() -> String {
    let mut out = String::new();
    for id in ProviderId::all() {
        let p = id.profile();
        out.push_str(&format!("{} — {}\n", p.id, p.title));
        if !p.base_urls.is_empty() {
            out.push_str(&format!("  url: {}\n", p.base_urls.join(" | ")));
        }
        let mut names: Vec<&str> = vec![p.id];
        names.extend(p.aliases.iter().copied());
        out.push_str(&format!("  provider: {}\n", names.join(", ")));
        if !p.name_hints.is_empty() {
            out.push_str(&format!(
                "  backend names containing: {}\n",
                p.name_hints.join(", ")
            ));
        }
        if !p.hosts.is_empty() {
            let hosts: Vec<String> = p.hosts.iter().map(|h| h.describe()).collect();
            out.push_str(&format!("  hosts: {}\n", hosts.join(", ")));
        }
        let resolved = super::resolve(id, Quirks::default());
        for line in resolved.describe() {
            out.push_str(&format!("  - {line}\n"));
        }
        out.push('\n');
    }
    out
}
