//! Reasoning controls: the Responses `reasoning.effort` expressed in each provider's dialect.
//!
//! Whatever the control, the request leaves here with at most one way of saying the effort, and
//! `none` is never sent as a top-level `reasoning_effort` except where the scale says the
//! provider documents it ([`EffortScale::AsRequested`], Ollama).

use ccp_types::chat::ChatRequest;
use serde_json::{json, Value};

use super::{EffortScale, ReasoningControl, ReasoningField, Rules, ShapeContext};

impl EffortScale {
    /// The value to send for a requested effort, `None` to send nothing. Unknown efforts are
    /// passed through only by [`EffortScale::AsRequested`].
    pub fn map(self, effort: &str) -> Option<&str> {
        let known = |e: &'static str| Some(e);
        match self {
            EffortScale::AsRequested => Some(effort),
            EffortScale::LowMediumHigh { none_disables } => match effort {
                "none" => none_disables.then_some("none"),
                "minimal" | "low" => known("low"),
                "medium" => known("medium"),
                "high" | "xhigh" | "max" | "ultra" => known("high"),
                _ => None,
            },
            EffortScale::LowHighMax => match effort {
                "minimal" | "low" => known("low"),
                "medium" | "high" => known("high"),
                "xhigh" | "max" | "ultra" => known("max"),
                _ => None,
            },
            EffortScale::HighMax => match effort {
                "minimal" | "low" | "medium" | "high" => known("high"),
                "xhigh" | "max" | "ultra" => known("max"),
                _ => None,
            },
        }
    }
}

/// OpenRouter `reasoning.effort` values (`max` is not one of them).
fn openrouter_effort(effort: &str) -> Option<&str> {
    match effort {
        "none" | "minimal" | "low" | "medium" | "high" | "xhigh" => Some(effort),
        "max" | "ultra" => Some("xhigh"),
        _ => None,
    }
}

/// Applies `rules.reasoning_control` for the request's effort.
pub(super) fn apply_reasoning_control(chat: &mut ChatRequest, rules: &Rules, ctx: &ShapeContext) {
    let requested = chat.reasoning_effort.take();
    let effort = ctx
        .effort
        .map(str::to_owned)
        .or(requested)
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty());
    let effort = effort.as_deref();
    let thinking = |on: bool| json!({"type": if on { "enabled" } else { "disabled" }});
    match rules.reasoning_control {
        ReasoningControl::Off => {}
        ReasoningControl::Effort(scale) => {
            chat.reasoning_effort = effort.and_then(|e| scale.map(e)).map(str::to_owned);
        }
        ReasoningControl::Thinking(scale) => match effort {
            None => {}
            Some("none") => {
                chat.extra.insert("thinking".to_owned(), thinking(false));
            }
            Some(e) => {
                chat.extra.insert("thinking".to_owned(), thinking(true));
                chat.reasoning_effort = scale.and_then(|s| s.map(e)).map(str::to_owned);
            }
        },
        ReasoningControl::EnableThinking => {
            // DashScope: "parameter.enable_thinking must be set to false for non-streaming calls".
            let enable = if ctx.stream {
                effort.map(|e| e != "none")
            } else {
                Some(false)
            };
            if let Some(on) = enable {
                chat.extra
                    .insert("enable_thinking".to_owned(), Value::Bool(on));
            }
        }
        ReasoningControl::OpenRouter => {
            if let Some(e) = effort.and_then(openrouter_effort) {
                chat.extra
                    .insert("reasoning".to_owned(), json!({"effort": e}));
            }
        }
        ReasoningControl::MiniMax => {
            if rules.reasoning_field == ReasoningField::ReasoningDetails {
                chat.extra
                    .insert("reasoning_split".to_owned(), Value::Bool(true));
            }
            let is_m3 = ctx.upstream_model.to_ascii_lowercase().contains("m3");
            if effort == Some("none") && is_m3 {
                chat.extra.insert("thinking".to_owned(), thinking(false));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_never_send_none_unless_documented() {
        for scale in [
            EffortScale::LowMediumHigh {
                none_disables: false,
            },
            EffortScale::LowHighMax,
            EffortScale::HighMax,
        ] {
            assert_eq!(scale.map("none"), None, "{scale:?}");
        }
        assert_eq!(
            EffortScale::LowMediumHigh {
                none_disables: true
            }
            .map("none"),
            Some("none")
        );
        assert_eq!(EffortScale::AsRequested.map("none"), Some("none"));
    }

    #[test]
    fn deepseek_scale_is_high_or_max() {
        let mapped: Vec<Option<&str>> = [
            "minimal", "low", "medium", "high", "xhigh", "max", "ultra", "bogus",
        ]
        .iter()
        .map(|e| EffortScale::HighMax.map(e))
        .collect();
        assert_eq!(
            mapped,
            [
                Some("high"),
                Some("high"),
                Some("high"),
                Some("high"),
                Some("max"),
                Some("max"),
                Some("max"),
                None
            ]
        );
    }

    #[test]
    fn openrouter_clamps_max_to_xhigh() {
        assert_eq!(openrouter_effort("max"), Some("xhigh"));
        assert_eq!(openrouter_effort("ultra"), Some("xhigh"));
        assert_eq!(openrouter_effort("xhigh"), Some("xhigh"));
        assert_eq!(openrouter_effort("none"), Some("none"));
    }
}
