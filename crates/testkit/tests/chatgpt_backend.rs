//! `ResponsesUpstream` as the ChatGPT Codex backend (upstreams.md §1.6–§1.8): each body rule
//! answers its exact `{"detail": …}`; credentials come from a rotatable token set with an
//! account id; the usage-limit 429 and the stream quirks are scriptable.

mod common;

use ccp_testkit::responses_upstream::CHATGPT_UNSUPPORTED_FIELDS;
use ccp_testkit::token_endpoint::access_token_claims;
use ccp_testkit::{
    fake_jwt, ChatGptTokens, ResponseStream, ResponsesReply, ResponsesUpstream, Rule,
};
use common::read_to_end;
use common::responses::{assert_well_formed, codex_request, post_json, sse_events, status_json};
use serde_json::{json, Value};

const ACCOUNT: &str = "acct-1111";
const TOKEN: &str = "access-token-1";

async fn backend() -> (ResponsesUpstream, ChatGptTokens) {
    let tokens = ChatGptTokens::new(ACCOUNT);
    tokens.allow(TOKEN);
    let mock = ResponsesUpstream::chatgpt(&tokens).await;
    (mock, tokens)
}

fn url(mock: &ResponsesUpstream) -> String {
    format!("{}/responses", mock.chatgpt_url())
}

fn credentials(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("chatgpt-account-id", ACCOUNT.to_owned()),
    ]
}

/// Sends `body` with valid credentials to a fresh backend; (status, body, rules, mock).
async fn send(body: &Value) -> (u16, Value, Vec<Rule>, ResponsesUpstream) {
    let (mock, _tokens) = backend().await;
    mock.push(ResponseStream::text("ok"));
    let response = post_json(&url(&mock), &credentials(TOKEN), body).await;
    let status = response.status().as_u16();
    let answer = if status == 200 {
        let (text, _) = read_to_end(response).await;
        Value::String(text)
    } else {
        status_json(response).await.1
    };
    let rules = mock.violation_rules();
    (status, answer, rules, mock)
}

async fn assert_detail(body: Value, rule: Rule, detail: &str) {
    let (status, answer, rules, mock) = send(&body).await;
    assert_eq!((status, answer), (400, json!({ "detail": detail })));
    assert_eq!(rules, vec![rule], "{:?}", mock.violations());
    assert_eq!(mock.pending_replies(), 1);
}

#[tokio::test]
async fn codex_request_passes_and_streams() {
    let (status, answer, rules, mock) = send(&codex_request()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(rules.is_empty());
    mock.assert_no_violations();
    assert_well_formed(&sse_events(answer.as_str().expect("sse")), false);
    let recorded = &mock.responses_requests()[0];
    assert_eq!(recorded.path, "/backend-api/codex/responses");
    assert_eq!(recorded.header("ChatGPT-Account-ID"), Some(ACCOUNT));
}

#[tokio::test]
async fn unsupported_parameters() {
    for field in CHATGPT_UNSUPPORTED_FIELDS {
        let mut body = codex_request();
        body[*field] = json!(1);
        assert_detail(
            body,
            Rule::UnsupportedParameter,
            &format!("Unsupported parameter: {field}"),
        )
        .await;
    }
    let mut body = codex_request();
    body["foo"] = json!(true);
    assert_detail(body, Rule::UnknownField, "Unsupported parameter: foo").await;
}

#[tokio::test]
async fn instructions_key_is_required_but_may_be_empty() {
    let mut body = codex_request();
    body.as_object_mut().expect("object").remove("instructions");
    assert_detail(
        body,
        Rule::InstructionsRequired,
        "Instructions are required",
    )
    .await;
    let mut body = codex_request();
    body["instructions"] = json!("");
    let (status, _, rules, _) = send(&body).await;
    assert_eq!((status, rules), (200, vec![]));
}

#[tokio::test]
async fn stream_must_be_true() {
    for stream in [Some(json!(false)), None] {
        let mut body = codex_request();
        match stream {
            Some(value) => body["stream"] = value,
            None => {
                body.as_object_mut().expect("object").remove("stream");
            }
        }
        assert_detail(body, Rule::StreamRequired, "Stream must be set to true").await;
    }
}

#[tokio::test]
async fn store_must_be_exactly_false() {
    for store in [Some(json!(true)), Some(Value::Null), None] {
        let mut body = codex_request();
        match store {
            Some(value) => body["store"] = value,
            None => {
                body.as_object_mut().expect("object").remove("store");
            }
        }
        assert_detail(body, Rule::StoreRequired, "Store must be set to false").await;
    }
}

#[tokio::test]
async fn input_must_be_a_list_without_system_messages() {
    let mut body = codex_request();
    body["input"] = json!("hello");
    assert_detail(body, Rule::InputNotList, "Input must be a list").await;

    let mut body = codex_request();
    body["input"].as_array_mut().expect("input").insert(
        0,
        json!({"type": "message", "role": "system", "content": "be terse"}),
    );
    assert_detail(body, Rule::SystemRole, "System messages are not allowed").await;
}

#[tokio::test]
async fn several_broken_rules_are_all_recorded_first_one_answers() {
    let mut body = codex_request();
    body["temperature"] = json!(0.2);
    body["stream"] = json!(false);
    body["store"] = json!(true);
    let (status, answer, rules, _) = send(&body).await;
    assert_eq!(
        (status, answer),
        (400, json!({"detail": "Unsupported parameter: temperature"}))
    );
    assert_eq!(
        rules,
        vec![
            Rule::UnsupportedParameter,
            Rule::StreamRequired,
            Rule::StoreRequired
        ]
    );
}

#[tokio::test]
async fn token_rotation_expired_revoked_unknown() {
    let (mock, tokens) = backend().await;
    mock.push_all([ResponseStream::text("one"), ResponseStream::text("two")]);
    let target = url(&mock);
    let response = post_json(&target, &credentials(TOKEN), &codex_request()).await;
    assert_eq!(response.status().as_u16(), 200);
    read_to_end(response).await;

    tokens.expire(TOKEN);
    let (status, answer) =
        status_json(post_json(&target, &credentials(TOKEN), &codex_request()).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        answer,
        json!({"detail": {"message": "Your access token has expired",
                          "type": "invalid_request_error", "code": "token_expired"}})
    );

    tokens.allow("access-token-2");
    let response = post_json(&target, &credentials("access-token-2"), &codex_request()).await;
    assert_eq!(response.status().as_u16(), 200);
    read_to_end(response).await;

    tokens.revoke("access-token-2");
    let (status, answer) =
        status_json(post_json(&target, &credentials("access-token-2"), &codex_request()).await)
            .await;
    assert_eq!(status, 401);
    assert_eq!(answer["detail"]["code"], "token_invalidated");

    let (status, _) =
        status_json(post_json(&target, &credentials("never-issued"), &codex_request()).await).await;
    assert_eq!(status, 401);
    let no_auth = [("chatgpt-account-id", ACCOUNT)];
    let (status, answer) = status_json(post_json(&target, &no_auth, &codex_request()).await).await;
    assert_eq!((status, answer), (401, json!({"detail": "Unauthorized"})));

    assert_eq!(
        mock.violation_rules(),
        vec![Rule::TokenExpired, Rule::Auth, Rule::Auth, Rule::Auth]
    );
    assert_eq!(mock.pending_replies(), 0);
}

#[tokio::test]
async fn jwt_past_its_exp_counts_as_expired() {
    let tokens = ChatGptTokens::new(ACCOUNT);
    let stale = fake_jwt(access_token_claims(ACCOUNT, 1_000, "old"));
    let fresh = fake_jwt(access_token_claims(ACCOUNT, 4_000_000_000, "new"));
    tokens.allow(&stale);
    tokens.allow(&fresh);
    assert!(!tokens.is_valid(&stale));
    assert!(tokens.is_valid(&fresh));
    let mock = ResponsesUpstream::chatgpt(&tokens).await;
    let (status, answer) =
        status_json(post_json(&url(&mock), &credentials(&stale), &codex_request()).await).await;
    assert_eq!(
        (status, answer["detail"]["code"].as_str()),
        (401, Some("token_expired"))
    );
}

#[tokio::test]
async fn account_header_must_match_the_tokens_account() {
    let (mock, tokens) = backend().await;
    tokens.allow_for("other-token", "acct-2222");
    let target = url(&mock);
    let bearer = ("authorization", "Bearer access-token-1".to_owned());
    for headers in [
        vec![bearer.clone()],
        vec![
            bearer.clone(),
            ("chatgpt-account-id", "acct-2222".to_owned()),
        ],
        credentials("other-token"),
    ] {
        let (status, answer) =
            status_json(post_json(&target, &headers, &codex_request()).await).await;
        assert_eq!(
            (status, answer),
            (
                403,
                json!({"detail": "ChatGPT-Account-ID does not match the authenticated account"})
            )
        );
    }
    assert_eq!(mock.violation_rules(), vec![Rule::AccountId; 3]);
}

#[tokio::test]
async fn usage_limit_429_with_codex_headers() {
    let (mock, _tokens) = backend().await;
    mock.push(ResponsesReply::usage_limit("plus", 3_600));
    let response = post_json(&url(&mock), &credentials(TOKEN), &codex_request()).await;
    let headers = response.headers().clone();
    let (status, answer) = status_json(response).await;
    assert_eq!(status, 429);
    let error = &answer["error"];
    assert_eq!(error["type"], "usage_limit_reached");
    assert_eq!(error["message"], "The usage limit has been reached");
    assert_eq!(error["plan_type"], "plus");
    assert_eq!(error["resets_in_seconds"], 3_600);
    let resets_at = error["resets_at"].as_u64().expect("unix resets_at");
    assert_eq!(headers["x-codex-primary-used-percent"], "100.0");
    assert_eq!(
        headers["x-codex-primary-reset-at"],
        resets_at.to_string().as_str()
    );
    assert!(headers.contains_key("x-codex-secondary-used-percent"));
    mock.assert_no_violations();
}

#[tokio::test]
async fn detail_reply_and_unexpected_path_use_fastapi_shape() {
    let (mock, _tokens) = backend().await;
    mock.push(ResponsesReply::detail(400, "Instructions are not valid"));
    let (status, answer) =
        status_json(post_json(&url(&mock), &credentials(TOKEN), &codex_request()).await).await;
    assert_eq!(
        (status, answer),
        (400, json!({"detail": "Instructions are not valid"}))
    );
    let models = format!("{}/models", mock.chatgpt_url());
    let (status, answer) =
        status_json(post_json(&models, &credentials(TOKEN), &json!({})).await).await;
    assert_eq!((status, answer), (404, json!({"detail": "Not Found"})));
    assert_eq!(mock.violation_rules(), vec![Rule::UnexpectedRequest]);
}
