//! What the Responses mock enforces, and the exact answer the real server gives for each broken
//! rule ([`Rejection`]).
//!
//! Two dialects: the OpenAI API (and Azure) answers `{"error":{message,type,param,code}}`; the
//! ChatGPT Codex backend answers FastAPI-style `{"detail": …}` (upstreams.md §1.6, §1.8).
//! Bodies marked "invented" below were not captured from the real server; their status and shape
//! follow its neighbours.
//!
//! Invariant: these checks are pure (no IO, no clock except JWT `exp`); the server answers the
//! first rejection and records all of them as violations.

use std::collections::{HashMap, HashSet};

use axum::http::HeaderMap;
use serde_json::{json, Map, Value};

use super::chatgpt::{ChatGptTokens, TokenCheck};
use crate::serve::{query_param, Problem, Rule};

/// Top-level fields of `POST /v1/responses` (the OpenAI create-response parameters).
pub const RESPONSES_CREATE_FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "stream",
    "stream_options",
    "max_output_tokens",
    "max_tool_calls",
    "temperature",
    "top_p",
    "top_logprobs",
    "previous_response_id",
    "text",
    "user",
    "store",
    "prompt_cache_key",
    "prompt_cache_retention",
    "include",
    "metadata",
    "truncation",
    "service_tier",
    "background",
    "safety_identifier",
    "conversation",
    "prompt",
    "client_metadata",
];

/// Parameters the ChatGPT backend refuses with `{"detail":"Unsupported parameter: <name>"}`.
pub const CHATGPT_UNSUPPORTED_FIELDS: &[&str] = &[
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "context_management",
];

/// How the mock authenticates callers.
#[derive(Debug, Clone)]
pub enum ResponsesAuth {
    /// Anything goes.
    None,
    /// `Authorization: Bearer <key>`.
    Bearer(String),
    /// Azure OpenAI: `api-key: <key>` plus an `api-version` query parameter (any value, or
    /// exactly this one).
    Azure {
        /// The expected `api-key`.
        key: String,
        /// The required `api-version`, if a specific one.
        api_version: Option<String>,
    },
    /// ChatGPT backend: `Authorization: Bearer <token>` with a token valid in the set, and
    /// `ChatGPT-Account-ID` equal to the token's account.
    ChatGpt(ChatGptTokens),
}

/// Which server's error shapes (and body rules) the mock imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI API / Azure: `{"error":{…}}`.
    OpenAi,
    /// ChatGPT Codex backend: `{"detail":…}` and the §1.6 body rules.
    ChatGpt,
}

/// The rules of a [`ResponsesUpstream`](super::ResponsesUpstream). Build from a preset:
/// [`ResponsesStrictness::openai`], [`azure`](ResponsesStrictness::azure),
/// [`chatgpt`](ResponsesStrictness::chatgpt), [`lenient`](ResponsesStrictness::lenient).
#[derive(Debug, Clone)]
pub struct ResponsesStrictness {
    /// Credentials required.
    pub auth: ResponsesAuth,
    /// Error shapes and the ChatGPT body rules.
    pub dialect: Dialect,
    /// Reject top-level fields outside [`RESPONSES_CREATE_FIELDS`] and `extra_allowed_fields`.
    pub reject_unknown_fields: bool,
    /// Extra top-level fields to accept.
    pub extra_allowed_fields: Vec<String>,
    /// `model` must be a non-empty string.
    pub require_model: bool,
    /// If set, `model` must be one of these.
    pub models: Option<Vec<String>>,
    /// Every `function_call_output` / `custom_tool_call_output` must answer an earlier call with
    /// its `call_id` (in this input or the chained `previous_response_id` context).
    pub check_tool_outputs: bool,
    /// `previous_response_id` must name a response this mock served with `store` not false.
    pub check_previous_response: bool,
    /// ChatGPT dialect: refuse a body without an `instructions` string. On by default (what the
    /// backend answered in 2025–26, upstreams.md §1.6); note that Codex 0.169 itself omits the
    /// key (codex-wire.md §1.6), so a proxy must add it, and a test pointing Codex straight at
    /// the mock turns this off.
    pub require_instructions: bool,
}

impl Default for ResponsesStrictness {
    /// OpenAI rules without credentials.
    fn default() -> Self {
        Self {
            auth: ResponsesAuth::None,
            dialect: Dialect::OpenAi,
            reject_unknown_fields: true,
            extra_allowed_fields: Vec::new(),
            require_model: true,
            models: None,
            check_tool_outputs: true,
            check_previous_response: true,
            require_instructions: true,
        }
    }
}

impl ResponsesStrictness {
    /// The OpenAI API with `Authorization: Bearer <key>`.
    pub fn openai(key: &str) -> Self {
        Self {
            auth: ResponsesAuth::Bearer(key.to_owned()),
            ..Self::default()
        }
    }

    /// Azure OpenAI: `api-key: <key>` and a required `api-version` query parameter.
    pub fn azure(key: &str) -> Self {
        Self {
            auth: ResponsesAuth::Azure {
                key: key.to_owned(),
                api_version: None,
            },
            ..Self::default()
        }
    }

    /// The ChatGPT Codex backend: tokens from `tokens`, FastAPI errors, the §1.6 body rules.
    pub fn chatgpt(tokens: &ChatGptTokens) -> Self {
        Self {
            auth: ResponsesAuth::ChatGpt(tokens.clone()),
            dialect: Dialect::ChatGpt,
            ..Self::default()
        }
    }

    /// No checks at all: the mock only records and replays.
    pub fn lenient() -> Self {
        Self {
            auth: ResponsesAuth::None,
            dialect: Dialect::OpenAi,
            reject_unknown_fields: false,
            extra_allowed_fields: Vec::new(),
            require_model: false,
            models: None,
            check_tool_outputs: false,
            check_previous_response: false,
            require_instructions: false,
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

    /// Only serve these models.
    pub fn models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// Azure: require exactly this `api-version` (no effect in other modes).
    pub fn api_version(mut self, version: &str) -> Self {
        if let ResponsesAuth::Azure { api_version, .. } = &mut self.auth {
            *api_version = Some(version.to_owned());
        }
        self
    }
}

/// A broken rule with the exact HTTP answer the real server gives for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The rule and a message for the violation list.
    pub problem: Problem,
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Rejection {
    fn new(rule: Rule, param: Option<&str>, message: String, status: u16, body: Value) -> Self {
        Self {
            problem: Problem::new(rule, param.map(str::to_owned), message),
            status,
            body,
        }
    }

    /// A rule whose answer body carries `message` in the dialect's usual place.
    fn said(
        dialect: Dialect,
        rule: Rule,
        param: Option<&str>,
        code: Option<&str>,
        message: String,
    ) -> Self {
        let body = match dialect {
            Dialect::OpenAi => openai_error(&message, param, code),
            Dialect::ChatGpt => json!({ "detail": message }),
        };
        Self::new(rule, param, message, 400, body)
    }
}

/// `{"error":{"message","type":"invalid_request_error","param","code"}}`.
pub fn openai_error(message: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error",
                     "param": param, "code": code}})
}

/// Checks the request's credentials; `None` when they are accepted.
pub fn check_credentials(
    rules: &ResponsesStrictness,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<Rejection> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match &rules.auth {
        ResponsesAuth::None => None,
        ResponsesAuth::Bearer(key) => check_bearer(key, header("authorization")),
        ResponsesAuth::Azure { key, api_version } => {
            check_azure(key, api_version.as_deref(), header("api-key"), query)
        }
        ResponsesAuth::ChatGpt(tokens) => check_chatgpt(
            tokens,
            header("authorization"),
            header("chatgpt-account-id"),
        ),
    }
}

fn check_bearer(key: &str, authorization: Option<&str>) -> Option<Rejection> {
    let Some(authorization) = authorization else {
        let message = "You didn't provide an API key. You need to provide your API key in an \
                       Authorization header using Bearer auth (i.e. Authorization: Bearer \
                       YOUR_KEY).";
        return Some(Rejection::new(
            Rule::Auth,
            None,
            message.to_owned(),
            401,
            openai_error(message, None, None),
        ));
    };
    let given = authorization
        .strip_prefix("Bearer ")
        .unwrap_or(authorization);
    if given == key {
        return None;
    }
    let message = format!(
        "Incorrect API key provided: {}. You can find your API key at \
         https://platform.openai.com/account/api-keys.",
        mask(given)
    );
    let body = openai_error(&message, None, Some("invalid_api_key"));
    Some(Rejection::new(Rule::Auth, None, message, 401, body))
}

/// OpenAI shows the first and last four characters of a wrong key.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

fn check_azure(
    key: &str,
    api_version: Option<&str>,
    given: Option<&str>,
    query: Option<&str>,
) -> Option<Rejection> {
    if given != Some(key) {
        let message = "Access denied due to invalid subscription key or wrong API endpoint. Make \
                       sure to provide a valid key for an active subscription and use a correct \
                       regional API endpoint for your resource.";
        let body = json!({"error": {"code": "401", "message": message}});
        return Some(Rejection::new(
            Rule::Auth,
            None,
            message.to_owned(),
            401,
            body,
        ));
    }
    match (query_param(query, "api-version"), api_version) {
        (None | Some(""), _) => {
            let message = "The api-version query parameter (?api-version=) is required for all \
                           requests.";
            let body = json!({"error": {"code": "MissingApiVersionParameter", "message": message}});
            Some(Rejection::new(
                Rule::ApiVersion,
                Some("api-version"),
                message.to_owned(),
                400,
                body,
            ))
        }
        (Some(given), Some(wanted)) if given != wanted => {
            let body = json!({"error": {"code": "404", "message": "Resource not found"}});
            Some(Rejection::new(
                Rule::ApiVersion,
                Some("api-version"),
                format!("api-version `{given}` is not the served `{wanted}`: Resource not found"),
                404,
                body,
            ))
        }
        _ => None,
    }
}

fn check_chatgpt(
    tokens: &ChatGptTokens,
    authorization: Option<&str>,
    account: Option<&str>,
) -> Option<Rejection> {
    let token = authorization.and_then(|a| a.strip_prefix("Bearer "));
    let expired = || {
        let message = "Your access token has expired";
        let body = json!({"detail": {"message": message, "type": "invalid_request_error",
                                     "code": "token_expired"}});
        Rejection::new(Rule::TokenExpired, None, message.to_owned(), 401, body)
    };
    let account_id = match token.map(|t| tokens.check(t)) {
        None => {
            // Invented: the backend's answer to a request without a bearer token.
            let message = "Unauthorized";
            let body = json!({ "detail": message });
            return Some(Rejection::new(
                Rule::Auth,
                None,
                format!("{message}: no `Authorization: Bearer` header"),
                401,
                body,
            ));
        }
        Some(TokenCheck::Expired) => return Some(expired()),
        Some(TokenCheck::Invalid) => {
            let message = "Your authentication token has been invalidated. Please try signing in \
                           again.";
            let body = json!({"detail": {"message": message, "type": "invalid_request_error",
                                         "code": "token_invalidated"}});
            return Some(Rejection::new(
                Rule::Auth,
                None,
                message.to_owned(),
                401,
                body,
            ));
        }
        Some(TokenCheck::Valid { account_id }) => account_id,
    };
    if account == Some(account_id.as_str()) {
        return None;
    }
    // Invented: the real answer to a missing or foreign account header was not captured.
    let shown = account.map_or_else(|| "none".to_owned(), |a| format!("`{a}`"));
    let message = "ChatGPT-Account-ID does not match the authenticated account";
    Some(Rejection::new(
        Rule::AccountId,
        Some("ChatGPT-Account-ID"),
        format!("{message}: expected `{account_id}`, got {shown}"),
        403,
        json!({ "detail": message }),
    ))
}

/// Validates a create-response body. `stored` maps the ids of responses this mock served (with
/// `store` not false) to the call ids their context holds.
pub fn check_responses_request(
    rules: &ResponsesStrictness,
    body: &Value,
    stored: &HashMap<String, Vec<String>>,
) -> Vec<Rejection> {
    let dialect = rules.dialect;
    let Some(obj) = body.as_object() else {
        let message = match dialect {
            Dialect::OpenAi => {
                "We could not parse the JSON body of your request. (HINT: This likely means you \
                 aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
                 but what was sent was not valid JSON.)"
            }
            // Invented.
            Dialect::ChatGpt => "Invalid JSON body",
        };
        return vec![Rejection::said(
            dialect,
            Rule::InvalidJson,
            None,
            None,
            message.to_owned(),
        )];
    };
    let mut out = Vec::new();
    check_fields(rules, obj, &mut out);
    check_model(rules, obj, &mut out);
    if dialect == Dialect::ChatGpt {
        check_chatgpt_body(obj, rules.require_instructions, &mut out);
    }
    let previous = obj.get("previous_response_id").and_then(Value::as_str);
    let inherited = match previous {
        Some(id) if rules.check_previous_response => match stored.get(id) {
            Some(calls) => calls.clone(),
            None => {
                out.push(Rejection::said(
                    Dialect::OpenAi,
                    Rule::PreviousResponse,
                    Some("previous_response_id"),
                    Some("previous_response_not_found"),
                    format!("Previous response with id '{id}' not found."),
                ));
                Vec::new()
            }
        },
        _ => Vec::new(),
    };
    if rules.check_tool_outputs {
        check_tool_outputs(obj, inherited, &mut out);
    }
    out
}

fn check_fields(rules: &ResponsesStrictness, obj: &Map<String, Value>, out: &mut Vec<Rejection>) {
    for field in obj.keys() {
        let allowed = rules.extra_allowed_fields.iter().any(|f| f == field);
        if allowed {
            continue;
        }
        if rules.dialect == Dialect::ChatGpt && CHATGPT_UNSUPPORTED_FIELDS.contains(&field.as_str())
        {
            out.push(unsupported(Rule::UnsupportedParameter, field));
        } else if rules.reject_unknown_fields && !RESPONSES_CREATE_FIELDS.contains(&field.as_str())
        {
            out.push(match rules.dialect {
                Dialect::OpenAi => Rejection::said(
                    Dialect::OpenAi,
                    Rule::UnknownField,
                    Some(field),
                    Some("unknown_parameter"),
                    format!("Unrecognized request argument supplied: {field}"),
                ),
                Dialect::ChatGpt => unsupported(Rule::UnknownField, field),
            });
        }
    }
}

fn unsupported(rule: Rule, field: &str) -> Rejection {
    Rejection::said(
        Dialect::ChatGpt,
        rule,
        Some(field),
        None,
        format!("Unsupported parameter: {field}"),
    )
}

fn check_model(rules: &ResponsesStrictness, obj: &Map<String, Value>, out: &mut Vec<Rejection>) {
    let model = obj.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        if rules.require_model {
            let message = match rules.dialect {
                Dialect::OpenAi => "Missing required parameter: 'model'.",
                // Invented.
                Dialect::ChatGpt => "Model is required",
            };
            out.push(Rejection::said(
                rules.dialect,
                Rule::MissingField,
                Some("model"),
                Some("missing_required_parameter"),
                message.to_owned(),
            ));
        }
        return;
    }
    if let Some(models) = &rules.models {
        if !models.iter().any(|m| m == model) {
            let message = match rules.dialect {
                Dialect::OpenAi => format!("The requested model '{model}' does not exist."),
                Dialect::ChatGpt => format!(
                    "The '{model}' model is not supported when using Codex with a ChatGPT account."
                ),
            };
            out.push(Rejection::said(
                rules.dialect,
                Rule::UnknownModel,
                Some("model"),
                Some("model_not_found"),
                message,
            ));
        }
    }
}

/// upstreams.md §1.6, in a fixed order: instructions, input, roles, stream, store.
fn check_chatgpt_body(
    obj: &Map<String, Value>,
    require_instructions: bool,
    out: &mut Vec<Rejection>,
) {
    let mut detail = |rule: Rule, param: &str, message: &str| {
        out.push(Rejection::said(
            Dialect::ChatGpt,
            rule,
            Some(param),
            None,
            message.to_owned(),
        ));
    };
    if require_instructions && !obj.get("instructions").is_some_and(Value::is_string) {
        detail(
            Rule::InstructionsRequired,
            "instructions",
            "Instructions are required",
        );
    }
    match obj.get("input") {
        Some(Value::Array(items)) => {
            let system = items.iter().any(|item| {
                item.get("role").and_then(Value::as_str) == Some("system")
                    && item
                        .get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "message")
            });
            if system {
                // Invented text: the backend refuses system-role items (CLIProxyAPI rewrites them).
                detail(Rule::SystemRole, "input", "System messages are not allowed");
            }
        }
        _ => detail(Rule::InputNotList, "input", "Input must be a list"),
    }
    if obj.get("stream") != Some(&Value::Bool(true)) {
        detail(Rule::StreamRequired, "stream", "Stream must be set to true");
    }
    if obj.get("store") != Some(&Value::Bool(false)) {
        detail(Rule::StoreRequired, "store", "Store must be set to false");
    }
}

/// Item types whose `call_id` a later output may answer.
const CALL_TYPES: &[&str] = &["function_call", "custom_tool_call", "local_shell_call"];

fn check_tool_outputs(obj: &Map<String, Value>, inherited: Vec<String>, out: &mut Vec<Rejection>) {
    let Some(items) = obj.get("input").and_then(Value::as_array) else {
        return;
    };
    let mut calls: HashSet<String> = inherited.into_iter().collect();
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let call_id = item.get("call_id").and_then(Value::as_str);
        if CALL_TYPES.contains(&kind) {
            if let Some(id) = call_id {
                calls.insert(id.to_owned());
            }
            continue;
        }
        let label = match kind {
            "function_call_output" => "function call output",
            "custom_tool_call_output" => "custom tool call output",
            _ => continue,
        };
        match call_id {
            None => {
                let param = format!("input[{i}].call_id");
                out.push(Rejection::said(
                    Dialect::OpenAi,
                    Rule::MissingField,
                    Some(&param),
                    Some("missing_required_parameter"),
                    format!("Missing required parameter: '{param}'."),
                ));
            }
            Some(id) if !calls.contains(id) => out.push(Rejection::said(
                Dialect::OpenAi,
                Rule::ToolResultOrphan,
                Some("input"),
                None,
                format!("No tool call found for {label} with call_id {id}."),
            )),
            Some(_) => {}
        }
    }
}

/// The call ids a served response leaves in context: its input's calls, the chained context,
/// and its own output's calls.
pub(crate) fn context_call_ids(
    request: &Value,
    inherited: &[String],
    output: &[Value],
) -> Vec<String> {
    let input = request.get("input").and_then(Value::as_array);
    let mut ids: Vec<String> = inherited.to_vec();
    for item in input.into_iter().flatten().chain(output) {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        if CALL_TYPES.contains(&kind) {
            if let Some(id) = item.get("call_id").and_then(Value::as_str) {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

/// The answer to a method/path the mock does not serve.
pub(crate) fn unexpected(dialect: Dialect, method: &str, path: &str) -> Rejection {
    let (message, body) = match dialect {
        Dialect::OpenAi => {
            let message = format!("Invalid URL ({method} {path})");
            let body = openai_error(&message, None, None);
            (message, body)
        }
        Dialect::ChatGpt => (
            format!("Not Found ({method} {path})"),
            json!({"detail": "Not Found"}),
        ),
    };
    Rejection::new(Rule::UnexpectedRequest, None, message, 404, body)
}
