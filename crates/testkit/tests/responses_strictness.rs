//! `ResponsesUpstream` strictness as the OpenAI API and Azure OpenAI: each rule answers with the
//! real server's exact status and body, records exactly its violation and consumes no reply; the
//! valid request passes; with the rules off the same request is served.

mod common;

use std::collections::HashMap;

use ccp_testkit::responses_upstream::{check_responses_request, RESPONSES_CREATE_FIELDS};
use ccp_testkit::{ResponseStream, ResponsesStrictness, ResponsesUpstream, Rule};
use common::responses::{codex_request, post_json, status_json, NO_HEADERS};
use serde_json::{json, Value};

const KEY: &str = "sk-openai-1234567890";

fn bearer() -> [(&'static str, &'static str); 1] {
    [("authorization", "Bearer sk-openai-1234567890")]
}

/// Sends `body` to a fresh mock with `rules`; returns (status, body, violation rules, mock).
async fn send_with(
    rules: ResponsesStrictness,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value, Vec<Rule>, ResponsesUpstream) {
    let mock = ResponsesUpstream::start(rules).await;
    mock.push(ResponseStream::text("ok").as_object());
    let url = format!("{}{path_and_query}", mock.origin());
    let (status, answer) = status_json(post_json(&url, headers, body).await).await;
    let rules = mock.violation_rules();
    (status, answer, rules, mock)
}

async fn send(body: &Value) -> (u16, Value, Vec<Rule>, ResponsesUpstream) {
    send_with(
        ResponsesStrictness::openai(KEY),
        "/v1/responses",
        &bearer(),
        body,
    )
    .await
}

/// Asserts `body` is refused with exactly `status` + `expected` and only `rule`, consuming no
/// reply, and served under lenient rules.
async fn assert_refused(body: Value, rule: Rule, status: u16, expected: Value) {
    let (got_status, answer, rules, mock) = send(&body).await;
    assert_eq!((got_status, &answer), (status, &expected));
    assert_eq!(rules, vec![rule], "{:?}", mock.violations());
    assert!(mock.violations()[0].starts_with(&format!("{rule}: ")));
    assert!(mock.violations()[0].ends_with("[POST /v1/responses (request #0)]"));
    assert_eq!(
        mock.pending_replies(),
        1,
        "a refused request consumes no reply"
    );
    let recorded = mock.request(0).expect("recorded");
    assert_eq!(recorded.status, status);
    assert_eq!(recorded.violations.len(), 1);

    let lenient = ResponsesStrictness::lenient();
    let (status, _, rules, _) = send_with(lenient, "/v1/responses", NO_HEADERS, &body).await;
    assert_eq!((status, rules), (200, vec![]));
}

fn openai_error(message: &str, param: Value, code: Value) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error",
                     "param": param, "code": code}})
}

#[tokio::test]
async fn codex_request_passes_the_openai_rules() {
    let (status, answer, rules, mock) = send(&codex_request()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(rules.is_empty());
    mock.assert_no_violations();
    assert_eq!(mock.pending_replies(), 0);
    assert_eq!(mock.requests()[0].body, codex_request());
}

#[tokio::test]
async fn every_create_field_is_accepted() {
    let mut body = json!({});
    for field in RESPONSES_CREATE_FIELDS {
        body[*field] = json!(null);
    }
    body["model"] = json!("gpt-5.5");
    let problems = check_responses_request(&ResponsesStrictness::default(), &body, &HashMap::new());
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn unknown_field_is_rejected_with_openais_body() {
    let mut body = codex_request();
    body["foo"] = json!(1);
    assert_refused(
        body.clone(),
        Rule::UnknownField,
        400,
        openai_error(
            "Unrecognized request argument supplied: foo",
            json!("foo"),
            json!("unknown_parameter"),
        ),
    )
    .await;
    let rules = ResponsesStrictness::openai(KEY).allow_fields(["foo"]);
    let (status, _, rules, _) = send_with(rules, "/v1/responses", &bearer(), &body).await;
    assert_eq!((status, rules), (200, vec![]));
}

#[tokio::test]
async fn model_is_required() {
    let mut body = codex_request();
    body.as_object_mut().expect("object").remove("model");
    assert_refused(
        body,
        Rule::MissingField,
        400,
        openai_error(
            "Missing required parameter: 'model'.",
            json!("model"),
            json!("missing_required_parameter"),
        ),
    )
    .await;
}

#[tokio::test]
async fn model_outside_the_served_list() {
    let rules = ResponsesStrictness::openai(KEY).models(["gpt-5.5"]);
    let mut body = codex_request();
    body["model"] = json!("glm-4.6");
    let (status, answer, rules, _) = send_with(rules, "/v1/responses", &bearer(), &body).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "model_not_found");
    assert_eq!(
        answer["error"]["message"],
        "The requested model 'glm-4.6' does not exist."
    );
    assert_eq!(rules, vec![Rule::UnknownModel]);
}

#[tokio::test]
async fn function_call_output_must_answer_an_earlier_call() {
    let mut body = codex_request();
    body["input"][4]["call_id"] = json!("call_nope");
    assert_refused(
        body,
        Rule::ToolResultOrphan,
        400,
        openai_error(
            "No tool call found for function call output with call_id call_nope.",
            json!("input"),
            Value::Null,
        ),
    )
    .await;
}

#[tokio::test]
async fn custom_tool_call_output_must_answer_an_earlier_call() {
    let mut body = codex_request();
    // The output now comes before its call.
    let items = body["input"].as_array_mut().expect("input");
    items.swap(5, 6);
    assert_refused(
        body,
        Rule::ToolResultOrphan,
        400,
        openai_error(
            "No tool call found for custom tool call output with call_id call_patch.",
            json!("input"),
            Value::Null,
        ),
    )
    .await;
}

#[tokio::test]
async fn tool_output_without_call_id() {
    let mut body = codex_request();
    body["input"][4]
        .as_object_mut()
        .expect("item")
        .remove("call_id");
    assert_refused(
        body,
        Rule::MissingField,
        400,
        openai_error(
            "Missing required parameter: 'input[4].call_id'.",
            json!("input[4].call_id"),
            json!("missing_required_parameter"),
        ),
    )
    .await;
}

#[tokio::test]
async fn bearer_key_is_required() {
    let body = codex_request();
    let rules = || ResponsesStrictness::openai(KEY);
    let (status, answer, violations, mock) =
        send_with(rules(), "/v1/responses", NO_HEADERS, &body).await;
    assert_eq!(status, 401);
    assert!(answer["error"]["message"]
        .as_str()
        .expect("message")
        .starts_with("You didn't provide an API key."));
    assert_eq!(violations, vec![Rule::Auth]);
    assert_eq!(mock.pending_replies(), 1);

    let wrong = [("authorization", "Bearer sk-wrong-key-0000")];
    let (status, answer, violations, _) = send_with(rules(), "/v1/responses", &wrong, &body).await;
    assert_eq!(status, 401);
    assert_eq!(
        answer,
        openai_error(
            "Incorrect API key provided: sk-w*********0000. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            Value::Null,
            json!("invalid_api_key"),
        )
    );
    assert_eq!(violations, vec![Rule::Auth]);
}

#[tokio::test]
async fn azure_needs_api_key_and_api_version() {
    let body = codex_request();
    let key = [("api-key", "azure-key")];
    let path = "/openai/v1/responses";

    let (status, _, rules, _) = send_with(
        ResponsesStrictness::azure("azure-key"),
        &format!("{path}?api-version=preview"),
        &key,
        &body,
    )
    .await;
    assert_eq!((status, rules), (200, vec![]));

    let (status, answer, rules, _) =
        send_with(ResponsesStrictness::azure("azure-key"), path, &key, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"error": {"code": "MissingApiVersionParameter",
                         "message": "The api-version query parameter (?api-version=) is required for all requests."}})
    );
    assert_eq!(rules, vec![Rule::ApiVersion]);

    // A Bearer header is not an Azure key.
    let (status, answer, rules, _) = send_with(
        ResponsesStrictness::azure("azure-key"),
        &format!("{path}?api-version=preview"),
        &[("authorization", "Bearer azure-key")],
        &body,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("401"))
    );
    assert_eq!(rules, vec![Rule::Auth]);

    let pinned = ResponsesStrictness::azure("azure-key").api_version("2025-04-01-preview");
    let (status, answer, rules, _) = send_with(
        pinned,
        &format!("{path}?api-version=2024-01-01"),
        &key,
        &body,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        answer,
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );
    assert_eq!(rules, vec![Rule::ApiVersion]);
}

#[tokio::test]
async fn previous_response_id_chains_stored_responses_only() {
    let mock = ResponsesUpstream::openai(KEY).await;
    mock.push(ResponseStream::function_call("call_77", "shell", r#"{"cmd":"ls"}"#).as_object());
    mock.push(ResponseStream::text("done").as_object());
    mock.push(ResponseStream::text("unused").as_object());
    let url = format!("{}/responses", mock.url());

    let first = json!({"model": "gpt-5.5", "input": "list files", "store": true});
    let (status, object) = status_json(post_json(&url, &bearer(), &first).await).await;
    assert_eq!(status, 200);
    let id = object["id"].as_str().expect("id").to_owned();
    assert_eq!(mock.stored_response_ids(), vec![id.clone()]);

    // The output answers a call the chained response made.
    let second = json!({"model": "gpt-5.5", "previous_response_id": id,
        "input": [{"type": "function_call_output", "call_id": "call_77", "output": "a.txt"}]});
    let (status, _) = status_json(post_json(&url, &bearer(), &second).await).await;
    assert_eq!(status, 200);
    mock.assert_no_violations();

    let third = json!({"model": "gpt-5.5", "previous_response_id": "resp_unknown", "input": "hi"});
    let (status, answer) = status_json(post_json(&url, &bearer(), &third).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        openai_error(
            "Previous response with id 'resp_unknown' not found.",
            json!("previous_response_id"),
            json!("previous_response_not_found"),
        )
    );
    assert_eq!(mock.violation_rules(), vec![Rule::PreviousResponse]);
}

#[tokio::test]
async fn store_false_responses_cannot_be_chained() {
    let mock = ResponsesUpstream::openai(KEY).await;
    mock.push(ResponseStream::text("not stored").as_object());
    let url = format!("{}/responses", mock.url());
    let body = json!({"model": "gpt-5.5", "input": "hi", "store": false});
    let (_, object) = status_json(post_json(&url, &bearer(), &body).await).await;
    assert!(mock.stored_response_ids().is_empty());
    let chained =
        json!({"model": "gpt-5.5", "input": "again", "previous_response_id": object["id"]});
    let (status, _) = status_json(post_json(&url, &bearer(), &chained).await).await;
    assert_eq!(status, 400);
    assert_eq!(mock.violation_rules(), vec![Rule::PreviousResponse]);
}

#[tokio::test]
async fn invalid_json_body() {
    let mock = ResponsesUpstream::openai(KEY).await;
    let url = format!("{}/responses", mock.url());
    let response = common::responses::post_raw(&url, &bearer(), b"{not json".to_vec()).await;
    let (status, answer) = status_json(response).await;
    assert_eq!(status, 400);
    assert!(answer["error"]["message"]
        .as_str()
        .expect("message")
        .starts_with("We could not parse the JSON body of your request."));
    assert_eq!(mock.violation_rules(), vec![Rule::InvalidJson]);
    assert_eq!(mock.requests()[0].raw_body.as_ref(), b"{not json");
}
