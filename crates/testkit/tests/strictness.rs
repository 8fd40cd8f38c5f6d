//! Each strictness rule of `MockUpstream`, over real HTTP: the broken request is answered like a
//! provider would (400/401, OpenAI-shaped error naming the problem) and recorded as exactly that
//! rule's violation; with the rule switched off the same request is served normally.

mod common;

use ccp_testkit::{MockUpstream, Reply, Rule, Strictness};
use common::{post, valid_request};
use serde_json::{json, Value};

const KEY: &str = "sk-backend";

/// Every rule on, including the provider-specific ones.
fn strictest() -> Strictness {
    Strictness {
        single_leading_system: true,
        require_reasoning_on_tool_calls: true,
        max_tokens_limit: Some(4096),
        ..Strictness::default()
    }
    .expect_key(KEY)
}

/// Sends `body` under `rules`; returns (status, error message, violation rules).
async fn send(rules: Strictness, body: &Value) -> (u16, String, Vec<Rule>, MockUpstream) {
    let mock = MockUpstream::start(rules).await;
    mock.push(Reply::text_stream("ok"));
    let response = post(&format!("{}/chat/completions", mock.url()), KEY, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let rules = mock.violation_rules();
    (status, message, rules, mock)
}

/// Asserts `body` breaks exactly `rule` under `on` (400 whose message contains `needle`) and is
/// served under `off`.
async fn assert_rule(body: Value, rule: Rule, needle: &str, on: Strictness, off: Strictness) {
    let (status, message, rules, mock) = send(on, &body).await;
    assert_eq!(status, 400, "{rule} should be rejected; message: {message}");
    assert_eq!(rules, vec![rule], "violations: {:?}", mock.violations());
    assert!(
        message.contains(needle),
        "error message {message:?} should contain {needle:?}"
    );
    assert!(mock.violations()[0].starts_with(&format!("{rule}: ")));
    assert_eq!(
        mock.pending_replies(),
        1,
        "a rejected request consumes no reply"
    );

    let (status, message, rules, _) = send(off, &body).await;
    assert_eq!(
        status, 200,
        "with {rule} off the request is served: {message}"
    );
    assert!(rules.is_empty(), "unexpected violations {rules:?}");
}

fn without<F: FnOnce(&mut Strictness)>(f: F) -> Strictness {
    let mut rules = strictest();
    f(&mut rules);
    rules
}

#[tokio::test]
async fn valid_request_passes_every_rule() {
    let (status, message, rules, mock) = send(strictest(), &valid_request()).await;
    assert_eq!(status, 200, "{message}");
    assert!(rules.is_empty());
    mock.assert_no_violations();
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body, valid_request());
    assert_eq!(recorded[0].authorization(), Some("Bearer sk-backend"));
    assert_eq!(mock.pending_replies(), 0);
}

#[tokio::test]
async fn unknown_top_level_field() {
    let mut body = valid_request();
    body["thinking"] = json!({"type": "enabled"});
    assert_rule(
        body.clone(),
        Rule::UnknownField,
        "thinking",
        strictest(),
        without(|r| r.reject_unknown_fields = false),
    )
    .await;
    // The extra-allowed list is the per-provider escape hatch.
    let (status, _, rules, _) = send(strictest().allow_fields(["thinking"]), &body).await;
    assert_eq!((status, rules), (200, vec![]));
}

#[tokio::test]
async fn responses_only_field_is_named_as_such() {
    let mut body = valid_request();
    body["instructions"] = json!("be nice");
    assert_rule(
        body,
        Rule::ResponsesField,
        "`instructions` is a Responses-only field",
        strictest(),
        without(|r| r.reject_responses_fields = false),
    )
    .await;
    // Responses-only fields are reported even when unknown-field checking is off.
    let mut body = valid_request();
    body["max_output_tokens"] = json!(100);
    let (status, _, rules, _) = send(without(|r| r.reject_unknown_fields = false), &body).await;
    assert_eq!((status, rules), (400, vec![Rule::ResponsesField]));
}

#[tokio::test]
async fn developer_role() {
    let mut body = valid_request();
    body["messages"][0]["role"] = json!("developer");
    // MiniMax's single-system rule is irrelevant here; keep it on.
    assert_rule(
        body,
        Rule::DeveloperRole,
        "developer",
        strictest(),
        without(|r| r.reject_developer_role = false),
    )
    .await;
}

#[tokio::test]
async fn second_system_message_minimax() {
    let mut body = valid_request();
    let messages = body["messages"].as_array_mut().expect("messages");
    messages.insert(2, json!({"role": "system", "content": "more rules"}));
    assert_rule(
        body,
        Rule::SystemMessage,
        "invalid message role: system (2013)",
        Strictness::minimax().expect_key(KEY),
        Strictness::default(),
    )
    .await;
}

#[tokio::test]
async fn unknown_or_missing_role() {
    let mut body = valid_request();
    body["messages"][6] =
        json!({"type": "function_call_output", "call_id": "call_1", "output": "x"});
    assert_rule(
        body,
        Rule::UnknownRole,
        "role <missing>",
        strictest(),
        without(|r| {
            r.reject_unknown_roles = false;
            r.check_content_parts = false;
        }),
    )
    .await;
}

#[tokio::test]
async fn tool_message_answering_no_preceding_call() {
    let mut body = valid_request();
    body["messages"][4]["tool_call_id"] = json!("call_999");
    // call_999 is an orphan and, as a consequence, call_1 stays unanswered.
    let (status, message, rules, _) = send(strictest(), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        rules,
        vec![Rule::ToolResultOrphan, Rule::ToolCallUnanswered]
    );
    assert!(message.contains("call_999"), "{message}");
    let (status, _, rules, _) = send(without(|r| r.check_tool_pairing = false), &body).await;
    assert_eq!((status, rules), (200, vec![]));

    // A tool message after an ordinary user message has nothing to answer.
    let mut body = valid_request();
    let messages = body["messages"].as_array_mut().expect("messages");
    messages.push(json!({"role": "tool", "tool_call_id": "call_1", "content": "late"}));
    assert_rule(
        body,
        Rule::ToolResultOrphan,
        "must follow an assistant message with 'tool_calls'",
        strictest(),
        without(|r| r.check_tool_pairing = false),
    )
    .await;
}

#[tokio::test]
async fn tool_call_without_tool_message() {
    let mut body = valid_request();
    body["messages"].as_array_mut().expect("messages").remove(4);
    assert_rule(
        body,
        Rule::ToolCallUnanswered,
        "functions.shell:1",
        strictest(),
        without(|r| r.check_tool_pairing = false),
    )
    .await;
}

#[tokio::test]
async fn tool_choice_without_tools() {
    let mut body = valid_request();
    body.as_object_mut().expect("object").remove("tools");
    body.as_object_mut()
        .expect("object")
        .remove("parallel_tool_calls");
    assert_rule(
        body,
        Rule::ToolChoiceWithoutTools,
        "`tool_choice` is only allowed when `tools` are specified",
        strictest(),
        without(|r| r.reject_tool_choice_without_tools = false),
    )
    .await;
}

#[tokio::test]
async fn tool_name_outside_allowed_pattern() {
    let mut body = valid_request();
    body["tools"][1]["function"]["name"] = json!("mcp.server.tool");
    assert_rule(
        body,
        Rule::ToolDefinition,
        "`mcp.server.tool` must match",
        strictest(),
        without(|r| r.check_tool_definitions = false),
    )
    .await;
}

#[tokio::test]
async fn tool_type_other_than_function() {
    let mut body = valid_request();
    body["tools"][1] =
        json!({"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}});
    assert_rule(
        body,
        Rule::ToolDefinition,
        "unknown variant `custom`, expected `function`",
        strictest(),
        without(|r| r.check_tool_definitions = false),
    )
    .await;
}

#[tokio::test]
async fn history_arguments_not_json_text() {
    let mut body = valid_request();
    body["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!("{\"cmd\": \"ls\"");
    assert_rule(
        body,
        Rule::ToolArguments,
        "is not valid JSON",
        strictest(),
        without(|r| r.check_history_arguments = false),
    )
    .await;
    let mut body = valid_request();
    body["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!({"cmd": "ls"});
    assert_rule(
        body,
        Rule::ToolArguments,
        "must be a JSON string",
        strictest(),
        without(|r| r.check_history_arguments = false),
    )
    .await;
}

#[tokio::test]
async fn responses_content_part_type() {
    let mut body = valid_request();
    body["messages"][1]["content"][0] = json!({"type": "input_text", "text": "list the files"});
    assert_rule(
        body,
        Rule::ContentPart,
        "unknown content part type `input_text`",
        strictest(),
        without(|r| r.check_content_parts = false),
    )
    .await;
}

#[tokio::test]
async fn streaming_without_include_usage() {
    let mut body = valid_request();
    body.as_object_mut()
        .expect("object")
        .remove("stream_options");
    assert_rule(
        body,
        Rule::StreamUsage,
        "include_usage",
        strictest(),
        without(|r| r.require_stream_usage = false),
    )
    .await;
}

#[tokio::test]
async fn tool_call_turn_without_reasoning_content() {
    let mut body = valid_request();
    body["messages"][2]
        .as_object_mut()
        .expect("assistant")
        .remove("reasoning_content");
    assert_rule(
        body.clone(),
        Rule::ReasoningMissing,
        "The reasoning_content in the thinking mode must be passed back to the API.",
        Strictness::thinking_provider().expect_key(KEY),
        Strictness::default(),
    )
    .await;
    // An empty string is as bad as a missing field.
    body["messages"][2]["reasoning_content"] = json!("");
    let (status, _, rules, _) = send(Strictness::thinking_provider(), &body).await;
    assert_eq!((status, rules), (400, vec![Rule::ReasoningMissing]));
}

#[tokio::test]
async fn reasoning_field_name_is_configurable() {
    let rules = Strictness {
        require_reasoning_on_tool_calls: true,
        reasoning_field: "reasoning".to_owned(),
        ..Strictness::default()
    };
    // `reasoning_content` does not satisfy a provider that reads `reasoning` (vLLM ≥ 0.16).
    let (status, message, violations, _) = send(rules.clone(), &valid_request()).await;
    assert_eq!((status, violations), (400, vec![Rule::ReasoningMissing]));
    assert!(message.contains("`reasoning`"), "{message}");
    let mut body = valid_request();
    body["messages"][2]["reasoning"] = json!("I should run ls twice.");
    let (status, _, violations, _) = send(rules, &body).await;
    assert_eq!((status, violations), (200, vec![]));
}

#[tokio::test]
async fn max_tokens_above_limit() {
    let mut body = valid_request();
    body["max_tokens"] = json!(100_000);
    assert_rule(
        body,
        Rule::MaxTokens,
        "[1, 4096]",
        strictest(),
        without(|r| r.max_tokens_limit = None),
    )
    .await;
}

#[tokio::test]
async fn wrong_backend_key_gets_401() {
    let mock = MockUpstream::start(Strictness::default().expect_key(KEY)).await;
    mock.push(Reply::text_stream("ok"));
    let url = format!("{}/chat/completions", mock.url());
    let response = post(&url, "sk-client-test", &valid_request()).await;
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(mock.violation_rules(), vec![Rule::Auth]);
    assert_eq!(
        mock.authorizations(),
        vec![Some("Bearer sk-client-test".to_owned())]
    );
    assert_eq!(mock.pending_replies(), 1);

    let response = post(&url, KEY, &valid_request()).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        mock.requests()[1].authorization(),
        Some("Bearer sk-backend")
    );
}

#[tokio::test]
async fn missing_model_and_non_object_body() {
    let mut body = valid_request();
    body.as_object_mut().expect("object").remove("model");
    let (status, message, rules, _) = send(strictest(), &body).await;
    assert_eq!((status, rules), (400, vec![Rule::MissingField]));
    assert!(message.contains("`model`"), "{message}");

    let (status, _, rules, _) = send(strictest(), &json!(["not", "an", "object"])).await;
    assert_eq!((status, rules), (400, vec![Rule::InvalidJson]));
}

#[tokio::test]
async fn every_problem_of_a_request_is_recorded() {
    let mut body = valid_request();
    body["input"] = json!([]);
    body["messages"][0]["role"] = json!("developer");
    body.as_object_mut()
        .expect("object")
        .remove("stream_options");
    let (status, _, rules, mock) = send(Strictness::default(), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        rules,
        vec![Rule::ResponsesField, Rule::StreamUsage, Rule::DeveloperRole]
    );
    assert_eq!(mock.requests()[0].violations.len(), 3);
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mock.assert_no_violations()))
            .expect_err("assert_no_violations must panic");
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("3 violation(s)") && text.contains("developer_role"),
        "{text}"
    );
}
