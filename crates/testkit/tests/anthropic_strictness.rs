//! The strict Anthropic mock refuses what the real API refuses, with the API's status and error
//! type, records the rule it broke, and consumes no scripted reply for a refused request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ccp_testkit::{AnthropicScript, AnthropicUpstream, Rule};
use serde_json::{json, Value};

const KEY: &str = "sk-ant-test";

async fn send(
    upstream: &AnthropicUpstream,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/messages", upstream.url()))
        .json(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Request headers, body, expected status and the rule the request breaks.
type Case = (Vec<(&'static str, &'static str)>, Value, u16, Rule);

const GOOD_HEADERS: &[(&str, &str)] = &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")];

fn tool() -> Value {
    json!([{"name": "f", "input_schema": {"type": "object"}}])
}

#[tokio::test]
async fn each_rule_is_enforced_with_the_apis_answer() {
    let upstream = AnthropicUpstream::start(KEY).await;
    upstream.push(AnthropicScript::text("ok"));
    let user = |t: &str| json!({"role": "user", "content": [{"type": "text", "text": t}]});
    let tool_use = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]});
    let result = |id: &str| {
        json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": "x"}]})
    };
    let cases: Vec<Case> = vec![
        (
            vec![("anthropic-version", "2023-06-01")],
            json!({"model": "m", "max_tokens": 5, "messages": [user("hi")]}),
            401,
            Rule::Auth,
        ),
        (
            vec![("x-api-key", KEY)],
            json!({"model": "m", "max_tokens": 5, "messages": [user("hi")]}),
            400,
            Rule::AnthropicVersion,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "messages": [user("hi")]}),
            400,
            Rule::MaxTokens,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "max_tokens": 5, "store": false, "messages": [user("hi")]}),
            400,
            Rule::UnknownField,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "max_tokens": 5, "messages": [user("a"), user("b")]}),
            400,
            Rule::RoleAlternation,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "max_tokens": 5, "tools": tool(),
                "messages": [user("a"), tool_use.clone(), result("t2")]}),
            400,
            Rule::ToolResultOrphan,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "max_tokens": 5, "tools": tool(),
                "messages": [user("a"), tool_use.clone(), user("b")]}),
            400,
            Rule::ToolCallUnanswered,
        ),
        (
            GOOD_HEADERS.to_vec(),
            json!({"model": "m", "max_tokens": 5000, "tools": tool(),
                "thinking": {"type": "enabled", "budget_tokens": 2000},
                "messages": [user("a"), tool_use.clone(), result("t1")]}),
            400,
            Rule::ThinkingReplay,
        ),
    ];
    for (i, (headers, body, status, rule)) in cases.into_iter().enumerate() {
        let (got, answer) = send(&upstream, &headers, &body).await;
        assert_eq!(got, status, "case {i}: {answer}");
        assert_eq!(answer["type"], "error", "case {i}");
        assert!(
            upstream.violation_rules().contains(&rule),
            "case {i}: {:?}",
            upstream.violations()
        );
    }
    assert_eq!(
        upstream.pending_replies(),
        1,
        "refused requests consume no reply"
    );
    let ok = json!({"model": "m", "max_tokens": 5, "tools": tool(),
        "messages": [user("a"), tool_use, result("t1")]});
    let (status, answer) = send(&upstream, GOOD_HEADERS, &ok).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["content"][0]["text"], "ok");
}

#[tokio::test]
async fn served_thinking_must_come_back_unchanged_and_first() {
    let upstream = AnthropicUpstream::start(KEY).await;
    upstream.push(AnthropicScript::default().thinking("plan", "sig").tool_use(
        "t1",
        "f",
        json!({}),
    ));
    upstream.push(AnthropicScript::text("done"));
    let user = json!({"role": "user", "content": "go"});
    let (status, first) = send(
        &upstream,
        GOOD_HEADERS,
        &json!({"model": "m", "max_tokens": 5, "tools": tool(), "messages": [user]}),
    )
    .await;
    assert_eq!(status, 200);
    let result = json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]});
    let turn = |blocks: Value| {
        json!({"model": "m", "max_tokens": 5, "tools": tool(),
            "messages": [user, {"role": "assistant", "content": blocks}, result]})
    };
    let altered = json!([{"type": "thinking", "thinking": "plan!", "signature": "sig"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]);
    let (status, _) = send(&upstream, GOOD_HEADERS, &turn(altered)).await;
    assert_eq!(status, 400);
    assert_eq!(upstream.violation_rules(), vec![Rule::ThinkingReplay]);
    let (status, answer) = send(&upstream, GOOD_HEADERS, &turn(first["content"].clone())).await;
    assert_eq!(status, 200, "{answer}");
}
