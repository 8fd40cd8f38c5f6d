//! Provider profiles: what each Chat Completions provider needs changed in the request the
//! converter built, how to read its streams, and how to name its errors.
//!
//! A [`Profile`] is data (the default [`Rules`], names and hosts it is recognised by, notes) plus
//! three small functions (per-model adjustments, error classification). The registry of all
//! profiles lives in [`crate::profiles`]; adding a provider is one file there plus one line.
//!
//! The flow for one backend:
//! 1. [`infer_provider`] picks the profile (explicit `provider` › backend name › URL host ›
//!    `generic`); [`crate::quirks::parse_quirks`] validates the backend's `quirks` object.
//! 2. [`resolve`] merges them into a [`ResolvedProfile`], kept for the backend's lifetime.
//! 3. Per request, [`ResolvedProfile::shape_request`] rewrites the converted [`ChatRequest`] and
//!    [`ResolvedProfile::parse_options`] configures the stream machine; upstream error bodies go
//!    through [`ResolvedProfile::classify_error`].
//!
//! Invariants of a shaped request (whatever the rules):
//! * No message keeps [`ChatMessage::reasoning`](ccp_types::chat::ChatMessage::reasoning): the
//!   replay is on the wire in the provider's field, or deliberately dropped.
//! * Rule precedence is profile defaults < per-model adjustments < `quirks`; `extra_body` is
//!   merged after every rule and `drop_fields` removed after that.

mod describe;
mod effort;
mod errors;
mod fallback;
mod infer;
mod shape;

use std::borrow::Cow;
use std::fmt;

use ccp_convert::stream::ParseOptions;
use ccp_types::chat::ChatRequest;
use serde_json::Value;

pub use describe::describe_all;
pub use errors::{retry_delay_in_text, ErrorClass, ErrorCode, ErrorView};
pub use fallback::{status_hint, UpstreamErrorKind};
pub use infer::infer_provider;

pub(crate) use errors::common;
pub use infer::HostPattern;
pub(crate) use shape::with_body_edits;

use crate::quirks::Quirks;

/// Text sent as replayed reasoning on an assistant tool-call turn when the provider insists on a
/// non-empty value and the history has none (e.g. the turn came from another provider, or Codex
/// dropped the reasoning item).
pub const REASONING_PLACEHOLDER: &str = "(reasoning not available)";

/// Where `developer` messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeveloperRole {
    /// Sent as `system` (most providers reject `developer`).
    System,
    /// Sent unchanged.
    Keep,
}

/// What happens to `system` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemMessages {
    /// Left where they are.
    Keep,
    /// Consecutive system messages at the start become one; later ones stay in place.
    MergeLeading,
    /// Every system message is merged into one message at the very start (MiniMax: "only the
    /// first message may be role=system").
    MergeAll,
}

/// Which field carries the output-token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// Where replayed reasoning goes on an assistant message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningField {
    /// `reasoning_content: "<text>"` (DeepSeek, Kimi, GLM, Qwen, LKEAP, llama.cpp).
    ReasoningContent,
    /// `reasoning: "<text>"` (vLLM ≥ 0.16, Ollama).
    Reasoning,
    /// `reasoning_details: [...]`: the provider's own array when the proxy kept it, else one
    /// `reasoning.text` entry (OpenRouter, MiniMax with `reasoning_split`).
    ReasoningDetails,
    /// `<think>text</think>` in front of `content` (MiniMax native mode).
    ThinkTags,
    /// Not sent at all (legacy DeepSeek R1 rejects it).
    Omit,
}

impl ReasoningField {
    /// The quirk value naming this field.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningField::ReasoningContent => "reasoning_content",
            ReasoningField::Reasoning => "reasoning",
            ReasoningField::ReasoningDetails => "reasoning_details",
            ReasoningField::ThinkTags => "think_tags",
            ReasoningField::Omit => "none",
        }
    }
}

/// Which values a top-level `reasoning_effort` may take upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffortScale {
    /// Exactly what the client asked for, `none` included (OpenAI).
    AsRequested,
    /// `low|medium|high` (`minimal` → low, `xhigh|max|ultra` → high); `none` is sent only when
    /// `none_disables` (Ollama documents it), otherwise omitted.
    LowMediumHigh { none_disables: bool },
    /// `low|high|max` (`minimal` → low, `medium` → high, `xhigh|ultra` → max; Kimi k3, GLM-5.3,
    /// Tencent plan models); `none` omitted.
    LowHighMax,
    /// `high|max` (DeepSeek V4: `minimal|low|medium|high` → high, `xhigh|max|ultra` → max);
    /// `none` omitted.
    HighMax,
}

/// How the Responses `reasoning.effort` is expressed upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningControl {
    /// Nothing is sent; `reasoning_effort` is removed.
    Off,
    /// Top-level `reasoning_effort` on the given scale.
    Effort(EffortScale),
    /// `thinking: {type: enabled|disabled}` (`none` → disabled when the model allows it), plus a
    /// top-level `reasoning_effort` on the given scale when `Some`.
    Thinking(Option<EffortScale>),
    /// Qwen `enable_thinking: bool` (`none` → false; always false when not streaming).
    EnableThinking,
    /// OpenRouter `reasoning: {effort}` (`max|ultra` → `xhigh`); never a top-level
    /// `reasoning_effort` alongside.
    OpenRouter,
    /// MiniMax: `reasoning_split: true` when replaying via `reasoning_details`; M3 models get
    /// `thinking: {type: disabled}` for `none`. No `reasoning_effort`.
    MiniMax,
}

/// What happens to `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolChoicePolicy {
    /// Sent unchanged.
    Keep,
    /// `required` → `auto`; named functions kept.
    RequiredToAuto,
    /// Only `auto` and `none` are sent; `required` and named functions become `auto`.
    AutoOnly,
    /// Never sent (the provider's default is `auto`).
    Drop,
}

/// What happens to `temperature` (and `top_p`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TemperaturePolicy {
    /// Sent as the client gave them.
    Keep,
    /// `temperature` and `top_p` are never sent (Kimi thinking models accept only their default).
    Drop,
    /// `temperature` is always this value; `top_p` is not sent.
    Force(f64),
}

/// Every request-shaping and stream-parsing decision a profile makes. Each field can be
/// overridden per backend in `quirks` (see [`crate::quirks`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub developer_role: DeveloperRole,
    pub system_messages: SystemMessages,
    /// Text-only content arrays become plain strings.
    pub flatten_content: bool,
    /// Message `name` fields are removed (GLM rejects them).
    pub drop_message_names: bool,
    pub max_tokens_field: MaxTokensField,
    pub reasoning_field: ReasoningField,
    /// Every assistant message with `tool_calls` carries a non-empty reasoning value (the
    /// replayed text, else [`Rules::reasoning_placeholder`]).
    pub require_reasoning_on_tool_calls: bool,
    pub reasoning_placeholder: Cow<'static, str>,
    pub reasoning_control: ReasoningControl,
    pub tool_choice: ToolChoicePolicy,
    /// Tool `strict: true` is kept (otherwise removed).
    pub keep_strict: bool,
    /// `stream_options: {include_usage: true}` is sent on streaming calls.
    pub stream_options: bool,
    /// `parallel_tool_calls` is sent when the client set it.
    pub parallel_tool_calls: bool,
    pub temperature: TemperaturePolicy,
    /// `temperature` above this is lowered to it.
    pub max_temperature: Option<f64>,
    /// Parse a leading `<think>…</think>` in content as reasoning.
    pub think_tags: bool,
    /// Streamed text may be cumulative snapshots.
    pub cumulative_deltas: bool,
}

/// The rules of a plain OpenAI-compatible server that is not OpenAI: the base every profile
/// starts from with struct-update syntax.
pub const COMPATIBLE_RULES: Rules = Rules {
    developer_role: DeveloperRole::System,
    system_messages: SystemMessages::MergeLeading,
    flatten_content: true,
    drop_message_names: false,
    max_tokens_field: MaxTokensField::MaxTokens,
    reasoning_field: ReasoningField::ReasoningContent,
    require_reasoning_on_tool_calls: false,
    reasoning_placeholder: Cow::Borrowed(REASONING_PLACEHOLDER),
    reasoning_control: ReasoningControl::Effort(EffortScale::LowMediumHigh {
        none_disables: false,
    }),
    tool_choice: ToolChoicePolicy::Keep,
    keep_strict: false,
    stream_options: true,
    parallel_tool_calls: false,
    temperature: TemperaturePolicy::Keep,
    max_temperature: None,
    think_tags: true,
    cumulative_deltas: false,
};

/// One provider: data plus small functions. See the module docs.
#[derive(Debug)]
pub struct Profile {
    /// The name used in `provider` and in docs (`## <id>` in docs/providers.md).
    pub id: &'static str,
    /// Human name.
    pub title: &'static str,
    /// Other names accepted for `provider` (e.g. `zhipu` for `glm`).
    pub aliases: &'static [&'static str],
    /// Substrings of a backend name that select this profile (matched after lower-casing and
    /// removing `-`, `_`, `.` and spaces). Empty: only the exact id or an alias matches.
    pub name_hints: &'static [&'static str],
    /// URL hosts that select this profile.
    pub hosts: &'static [HostPattern],
    /// Base URLs to put in a backend's `url`.
    pub base_urls: &'static [&'static str],
    /// Default rules.
    pub rules: Rules,
    /// Adjusts the rules for one upstream model (before quirks apply).
    pub for_model: fn(model: &str, rules: &mut Rules),
    /// Provider-specific error bodies → OpenAI error codes; `None` when nothing specific applies.
    pub classify_error: fn(status: u16, error: &ErrorView) -> Option<ErrorClass>,
    /// Known limits and advice, shown by `describe`.
    pub notes: &'static [&'static str],
}

/// Per-model adjustment for profiles without any.
pub(crate) fn no_model_rules(_model: &str, _rules: &mut Rules) {}

/// A provider profile, by identity. Obtain one from [`infer_provider`], [`ProviderId::parse`]
/// or [`ProviderId::all`].
#[derive(Clone, Copy)]
pub struct ProviderId(&'static Profile);

impl ProviderId {
    /// The profile for an id or alias (case-insensitive).
    pub fn parse(name: &str) -> Option<ProviderId> {
        let name = name.trim().to_ascii_lowercase();
        crate::profiles::REGISTRY
            .iter()
            .find(|p| p.id == name || p.aliases.contains(&name.as_str()))
            .map(|p| ProviderId(p))
    }

    /// Every profile, in registry order.
    pub fn all() -> impl Iterator<Item = ProviderId> {
        crate::profiles::REGISTRY.iter().map(|p| ProviderId(p))
    }

    /// The profile's id (`deepseek`, `glm`, …).
    pub fn as_str(self) -> &'static str {
        self.0.id
    }

    /// The profile's data.
    pub fn profile(self) -> &'static Profile {
        self.0
    }

    /// The fallback profile for unrecognised OpenAI-compatible servers.
    pub fn generic() -> ProviderId {
        ProviderId(&crate::profiles::generic::PROFILE)
    }
}

impl PartialEq for ProviderId {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ProviderId {}

impl std::hash::Hash for ProviderId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderId({})", self.0.id)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.id)
    }
}

/// What shaping needs to know about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShapeContext<'a> {
    /// The Responses `reasoning.effort`, if the client sent one (`none`, `minimal`, `low`,
    /// `medium`, `high`, `xhigh`, …). When `None`, the request's `reasoning_effort` is used.
    pub effort: Option<&'a str>,
    /// The model sent upstream (per-model rules key on it).
    pub upstream_model: &'a str,
    /// Whether the upstream call streams.
    pub stream: bool,
}

/// What an upstream error means, from [`ResolvedProfile::classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: UpstreamErrorKind,
    /// The profile's explanation with the provider's message ("GLM rate or concurrency limit:
    /// …"), when the backend's own profile recognised the error; `None` when the fallback did.
    pub explanation: Option<String>,
    /// The provider's own message (or the whole body when it has none), untrimmed of secrets:
    /// callers scrub before showing it.
    pub upstream_message: String,
    /// A delay the body names, in seconds.
    pub retry_after: Option<u64>,
}

/// A profile with a backend's quirks applied. Cheap to clone; build once per backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedProfile {
    id: ProviderId,
    quirks: Quirks,
}

/// Merges a profile and a backend's validated quirks.
pub fn resolve(id: ProviderId, quirks: Quirks) -> ResolvedProfile {
    ResolvedProfile { id, quirks }
}

/// [`infer_provider`] + [`parse_quirks`](crate::quirks::parse_quirks) + [`resolve`] for one
/// backend, reporting every problem as `(path relative to the backend, message)`: `provider` for
/// an unknown provider name, `quirks.<key>…` for quirks.
pub fn resolve_backend(
    provider: Option<&str>,
    backend_name: &str,
    url: Option<&str>,
    quirks: &serde_json::Map<String, Value>,
) -> Result<ResolvedProfile, Vec<crate::quirks::QuirkProblem>> {
    let id = infer_provider(provider, backend_name, url);
    let parsed = crate::quirks::parse_quirks(quirks);
    match (id, parsed) {
        (Ok(id), Ok(quirks)) => Ok(resolve(id, quirks)),
        (id, parsed) => {
            let mut problems = Vec::new();
            if let Err(message) = id {
                problems.push(("provider".to_owned(), message));
            }
            if let Err(quirk_problems) = parsed {
                problems.extend(quirk_problems);
            }
            Err(problems)
        }
    }
}

impl ResolvedProfile {
    /// The profile.
    pub fn id(&self) -> ProviderId {
        self.id
    }

    /// The backend's quirks.
    pub fn quirks(&self) -> &Quirks {
        &self.quirks
    }

    /// The effective rules for one upstream model: defaults, then per-model adjustments, then
    /// quirks.
    pub fn rules_for(&self, model: &str) -> Rules {
        let profile = self.id.profile();
        let mut rules = profile.rules.clone();
        (profile.for_model)(&model.to_ascii_lowercase(), &mut rules);
        self.quirks.apply_to(&mut rules);
        rules
    }

    /// Rewrites a converted request for this provider; see the module docs for the invariants.
    /// Replaces `ccp_convert::request::apply_default_reasoning_field`.
    pub fn shape_request(&self, chat: &mut ChatRequest, ctx: &ShapeContext<'_>) {
        let rules = self.rules_for(ctx.upstream_model);
        shape::shape_messages(chat, &rules);
        shape::shape_parameters(chat, &rules, ctx.stream);
        effort::apply_reasoning_control(chat, &rules, ctx);
        shape::apply_extra_body_and_drops(chat, &self.quirks.extra_body, &self.quirks.drop_fields);
    }

    /// How the stream machine should read this provider's chunks (model-independent rules and
    /// quirks).
    pub fn parse_options(&self) -> ParseOptions {
        self.parse_options_for("")
    }

    /// [`parse_options`](Self::parse_options) for a specific upstream model.
    pub fn parse_options_for(&self, model: &str) -> ParseOptions {
        let rules = self.rules_for(model);
        ParseOptions {
            think_tags: rules.think_tags,
            cumulative_deltas: rules.cumulative_deltas,
        }
    }

    /// The one classification of an upstream error body: this backend's profile first (unless it
    /// is the generic profile), then the fallback classifier. `status` is the HTTP status, or
    /// `None` for an error payload that arrived inside a 2xx answer or a stream; `body` is the
    /// error body as JSON (a non-JSON body as a JSON string).
    pub fn classify(&self, status: Option<u16>, body: &Value) -> Classified {
        let view = ErrorView::new(body);
        let upstream_message = if view.message.trim().is_empty() {
            match body {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            }
        } else {
            view.message.trim().to_owned()
        };
        if self.id != ProviderId::generic() {
            let specific = (self.id.profile().classify_error)(status.unwrap_or(0), &view)
                .or_else(|| errors::classify_openai_codes(status.unwrap_or(0), &view));
            if let Some(class) = specific {
                return Classified {
                    kind: UpstreamErrorKind::of_code(class.code),
                    explanation: Some(class.message),
                    upstream_message,
                    retry_after: class.retry_after_secs,
                };
            }
        }
        Classified {
            kind: fallback::classify(status, &view),
            explanation: None,
            upstream_message,
            retry_after: view.retry_after(),
        }
    }

    /// Maps a provider error to an OpenAI error code Codex acts on. `status` is the HTTP status,
    /// or 0 for an error payload that arrived inside a stream. `None`: nothing provider-specific
    /// applies and the generic mapping should run.
    pub fn classify_error(&self, status: u16, body: &Value) -> Option<ErrorClass> {
        let view = ErrorView::new(body);
        (self.id.profile().classify_error)(status, &view)
            .or_else(|| errors::classify_openai_codes(status, &view))
    }

    /// Human-readable lines saying what this profile changes (for `codex-convert-proxy providers`).
    pub fn describe(&self) -> Vec<String> {
        describe::describe_rules(self.id.profile(), &self.rules_for(""), &self.quirks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let ids: Vec<&str> = ProviderId::all().map(ProviderId::as_str).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate profile ids: {ids:?}");
        for id in ProviderId::all() {
            assert_eq!(ProviderId::parse(id.as_str()), Some(id));
            assert_eq!(ProviderId::parse(&id.as_str().to_uppercase()), Some(id));
            for alias in id.profile().aliases {
                assert_eq!(ProviderId::parse(alias), Some(id), "alias {alias}");
            }
        }
        assert_eq!(ProviderId::parse("nope"), None);
        assert_eq!(ProviderId::generic().as_str(), "generic");
    }

    #[test]
    fn resolve_backend_reports_provider_and_quirk_problems_together() {
        let mut quirks = serde_json::Map::new();
        quirks.insert("bogus".into(), Value::Bool(true));
        let problems = resolve_backend(Some("nope"), "x", None, &quirks).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["provider", "quirks.bogus"]);
        let ok = resolve_backend(None, "kimi", None, &serde_json::Map::new()).unwrap();
        assert_eq!(ok.id().as_str(), "kimi");
    }
}
