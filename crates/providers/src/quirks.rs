//! Per-backend overrides of a profile's rules: the `quirks` object of a backend in the config.
//!
//! [`parse_quirks`] is strict: an unknown key or a wrong type is an error naming the JSON path
//! under `quirks` and the accepted values, and every problem is reported at once. A key that is
//! absent leaves the profile's (possibly model-dependent) rule alone. docs/providers.md
//! ("Quirks reference") documents every key; a test keeps the two in step with [`QUIRK_KEYS`].

use std::borrow::Cow;

use ccp_types::chat::{ChatMessage, ChatRequest, ChatRole};
use serde_json::{Map, Value};

use crate::profile::{
    DeveloperRole, EffortScale, MaxTokensField, ReasoningControl, ReasoningField, Rules,
    SystemMessages, TemperaturePolicy, ToolChoicePolicy,
};

/// Every key `quirks` accepts.
pub const QUIRK_KEYS: &[&str] = &[
    "merge_system_messages",
    "developer_role",
    "flatten_content",
    "drop_message_names",
    "max_tokens_field",
    "reasoning_field",
    "strip_reasoning",
    "require_reasoning_on_tool_calls",
    "reasoning_placeholder",
    "reasoning_control",
    "effort_scale",
    "tool_choice",
    "strict",
    "stream_options",
    "parallel_tool_calls",
    "temperature",
    "max_temperature",
    "think_tags",
    "cumulative_deltas",
    "extra_body",
    "drop_fields",
];

/// The reasoning control a quirk names; the scale comes from `effort_scale` or the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    Off,
    ReasoningEffort,
    Thinking,
    EnableThinking,
    OpenRouter,
    MiniMax,
}

/// Validated overrides; `None` / empty means "the profile decides".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quirks {
    pub merge_system_messages: Option<SystemMessages>,
    pub developer_role: Option<DeveloperRole>,
    pub flatten_content: Option<bool>,
    pub drop_message_names: Option<bool>,
    pub max_tokens_field: Option<MaxTokensField>,
    pub reasoning_field: Option<ReasoningField>,
    /// `true`: replay nothing; `false`: replay even where the profile would strip (as
    /// `reasoning_content` if the profile's field was "none").
    pub strip_reasoning: Option<bool>,
    pub require_reasoning_on_tool_calls: Option<bool>,
    pub reasoning_placeholder: Option<String>,
    pub reasoning_control: Option<ControlKind>,
    pub effort_scale: Option<EffortScale>,
    pub tool_choice: Option<ToolChoicePolicy>,
    /// Keep tool `strict`.
    pub strict: Option<bool>,
    pub stream_options: Option<bool>,
    pub parallel_tool_calls: Option<bool>,
    pub temperature: Option<TemperaturePolicy>,
    pub max_temperature: Option<f64>,
    pub think_tags: Option<bool>,
    pub cumulative_deltas: Option<bool>,
    /// Merged into the request body last (objects recursively; `null` removes a key).
    pub extra_body: Map<String, Value>,
    /// Dotted paths removed from the body after `extra_body`.
    pub drop_fields: Vec<String>,
}

impl Quirks {
    /// Overrides `rules` with every quirk that is set.
    pub fn apply_to(&self, rules: &mut Rules) {
        macro_rules! set {
            ($field:ident => $target:ident) => {
                if let Some(v) = self.$field.clone() {
                    rules.$target = v;
                }
            };
        }
        set!(merge_system_messages => system_messages);
        set!(developer_role => developer_role);
        set!(flatten_content => flatten_content);
        set!(drop_message_names => drop_message_names);
        set!(max_tokens_field => max_tokens_field);
        set!(reasoning_field => reasoning_field);
        set!(require_reasoning_on_tool_calls => require_reasoning_on_tool_calls);
        set!(tool_choice => tool_choice);
        set!(strict => keep_strict);
        set!(stream_options => stream_options);
        set!(parallel_tool_calls => parallel_tool_calls);
        set!(temperature => temperature);
        set!(think_tags => think_tags);
        set!(cumulative_deltas => cumulative_deltas);
        match self.strip_reasoning {
            Some(true) => rules.reasoning_field = ReasoningField::Omit,
            Some(false) if rules.reasoning_field == ReasoningField::Omit => {
                rules.reasoning_field = ReasoningField::ReasoningContent;
            }
            _ => {}
        }
        if let Some(text) = &self.reasoning_placeholder {
            rules.reasoning_placeholder = Cow::Owned(text.clone());
        }
        if let Some(max) = self.max_temperature {
            rules.max_temperature = Some(max);
        }
        rules.reasoning_control = self.control(rules.reasoning_control);
    }

    fn control(&self, current: ReasoningControl) -> ReasoningControl {
        let current_scale = match current {
            ReasoningControl::Effort(s) => Some(s),
            ReasoningControl::Thinking(s) => s,
            _ => None,
        };
        let scale = self.effort_scale;
        match self.reasoning_control {
            None => match (current, scale) {
                (ReasoningControl::Effort(_), Some(s)) => ReasoningControl::Effort(s),
                (ReasoningControl::Thinking(_), Some(s)) => ReasoningControl::Thinking(Some(s)),
                _ => current,
            },
            Some(ControlKind::Off) => ReasoningControl::Off,
            Some(ControlKind::ReasoningEffort) => ReasoningControl::Effort(
                scale.or(current_scale).unwrap_or(EffortScale::AsRequested),
            ),
            Some(ControlKind::Thinking) => ReasoningControl::Thinking(scale.or(current_scale)),
            Some(ControlKind::EnableThinking) => ReasoningControl::EnableThinking,
            Some(ControlKind::OpenRouter) => ReasoningControl::OpenRouter,
            Some(ControlKind::MiniMax) => ReasoningControl::MiniMax,
        }
    }
}

/// One problem: the JSON path (`quirks.<key>…`) and what is wrong plus how to fix it.
pub type QuirkProblem = (String, String);

/// Validates a backend's raw `quirks` object. Every problem is reported.
pub fn parse_quirks(raw: &Map<String, Value>) -> Result<Quirks, Vec<QuirkProblem>> {
    let mut q = Quirks::default();
    let mut problems: Vec<QuirkProblem> = Vec::new();
    for (key, value) in raw {
        let path = format!("quirks.{key}");
        let mut bad = |expected: &str| {
            problems.push((
                path.clone(),
                format!("expected {expected}, found {}", describe_value(value)),
            ));
        };
        match key.as_str() {
            "merge_system_messages" => match value {
                Value::Bool(true) => q.merge_system_messages = Some(SystemMessages::MergeAll),
                Value::Bool(false) => q.merge_system_messages = Some(SystemMessages::Keep),
                Value::String(s) => match s.as_str() {
                    "all" => q.merge_system_messages = Some(SystemMessages::MergeAll),
                    "leading" => q.merge_system_messages = Some(SystemMessages::MergeLeading),
                    "none" => q.merge_system_messages = Some(SystemMessages::Keep),
                    _ => bad(r#"true, false, "all", "leading" or "none""#),
                },
                _ => bad(r#"true, false, "all", "leading" or "none""#),
            },
            "developer_role" => match value.as_str() {
                Some("system") => q.developer_role = Some(DeveloperRole::System),
                Some("keep") | Some("developer") => q.developer_role = Some(DeveloperRole::Keep),
                _ => bad(r#""system" or "keep""#),
            },
            "max_tokens_field" => match one_of(
                value,
                &[
                    ("max_tokens", MaxTokensField::MaxTokens),
                    ("max_completion_tokens", MaxTokensField::MaxCompletionTokens),
                ],
            ) {
                Ok(f) => q.max_tokens_field = Some(f),
                Err(expected) => bad(&expected),
            },
            "reasoning_field" => match one_of(
                value,
                &[
                    ("reasoning_content", ReasoningField::ReasoningContent),
                    ("reasoning", ReasoningField::Reasoning),
                    ("reasoning_details", ReasoningField::ReasoningDetails),
                    ("think_tags", ReasoningField::ThinkTags),
                    ("none", ReasoningField::Omit),
                ],
            ) {
                Ok(f) => q.reasoning_field = Some(f),
                Err(expected) => bad(&expected),
            },
            "reasoning_placeholder" => match value.as_str() {
                Some(s) if !s.trim().is_empty() => q.reasoning_placeholder = Some(s.to_owned()),
                _ => bad("a non-empty string"),
            },
            "reasoning_control" => match one_of(
                value,
                &[
                    ("none", ControlKind::Off),
                    ("reasoning_effort", ControlKind::ReasoningEffort),
                    ("thinking", ControlKind::Thinking),
                    ("enable_thinking", ControlKind::EnableThinking),
                    ("openrouter", ControlKind::OpenRouter),
                    ("minimax", ControlKind::MiniMax),
                ],
            ) {
                Ok(k) => q.reasoning_control = Some(k),
                Err(expected) => bad(&expected),
            },
            "effort_scale" => match one_of(
                value,
                &[
                    ("as_requested", EffortScale::AsRequested),
                    (
                        "low_medium_high",
                        EffortScale::LowMediumHigh {
                            none_disables: false,
                        },
                    ),
                    (
                        "low_medium_high_none",
                        EffortScale::LowMediumHigh {
                            none_disables: true,
                        },
                    ),
                    ("low_high_max", EffortScale::LowHighMax),
                    ("high_max", EffortScale::HighMax),
                ],
            ) {
                Ok(s) => q.effort_scale = Some(s),
                Err(expected) => bad(&expected),
            },
            "tool_choice" => match one_of(
                value,
                &[
                    ("keep", ToolChoicePolicy::Keep),
                    ("required_to_auto", ToolChoicePolicy::RequiredToAuto),
                    ("auto_only", ToolChoicePolicy::AutoOnly),
                    ("drop", ToolChoicePolicy::Drop),
                ],
            ) {
                Ok(p) => q.tool_choice = Some(p),
                Err(expected) => bad(&expected),
            },
            "temperature" => match value {
                Value::String(s) if s == "keep" => q.temperature = Some(TemperaturePolicy::Keep),
                Value::String(s) if s == "drop" => q.temperature = Some(TemperaturePolicy::Drop),
                Value::Number(n) => match n.as_f64().filter(|t| (0.0..=2.0).contains(t)) {
                    Some(t) => q.temperature = Some(TemperaturePolicy::Force(t)),
                    None => bad(r#"a number between 0 and 2, "keep" or "drop""#),
                },
                _ => bad(r#"a number between 0 and 2, "keep" or "drop""#),
            },
            "max_temperature" => match value.as_f64().filter(|t| (0.0..=2.0).contains(t)) {
                Some(t) => q.max_temperature = Some(t),
                None => bad("a number between 0 and 2"),
            },
            "extra_body" => match value {
                Value::Object(map) => {
                    check_extra_body(map, &mut problems);
                    q.extra_body = map.clone();
                }
                _ => bad("an object of fields to merge into the upstream request body"),
            },
            "drop_fields" => match value {
                Value::Array(items) => {
                    q.drop_fields = check_drop_fields(items, &mut problems);
                }
                _ => bad(
                    r#"an array of field paths, e.g. ["parallel_tool_calls", "stream_options"]"#,
                ),
            },
            flag => {
                let slot = match flag {
                    "flatten_content" => &mut q.flatten_content,
                    "drop_message_names" => &mut q.drop_message_names,
                    "strip_reasoning" => &mut q.strip_reasoning,
                    "require_reasoning_on_tool_calls" => &mut q.require_reasoning_on_tool_calls,
                    "strict" => &mut q.strict,
                    "stream_options" => &mut q.stream_options,
                    "parallel_tool_calls" => &mut q.parallel_tool_calls,
                    "think_tags" => &mut q.think_tags,
                    "cumulative_deltas" => &mut q.cumulative_deltas,
                    _ => {
                        problems.push((
                            path.clone(),
                            format!(
                                "unknown quirk — remove it or use one of: {}",
                                QUIRK_KEYS.join(", ")
                            ),
                        ));
                        continue;
                    }
                };
                match value {
                    Value::Bool(b) => *slot = Some(*b),
                    _ => bad("true or false"),
                }
            }
        }
    }
    if q.strip_reasoning.is_some() && q.reasoning_field.is_some() {
        problems.push((
            "quirks.strip_reasoning".to_owned(),
            "conflicts with quirks.reasoning_field — keep one of them (\"reasoning_field\": \"none\" is the same as \"strip_reasoning\": true)".to_owned(),
        ));
    }
    problems.sort();
    if problems.is_empty() {
        Ok(q)
    } else {
        Err(problems)
    }
}

/// The value named by a string among `choices`, or the accepted names as `"a", "b" or "c"`.
fn one_of<T: Copy>(value: &Value, choices: &[(&str, T)]) -> Result<T, String> {
    if let Some(&(_, v)) = value
        .as_str()
        .and_then(|s| choices.iter().find(|(name, _)| *name == s))
    {
        return Ok(v);
    }
    let names: Vec<String> = choices
        .iter()
        .map(|(name, _)| format!("{name:?}"))
        .collect();
    Err(match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    })
}

fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A small request with every part `extra_body` / `drop_fields` could break.
fn sample_request() -> ChatRequest {
    ChatRequest {
        model: "m".to_owned(),
        messages: vec![ChatMessage::text(ChatRole::User, "hi")],
        stream: Some(true),
        ..ChatRequest::default()
    }
}

/// Each `extra_body` key must leave a request that still parses (e.g. `temperature` must be a
/// number, `model` a string).
fn check_extra_body(map: &Map<String, Value>, problems: &mut Vec<QuirkProblem>) {
    for (key, value) in map {
        let single: Map<String, Value> = [(key.clone(), value.clone())].into_iter().collect();
        if let Err(e) = crate::profile::with_body_edits(&sample_request(), &single, &[]) {
            problems.push((
                format!("quirks.extra_body.{key}"),
                format!("would make the request invalid ({e}) — fix the value's type"),
            ));
        }
    }
}

fn check_drop_fields(items: &[Value], problems: &mut Vec<QuirkProblem>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("quirks.drop_fields[{i}]");
        let Some(field) = item
            .as_str()
            .filter(|s| !s.is_empty() && !s.split('.').any(str::is_empty))
        else {
            problems.push((
                path,
                format!(
                    "expected a field path like \"parallel_tool_calls\" or \"stream_options.include_usage\", found {}",
                    describe_value(item)
                ),
            ));
            continue;
        };
        let fields = [field.to_owned()];
        if crate::profile::with_body_edits(&sample_request(), &Map::new(), &fields).is_err() {
            problems.push((
                path,
                format!("{field:?} is required in every request and cannot be dropped"),
            ));
            continue;
        }
        out.push(field.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_choices_like_a_sentence() {
        let two = [("max_tokens", 1), ("max_completion_tokens", 2)];
        assert_eq!(one_of(&json!("max_completion_tokens"), &two), Ok(2));
        assert_eq!(
            one_of(&json!(5), &two),
            Err(r#""max_tokens" or "max_completion_tokens""#.to_owned())
        );
        let three = [("keep", 1), ("auto_only", 2), ("drop", 3)];
        assert_eq!(
            one_of(&json!("required"), &three),
            Err(r#""keep", "auto_only" or "drop""#.to_owned())
        );
    }

    fn raw(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = parse_quirks(&raw(json!({
            "bogus": 1,
            "flatten_content": "yes",
            "max_tokens_field": "tokens",
            "drop_fields": ["ok_field", "", "model"],
            "extra_body": {"temperature": "hot", "thinking": {"type": "enabled"}},
        })))
        .unwrap_err();
        let paths: Vec<&str> = err.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "quirks.bogus",
                "quirks.drop_fields[1]",
                "quirks.drop_fields[2]",
                "quirks.extra_body.temperature",
                "quirks.flatten_content",
                "quirks.max_tokens_field",
            ]
        );
        assert!(err[0].1.contains("merge_system_messages"), "{:?}", err[0]);
        assert!(err[4].1.contains("true or false") && err[4].1.contains("\"yes\""));
    }

    #[test]
    fn empty_quirks_change_nothing() {
        let q = parse_quirks(&Map::new()).unwrap();
        let mut rules = crate::profile::COMPATIBLE_RULES;
        q.apply_to(&mut rules);
        assert_eq!(rules, crate::profile::COMPATIBLE_RULES);
    }
}
