//! What another provider's Anthropic-compatible endpoint refuses on top of Anthropic's own rules
//! ([`CompatRules`]): the mock can be told to require them, so a test shows the proxy shapes
//! requests for that provider. Each rule is one documented deviation (docs/providers.md).

use serde_json::Value;

use crate::serve::{Problem, Rule};

/// Extra requirements of a provider's Anthropic-compatible endpoint. The default requires
/// nothing beyond Anthropic's API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompatRules {
    /// The key must come as `Authorization: Bearer <key>`; `x-api-key` alone is a 401.
    pub bearer_auth: bool,
    /// No `cache_control` anywhere in the body.
    pub no_cache_control: bool,
    /// No `redacted_thinking` block in the history.
    pub no_redacted_thinking: bool,
    /// No `image` block, also inside `tool_result` content.
    pub no_images: bool,
    /// `temperature`, when sent, is above 0.
    pub positive_temperature: bool,
}

/// The problems of a body under `rules`.
pub(crate) fn check_compat(body: &Value, rules: CompatRules) -> Vec<Problem> {
    let mut problems = Vec::new();
    if rules.no_cache_control && contains_key(body, "cache_control") {
        problems.push(Problem::new(
            Rule::CacheControl,
            None,
            "cache_control: not supported by this endpoint".into(),
        ));
    }
    if rules.no_redacted_thinking && contains_block(body, "redacted_thinking") {
        problems.push(Problem::new(
            Rule::ContentPart,
            Some("messages".into()),
            "redacted_thinking blocks are not supported".into(),
        ));
    }
    if rules.no_images && contains_block(body, "image") {
        problems.push(Problem::new(
            Rule::ContentPart,
            Some("messages".into()),
            "image blocks are not supported".into(),
        ));
    }
    if rules.positive_temperature && body["temperature"].as_f64().is_some_and(|t| t <= 0.0) {
        problems.push(Problem::new(
            Rule::UnsupportedParameter,
            Some("temperature".into()),
            "temperature: must be in (0, 1]".into(),
        ));
    }
    problems
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map.contains_key(key) || map.values().any(|v| contains_key(v, key)),
        Value::Array(items) => items.iter().any(|v| contains_key(v, key)),
        _ => false,
    }
}

fn contains_block(value: &Value, kind: &str) -> bool {
    match value {
        Value::Object(map) => {
            map.get("type").and_then(Value::as_str) == Some(kind)
                || map.values().any(|v| contains_block(v, kind))
        }
        Value::Array(items) => items.iter().any(|v| contains_block(v, kind)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_rule_catches_its_deviation_and_nothing_else() {
        let body = json!({"temperature": 0.0, "system": [{"type": "text", "text": "s",
            "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                "content": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]}]});
        assert!(check_compat(&body, CompatRules::default()).is_empty());
        let all = CompatRules {
            bearer_auth: true,
            no_cache_control: true,
            no_redacted_thinking: true,
            no_images: true,
            positive_temperature: true,
        };
        let rules: Vec<Rule> = check_compat(&body, all).iter().map(|p| p.rule).collect();
        assert_eq!(
            rules,
            [
                Rule::CacheControl,
                Rule::ContentPart,
                Rule::ContentPart,
                Rule::UnsupportedParameter
            ]
        );
        let clean = json!({"temperature": 0.5, "messages": [{"role": "user", "content": "hi"}]});
        assert!(check_compat(&clean, all).is_empty());
    }
}
