//! MiniMax (api.minimax.io / api.minimaxi.com). Only the first message may be `system`; the
//! reasoning travels either as `<think>` text inside `content` (native mode) or, with
//! `reasoning_split: true` (the default here), in `reasoning_details`. Errors may come as
//! `base_resp.status_code` with HTTP 200.

use crate::profile::{
    common, ErrorClass, ErrorCode, ErrorView, HostPattern, MaxTokensField, Profile,
    ReasoningControl, ReasoningField, Rules, SystemMessages, ToolChoicePolicy, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "minimax",
    title: "MiniMax",
    aliases: &["minimaxi"],
    name_hints: &["minimax"],
    hosts: &[
        HostPattern::Domain("minimax.io"),
        HostPattern::Domain("minimaxi.com"),
    ],
    base_urls: &["https://api.minimax.io/v1", "https://api.minimaxi.com/v1"],
    rules: Rules {
        system_messages: SystemMessages::MergeAll,
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        reasoning_field: ReasoningField::ReasoningDetails,
        reasoning_control: ReasoningControl::MiniMax,
        tool_choice: ToolChoicePolicy::Drop,
        max_temperature: Some(1.0),
        cumulative_deltas: true,
        ..COMPATIBLE_RULES
    },
    for_model: crate::profile::no_model_rules,
    classify_error,
    notes: &[
        "split mode by default (`reasoning_split: true`, reasoning in `reasoning_details`); quirks.reasoning_field: \"think_tags\" switches to native mode (`<think>` inside content)",
        "M2.x models cannot turn thinking off; `none` disables it only on M3",
        "streamed text may be cumulative snapshots; they are de-duplicated",
    ],
};

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    match error.base_status.or(error.numeric_code()) {
        Some(1002 | 1039) => {
            return class(ErrorCode::RateLimitExceeded, "MiniMax rate limit (1002/1039)")
        }
        Some(1004) => {
            return class(
                ErrorCode::InvalidApiKey,
                "MiniMax rejected the API key (1004) — check the key and the region (minimax.io vs minimaxi.com)",
            )
        }
        Some(1008) => {
            return class(
                ErrorCode::InsufficientQuota,
                "MiniMax account balance is insufficient (1008) — top up the account",
            )
        }
        Some(1026) => {
            return class(
                ErrorCode::InvalidPrompt,
                "MiniMax flagged the input as sensitive (1026)",
            )
        }
        Some(1027) => {
            return class(
                ErrorCode::InvalidPrompt,
                "MiniMax flagged the output as sensitive (1027)",
            )
        }
        _ => {}
    }
    if common::is_context_overflow(error) || error.message_has(&["token limit", "exceeds limit"]) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the MiniMax model's context window",
        );
    }
    common::by_status(status, error)
}
