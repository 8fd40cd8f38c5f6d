//! The [`Rule`] ids that prefix every violation a mock records, and the [`Problem`] a broken rule
//! produces. One vocabulary for all mocks, so a test reads `violation_rules()` the same way
//! whichever upstream it scripted.

use std::fmt;

/// The rule a [`Problem`] broke; its `Display` form prefixes every violation string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Missing or wrong credentials (`Authorization`, Azure `api-key`, unknown ChatGPT token).
    Auth,
    /// The body is not a JSON object.
    InvalidJson,
    /// A required field (`model`, `messages`, …) missing or malformed.
    MissingField,
    /// A top-level field no Chat provider knows.
    UnknownField,
    /// A Responses-only top-level field.
    ResponsesField,
    /// A `developer` message.
    DeveloperRole,
    /// A second system message or one that is not first.
    SystemMessage,
    /// A role outside system/user/assistant/tool, or none.
    UnknownRole,
    /// A tool result that answers no earlier call (Chat: of the preceding assistant message;
    /// Responses: no earlier `function_call`/`custom_tool_call` with that `call_id`).
    ToolResultOrphan,
    /// An assistant tool call without a tool message before the next non-tool message.
    ToolCallUnanswered,
    /// `tool_choice` / `parallel_tool_calls` without tools.
    ToolChoiceWithoutTools,
    /// A bad tool definition (type, name, duplicates, unknown forced tool).
    ToolDefinition,
    /// A malformed tool call in history or arguments that are not JSON text.
    ToolArguments,
    /// Content that is not a string or an array of known Chat parts.
    ContentPart,
    /// Streaming without `include_usage`, or `stream_options` without streaming.
    StreamUsage,
    /// A tool-call turn without its reasoning field.
    ReasoningMissing,
    /// `max_tokens` above the configured limit or not a positive integer.
    MaxTokens,
    /// A method/path the mock does not serve.
    UnexpectedRequest,
    /// A request arrived after the scripted replies ran out.
    NoScriptedReply,
    /// Azure: the `api-version` query parameter is missing or not the expected one.
    ApiVersion,
    /// ChatGPT backend: a known access token that was marked expired.
    TokenExpired,
    /// ChatGPT backend: the `ChatGPT-Account-ID` header is missing or names another account.
    AccountId,
    /// ChatGPT backend: a parameter it refuses (`max_output_tokens`, `temperature`, …).
    UnsupportedParameter,
    /// ChatGPT backend: no `instructions` string.
    InstructionsRequired,
    /// ChatGPT backend: `stream` is not `true`.
    StreamRequired,
    /// ChatGPT backend: `store` is not exactly `false`.
    StoreRequired,
    /// ChatGPT backend: `input` is not a list.
    InputNotList,
    /// ChatGPT backend: an input message with role `system`.
    SystemRole,
    /// Responses: `previous_response_id` names no stored response of this mock.
    PreviousResponse,
    /// Responses: a model outside the configured list.
    UnknownModel,
    /// Token endpoint: a refresh token that was already exchanged (rotated away).
    RefreshTokenReused,
    /// Token endpoint: a refresh token it never issued, or one revoked or expired by the test.
    RefreshTokenInvalid,
    /// Anthropic: the `anthropic-version` header is missing.
    AnthropicVersion,
    /// Anthropic: roles do not alternate user/assistant starting with user.
    RoleAlternation,
    /// Anthropic: a tool turn whose thinking blocks are missing, altered or not first.
    ThinkingReplay,
    /// Anthropic: more than four `cache_control` breakpoints.
    CacheControl,
}

impl Rule {
    /// Stable snake_case id used as the violation prefix.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Auth => "auth",
            Rule::InvalidJson => "invalid_json",
            Rule::MissingField => "missing_field",
            Rule::UnknownField => "unknown_field",
            Rule::ResponsesField => "responses_field",
            Rule::DeveloperRole => "developer_role",
            Rule::SystemMessage => "system_message",
            Rule::UnknownRole => "unknown_role",
            Rule::ToolResultOrphan => "tool_result_orphan",
            Rule::ToolCallUnanswered => "tool_call_unanswered",
            Rule::ToolChoiceWithoutTools => "tool_choice_without_tools",
            Rule::ToolDefinition => "tool_definition",
            Rule::ToolArguments => "tool_arguments",
            Rule::ContentPart => "content_part",
            Rule::StreamUsage => "stream_usage",
            Rule::ReasoningMissing => "reasoning_missing",
            Rule::MaxTokens => "max_tokens",
            Rule::UnexpectedRequest => "unexpected_request",
            Rule::NoScriptedReply => "no_scripted_reply",
            Rule::ApiVersion => "api_version",
            Rule::TokenExpired => "token_expired",
            Rule::AccountId => "account_id",
            Rule::UnsupportedParameter => "unsupported_parameter",
            Rule::InstructionsRequired => "instructions_required",
            Rule::StreamRequired => "stream_required",
            Rule::StoreRequired => "store_required",
            Rule::InputNotList => "input_not_list",
            Rule::SystemRole => "system_role",
            Rule::PreviousResponse => "previous_response",
            Rule::UnknownModel => "unknown_model",
            Rule::RefreshTokenReused => "refresh_token_reused",
            Rule::RefreshTokenInvalid => "refresh_token_invalid",
            Rule::AnthropicVersion => "anthropic_version",
            Rule::RoleAlternation => "role_alternation",
            Rule::ThinkingReplay => "thinking_replay",
            Rule::CacheControl => "cache_control",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One broken rule, with the message and parameter a provider would report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Which rule.
    pub rule: Rule,
    /// Human-readable explanation naming the offending field or message.
    pub message: String,
    /// The request parameter at fault, if any (goes into `error.param`).
    pub param: Option<String>,
}

impl Problem {
    pub(crate) fn new(rule: Rule, param: Option<String>, message: String) -> Self {
        Self {
            rule,
            message,
            param,
        }
    }
}
