//! How a response ends: `finish_reason` classification and usage mapping.

use ccp_types::chat::ChatUsage;
use ccp_types::events::{InputTokensDetails, OutputTokensDetails, ResponseUsage};

/// What a `finish_reason` means for the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FinishOutcome {
    /// `response.completed`; with `Some(reason)` the status is `incomplete`.
    Completed {
        incomplete_reason: Option<&'static str>,
    },
    /// The provider gave up mid-answer: `response.failed` with a retryable code.
    Failed,
}

/// Maps a provider `finish_reason`. Unknown values (`eos`, `stop_sequence`, …) count as a normal
/// stop: the upstream said the answer ended, and inventing a failure would make Codex retry.
pub(super) fn classify_finish_reason(reason: &str) -> FinishOutcome {
    match reason {
        "length" | "max_tokens" | "model_context_window_exceeded" => FinishOutcome::Completed {
            incomplete_reason: Some("max_output_tokens"),
        },
        "content_filter" | "sensitive" => FinishOutcome::Completed {
            incomplete_reason: Some("content_filter"),
        },
        "network_error" | "insufficient_system_resource" | "error" => FinishOutcome::Failed,
        other => {
            if !matches!(other, "stop" | "tool_calls" | "function_call" | "end_turn") {
                tracing::debug!(
                    finish_reason = other,
                    "unknown finish_reason treated as a normal stop"
                );
            }
            FinishOutcome::Completed {
                incomplete_reason: None,
            }
        }
    }
}

/// Chat usage → Responses usage; zeros when the upstream reported none (Codex requires the
/// object's token fields whenever `usage` is present).
pub(super) fn usage_to_responses(usage: Option<&ChatUsage>) -> ResponseUsage {
    let Some(u) = usage else {
        return ResponseUsage::default();
    };
    let input_tokens = u.prompt_tokens.unwrap_or(0);
    let output_tokens = u.completion_tokens.unwrap_or(0);
    ResponseUsage {
        input_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.cached(),
        },
        output_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.reasoning(),
        },
        total_tokens: u
            .total_tokens
            .filter(|&t| t > 0)
            .unwrap_or(input_tokens.saturating_add(output_tokens)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map_to_outcomes() {
        let done = FinishOutcome::Completed {
            incomplete_reason: None,
        };
        for r in ["stop", "tool_calls", "function_call", "end_turn", "eos"] {
            assert_eq!(classify_finish_reason(r), done, "{r}");
        }
        for r in ["length", "model_context_window_exceeded"] {
            assert_eq!(
                classify_finish_reason(r),
                FinishOutcome::Completed {
                    incomplete_reason: Some("max_output_tokens")
                },
                "{r}"
            );
        }
        for r in ["content_filter", "sensitive"] {
            assert_eq!(
                classify_finish_reason(r),
                FinishOutcome::Completed {
                    incomplete_reason: Some("content_filter")
                },
                "{r}"
            );
        }
        for r in ["network_error", "insufficient_system_resource", "error"] {
            assert_eq!(classify_finish_reason(r), FinishOutcome::Failed, "{r}");
        }
    }

    #[test]
    fn usage_maps_fields_and_fills_total() {
        let u: ChatUsage = serde_json::from_value(serde_json::json!({
            "prompt_tokens": 100, "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 40},
            "completion_tokens_details": {"reasoning_tokens": 7}
        }))
        .unwrap();
        let r = usage_to_responses(Some(&u));
        assert_eq!(
            (
                r.input_tokens,
                r.input_tokens_details.cached_tokens,
                r.output_tokens
            ),
            (100, 40, 20)
        );
        assert_eq!(
            (r.output_tokens_details.reasoning_tokens, r.total_tokens),
            (7, 120)
        );
        assert_eq!(usage_to_responses(None), ResponseUsage::default());
    }
}
