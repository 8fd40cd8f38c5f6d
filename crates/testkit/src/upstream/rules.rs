//! What the Chat mock enforces: the [`Strictness`] switches and the field lists a strict provider
//! knows (the [`Rule`](crate::Rule) ids are shared by all mocks, in `serve/rule.rs`).
//!
//! Real providers reject many things OpenAI quietly accepts (see `providers.md` §3): DeepSeek and
//! Kimi refuse tool-call turns without `reasoning_content`, MiniMax refuses a second system
//! message, DeepSeek refuses non-`function` tools, and every provider refuses Responses-only
//! fields. The defaults are the union of the generic rules; provider-specific ones are opt-in.

/// Top-level request fields every strict provider accepts.
pub const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "response_format",
    "user",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
];

/// Fields that belong to the Responses API and must never reach a Chat upstream.
pub const RESPONSES_ONLY_FIELDS: &[&str] = &[
    "input",
    "instructions",
    "include",
    "store",
    "client_metadata",
    "prompt_cache_key",
    "previous_response_id",
    "reasoning",
    "text",
    "truncation",
    "max_output_tokens",
];

/// The DeepSeek error text for a tool-call turn sent back without its reasoning.
pub const REASONING_REQUIRED_MESSAGE: &str =
    "The reasoning_content in the thinking mode must be passed back to the API.";

/// Which provider rules the mock enforces. `Default` is strict on everything except the
/// provider-specific rules (`single_leading_system`, `require_reasoning_on_tool_calls`,
/// `max_tokens_limit`, `expected_key`), which are off.
#[derive(Debug, Clone)]
pub struct Strictness {
    /// Reject top-level fields outside [`CHAT_FIELDS`] and `extra_allowed_fields`.
    pub reject_unknown_fields: bool,
    /// Extra top-level fields to accept, e.g. `["thinking", "enable_thinking", "reasoning"]`.
    /// A field listed here is accepted even if it is Responses-only.
    pub extra_allowed_fields: Vec<String>,
    /// Reject [`RESPONSES_ONLY_FIELDS`] (named as Responses-only in the violation).
    pub reject_responses_fields: bool,
    /// Reject messages with role `developer`.
    pub reject_developer_role: bool,
    /// Allow at most one system message, and only as the first message (MiniMax).
    pub single_leading_system: bool,
    /// Reject roles other than system/user/assistant/tool (and developer, handled above).
    pub reject_unknown_roles: bool,
    /// Tool messages must answer the immediately preceding assistant `tool_calls`, and every
    /// tool call must be answered before the next non-tool message.
    pub check_tool_pairing: bool,
    /// Reject `tool_choice` / `parallel_tool_calls` when no tools are sent.
    pub reject_tool_choice_without_tools: bool,
    /// Tools must be `type: "function"` with unique names matching `^[A-Za-z0-9_-]{1,64}$`.
    pub check_tool_definitions: bool,
    /// Tool calls in history must be well-formed with arguments that are JSON text.
    pub check_history_arguments: bool,
    /// Content must be a string or an array of Chat content parts (`text`, `image_url`, …).
    pub check_content_parts: bool,
    /// `stream: true` requires `stream_options.include_usage: true`, and `stream_options`
    /// requires `stream: true`.
    pub require_stream_usage: bool,
    /// Every assistant message with tool calls must carry a non-empty string in
    /// `reasoning_field` (DeepSeek / Kimi thinking mode).
    pub require_reasoning_on_tool_calls: bool,
    /// Field checked by `require_reasoning_on_tool_calls` (default `reasoning_content`).
    pub reasoning_field: String,
    /// Reject `max_tokens` / `max_completion_tokens` above this value.
    pub max_tokens_limit: Option<u64>,
    /// Require `Authorization: Bearer <key>` (answers 401 otherwise).
    pub expected_key: Option<String>,
}

impl Default for Strictness {
    fn default() -> Self {
        Self {
            reject_unknown_fields: true,
            extra_allowed_fields: Vec::new(),
            reject_responses_fields: true,
            reject_developer_role: true,
            single_leading_system: false,
            reject_unknown_roles: true,
            check_tool_pairing: true,
            reject_tool_choice_without_tools: true,
            check_tool_definitions: true,
            check_history_arguments: true,
            check_content_parts: true,
            require_stream_usage: true,
            require_reasoning_on_tool_calls: false,
            reasoning_field: "reasoning_content".to_owned(),
            max_tokens_limit: None,
            expected_key: None,
        }
    }
}

impl Strictness {
    /// Every check off: the mock only records and replays.
    pub fn lenient() -> Self {
        Self {
            reject_unknown_fields: false,
            reject_responses_fields: false,
            reject_developer_role: false,
            reject_unknown_roles: false,
            check_tool_pairing: false,
            reject_tool_choice_without_tools: false,
            check_tool_definitions: false,
            check_history_arguments: false,
            check_content_parts: false,
            require_stream_usage: false,
            ..Self::default()
        }
    }

    /// DeepSeek V4 / Kimi thinking mode: strict plus reasoning on tool-call turns, and the
    /// `thinking` toggle accepted.
    pub fn thinking_provider() -> Self {
        Self {
            require_reasoning_on_tool_calls: true,
            ..Self::default()
        }
        .allow_fields(["thinking"])
    }

    /// MiniMax: strict plus a single leading system message.
    pub fn minimax() -> Self {
        Self {
            single_leading_system: true,
            ..Self::default()
        }
    }

    /// Accept these extra top-level fields.
    pub fn allow_fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_allowed_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Require `Authorization: Bearer <key>`.
    pub fn expect_key(mut self, key: &str) -> Self {
        self.expected_key = Some(key.to_owned());
        self
    }
}
