//! Every `quirks` key changes the upstream body (or the parse options) as documented, one test
//! per key; invalid quirks are errors with their `quirks.<key>` path. `every_key_has_a_test`
//! keeps this file in step with `QUIRK_KEYS`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_providers::quirks::{parse_quirks, QUIRK_KEYS};
use ccp_types::chat::{ChatContent, ChatContentPart, ChatMessage, ChatRequest, ChatRole};
use common::{codex_request, convert, first_assistant, profile, shape};
use serde_json::{json, Map, Value};

/// Every quirk key has a `quirk_<key>` test function in this file.
#[test]
fn every_key_has_a_test() {
    let source = include_str!("profiles_quirks.rs");
    let missing: Vec<&str> = QUIRK_KEYS
        .iter()
        .copied()
        .filter(|key| !source.contains(&format!("fn quirk_{key}()")))
        .collect();
    assert!(missing.is_empty(), "quirk keys without a test: {missing:?}");
}

fn fixture(name: &str) -> ChatRequest {
    let mut body = codex_request(name);
    body["max_output_tokens"] = json!(1000);
    convert(&body, true).unwrap()
}

/// The body for `provider`/`model` with and without `quirks`.
fn with_and_without(
    provider: &str,
    model: &str,
    quirks: Value,
    raw: &ChatRequest,
    effort: Option<&str>,
) -> (Value, Value) {
    let (_, plain) = shape(&profile(provider, json!({})), raw, model, effort, true);
    let (_, quirked) = shape(&profile(provider, quirks), raw, model, effort, true);
    assert_ne!(plain, quirked, "the quirk changed nothing");
    (plain, quirked)
}

fn roles(wire: &Value) -> Vec<String> {
    wire["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn quirk_merge_system_messages() {
    let mut raw = fixture("text-turn");
    raw.messages
        .push(ChatMessage::text(ChatRole::System, "late note"));
    let (plain, all) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"merge_system_messages": "all"}),
        &raw,
        None,
    );
    assert_eq!(roles(&plain).last().unwrap(), "system");
    assert_eq!(roles(&all).iter().filter(|r| *r == "system").count(), 1);
    assert!(all["messages"][0]["content"]
        .as_str()
        .unwrap()
        .ends_with("late note"));
    let (_, keep) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"merge_system_messages": false}),
        &raw,
        None,
    );
    let leading = roles(&keep).iter().take_while(|r| *r == "system").count();
    assert!(
        leading >= 2,
        "leading system messages kept apart: {leading}"
    );
}

#[test]
fn quirk_developer_role() {
    let mut raw = fixture("text-turn");
    raw.messages[0].role = ChatRole::Developer;
    let (plain, kept) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"developer_role": "keep"}),
        &raw,
        None,
    );
    assert!(!roles(&plain).contains(&"developer".to_owned()));
    assert_eq!(roles(&kept)[0], "developer");
}

#[test]
fn quirk_flatten_content() {
    let mut raw = fixture("text-turn");
    let last = raw.messages.len() - 1;
    raw.messages[last].content = Some(ChatContent::Parts(vec![ChatContentPart::Text {
        text: "x".into(),
    }]));
    let (plain, quirked) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"flatten_content": false}),
        &raw,
        None,
    );
    assert_eq!(
        plain["messages"].as_array().unwrap().last().unwrap()["content"],
        "x"
    );
    assert_eq!(
        quirked["messages"].as_array().unwrap().last().unwrap()["content"],
        json!([{"type": "text", "text": "x"}])
    );
}

#[test]
fn quirk_drop_message_names() {
    let mut raw = fixture("text-turn");
    let last = raw.messages.len() - 1;
    raw.messages[last].name = Some("alice".into());
    let (plain, quirked) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"drop_message_names": true}),
        &raw,
        None,
    );
    assert_eq!(
        plain["messages"].as_array().unwrap().last().unwrap()["name"],
        "alice"
    );
    assert!(quirked.to_string().find("alice").is_none());
}

#[test]
fn quirk_max_tokens_field() {
    let raw = fixture("text-turn");
    let (plain, quirked) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"max_tokens_field": "max_completion_tokens"}),
        &raw,
        None,
    );
    assert_eq!(plain["max_tokens"], 1000);
    assert_eq!(quirked["max_completion_tokens"], 1000);
    assert!(quirked.get("max_tokens").is_none());
}

#[test]
fn quirk_reasoning_field() {
    let raw = fixture("tool-turn-followup");
    let (plain, quirked) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"reasoning_field": "reasoning"}),
        &raw,
        None,
    );
    assert_eq!(
        first_assistant(&plain)["reasoning_content"],
        "raw reasoning"
    );
    assert_eq!(first_assistant(&quirked)["reasoning"], "raw reasoning");
    assert!(first_assistant(&quirked).get("reasoning_content").is_none());
}

#[test]
fn quirk_strip_reasoning() {
    let raw = fixture("tool-turn-followup");
    let (_, stripped) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"strip_reasoning": true}),
        &raw,
        None,
    );
    assert!(!stripped.to_string().contains("reasoning_content"));
    // deepseek-reasoner strips by default; `false` brings the replay back.
    let (_, kept) = with_and_without(
        "deepseek",
        "deepseek-reasoner",
        json!({"strip_reasoning": false}),
        &raw,
        None,
    );
    assert_eq!(first_assistant(&kept)["reasoning_content"], "raw reasoning");
}

#[test]
fn quirk_require_reasoning_on_tool_calls() {
    let raw = fixture("namespace-followup");
    let (plain, off) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"require_reasoning_on_tool_calls": false}),
        &raw,
        None,
    );
    assert!(first_assistant(&plain)["reasoning_content"].is_string());
    assert!(first_assistant(&off).get("reasoning_content").is_none());
    let (_, on) = with_and_without(
        "qwen",
        "qwen3-coder-plus",
        json!({"require_reasoning_on_tool_calls": true}),
        &raw,
        None,
    );
    assert_eq!(
        first_assistant(&on)["reasoning_content"],
        ccp_providers::profile::REASONING_PLACEHOLDER
    );
}

#[test]
fn quirk_reasoning_placeholder() {
    let raw = fixture("namespace-followup");
    let (_, quirked) = with_and_without(
        "kimi",
        "kimi-k2.6",
        json!({"reasoning_placeholder": "tool call"}),
        &raw,
        None,
    );
    assert_eq!(first_assistant(&quirked)["reasoning_content"], "tool call");
}

#[test]
fn quirk_reasoning_control() {
    let raw = fixture("text-turn");
    let (plain, off) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"reasoning_control": "none"}),
        &raw,
        Some("max"),
    );
    assert_eq!(plain["thinking"], json!({"type": "enabled"}));
    assert_eq!(plain["reasoning_effort"], "max");
    assert!(off.get("thinking").is_none() && off.get("reasoning_effort").is_none());
    let (_, effort) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"reasoning_control": "reasoning_effort"}),
        &raw,
        Some("medium"),
    );
    assert_eq!(effort["reasoning_effort"], "medium");
    assert!(effort.get("thinking").is_none());
}

#[test]
fn quirk_effort_scale() {
    let raw = fixture("text-turn");
    let (plain, quirked) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"effort_scale": "low_high_max"}),
        &raw,
        Some("low"),
    );
    assert_eq!(plain["reasoning_effort"], "high");
    assert_eq!(quirked["reasoning_effort"], "low");
    let (_, ollama_like) = with_and_without(
        "vllm",
        "m",
        json!({"effort_scale": "low_medium_high_none"}),
        &raw,
        Some("none"),
    );
    assert_eq!(ollama_like["reasoning_effort"], "none");
}

#[test]
fn quirk_tool_choice() {
    let mut raw = fixture("tool-turn-followup");
    raw.tool_choice = Some(json!("required"));
    let (plain, kept) = with_and_without(
        "kimi",
        "kimi-k2.6",
        json!({"tool_choice": "keep"}),
        &raw,
        None,
    );
    assert_eq!(plain["tool_choice"], "auto");
    assert_eq!(kept["tool_choice"], "required");
    let (_, dropped) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"tool_choice": "drop"}),
        &raw,
        None,
    );
    assert!(dropped.get("tool_choice").is_none());
}

#[test]
fn quirk_strict() {
    let mut raw = fixture("tool-turn-followup");
    raw.tools.as_mut().unwrap()[0].function.strict = Some(true);
    let (plain, quirked) = with_and_without("glm", "glm-4.6", json!({"strict": true}), &raw, None);
    assert!(plain["tools"][0]["function"].get("strict").is_none());
    assert_eq!(quirked["tools"][0]["function"]["strict"], true);
    let (_, openai) = with_and_without("openai", "gpt-5.5", json!({"strict": false}), &raw, None);
    assert!(openai["tools"][0]["function"].get("strict").is_none());
}

#[test]
fn quirk_stream_options() {
    let raw = fixture("text-turn");
    let (plain, quirked) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"stream_options": false}),
        &raw,
        None,
    );
    assert_eq!(plain["stream_options"], json!({"include_usage": true}));
    assert!(quirked.get("stream_options").is_none());
}

#[test]
fn quirk_parallel_tool_calls() {
    let raw = fixture("tool-turn-followup");
    let (plain, quirked) = with_and_without(
        "glm",
        "glm-4.6",
        json!({"parallel_tool_calls": true}),
        &raw,
        None,
    );
    assert!(plain.get("parallel_tool_calls").is_none());
    assert_eq!(quirked["parallel_tool_calls"], true);
    let (_, off) = with_and_without(
        "openai",
        "gpt-5.5",
        json!({"parallel_tool_calls": false}),
        &raw,
        None,
    );
    assert!(off.get("parallel_tool_calls").is_none());
}

#[test]
fn quirk_temperature() {
    let mut raw = fixture("text-turn");
    raw.temperature = Some(0.7);
    raw.top_p = Some(0.9);
    let (plain, dropped) =
        with_and_without("glm", "glm-4.6", json!({"temperature": "drop"}), &raw, None);
    assert_eq!(
        (plain["temperature"].clone(), plain["top_p"].clone()),
        (json!(0.7), json!(0.9))
    );
    assert!(dropped.get("temperature").is_none() && dropped.get("top_p").is_none());
    let (_, forced) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"temperature": 0.6}),
        &raw,
        None,
    );
    assert_eq!(forced["temperature"], 0.6);
    // Kimi thinking models drop sampling by default; "keep" sends it.
    let (_, kept) = with_and_without(
        "kimi",
        "kimi-k2.6",
        json!({"temperature": "keep"}),
        &raw,
        None,
    );
    assert_eq!(kept["temperature"], 0.7);
}

#[test]
fn quirk_max_temperature() {
    let mut raw = fixture("text-turn");
    raw.temperature = Some(0.9);
    let (plain, quirked) = with_and_without(
        "deepseek",
        "deepseek-v4-pro",
        json!({"max_temperature": 0.5}),
        &raw,
        None,
    );
    assert_eq!(plain["temperature"], 0.9);
    assert_eq!(quirked["temperature"], 0.5);
}

#[test]
fn quirk_think_tags() {
    assert!(profile("deepseek", json!({})).parse_options().think_tags);
    assert!(
        !profile("deepseek", json!({"think_tags": false}))
            .parse_options()
            .think_tags
    );
    assert!(
        profile("openai", json!({"think_tags": true}))
            .parse_options()
            .think_tags
    );
}

#[test]
fn quirk_cumulative_deltas() {
    assert!(
        !profile("deepseek", json!({}))
            .parse_options()
            .cumulative_deltas
    );
    assert!(
        profile("deepseek", json!({"cumulative_deltas": true}))
            .parse_options()
            .cumulative_deltas
    );
    assert!(
        !profile("minimax", json!({"cumulative_deltas": false}))
            .parse_options()
            .cumulative_deltas
    );
}

#[test]
fn quirk_extra_body() {
    let raw = fixture("text-turn");
    let quirks = json!({"extra_body": {
        "thinking": {"clear_thinking": false},
        "temperature": 0.3,
        "stream_options": null,
        "request_id": "fixed",
    }});
    let (plain, quirked) = with_and_without("glm", "glm-4.6", quirks, &raw, Some("high"));
    assert_eq!(plain["thinking"], json!({"type": "enabled"}));
    assert_eq!(
        quirked["thinking"],
        json!({"type": "enabled", "clear_thinking": false})
    );
    assert_eq!(quirked["temperature"], 0.3);
    assert_eq!(quirked["request_id"], "fixed");
    assert!(quirked.get("stream_options").is_none());
    // Typed fields stay typed: the value is not duplicated into the extras.
    let text = serde_json::to_string(&quirked).unwrap();
    assert_eq!(text.matches("\"temperature\"").count(), 1);
}

#[test]
fn quirk_drop_fields() {
    let raw = fixture("tool-turn-followup");
    let quirks =
        json!({"drop_fields": ["stream_options", "tools.function.description", "thinking"]});
    let (plain, quirked) = with_and_without("glm", "glm-4.6", quirks, &raw, Some("high"));
    assert!(plain["tools"][0]["function"].get("description").is_some());
    assert!(quirked["tools"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["function"].get("description").is_none()));
    assert!(quirked.get("stream_options").is_none() && quirked.get("thinking").is_none());
}

fn problems(raw: Value) -> Vec<(String, String)> {
    let map: Map<String, Value> = raw.as_object().cloned().unwrap();
    parse_quirks(&map).unwrap_err()
}

#[test]
fn invalid_quirks_name_their_path() {
    let cases = [
        (
            json!({"merge_system_mesages": true}),
            "quirks.merge_system_mesages",
            "unknown quirk",
        ),
        (
            json!({"flatten_content": 1}),
            "quirks.flatten_content",
            "true or false",
        ),
        (
            json!({"max_tokens_field": 5}),
            "quirks.max_tokens_field",
            "max_completion_tokens",
        ),
        (
            json!({"reasoning_field": "thoughts"}),
            "quirks.reasoning_field",
            "reasoning_details",
        ),
        (
            json!({"reasoning_control": true}),
            "quirks.reasoning_control",
            "enable_thinking",
        ),
        (
            json!({"effort_scale": "huge"}),
            "quirks.effort_scale",
            "high_max",
        ),
        (
            json!({"tool_choice": "required"}),
            "quirks.tool_choice",
            "required_to_auto",
        ),
        (
            json!({"temperature": 9}),
            "quirks.temperature",
            "between 0 and 2",
        ),
        (
            json!({"temperature": "warm"}),
            "quirks.temperature",
            "\"drop\"",
        ),
        (
            json!({"max_temperature": "1"}),
            "quirks.max_temperature",
            "number",
        ),
        (
            json!({"developer_role": "user"}),
            "quirks.developer_role",
            "\"keep\"",
        ),
        (
            json!({"merge_system_messages": "first"}),
            "quirks.merge_system_messages",
            "\"leading\"",
        ),
        (
            json!({"reasoning_placeholder": ""}),
            "quirks.reasoning_placeholder",
            "non-empty",
        ),
        (json!({"extra_body": []}), "quirks.extra_body", "object"),
        (
            json!({"extra_body": {"max_tokens": "lots"}}),
            "quirks.extra_body.max_tokens",
            "invalid",
        ),
        (
            json!({"drop_fields": "stream_options"}),
            "quirks.drop_fields",
            "array",
        ),
        (
            json!({"drop_fields": ["messages"]}),
            "quirks.drop_fields[0]",
            "cannot be dropped",
        ),
        (
            json!({"drop_fields": [3]}),
            "quirks.drop_fields[0]",
            "field path",
        ),
        (
            json!({"strip_reasoning": true, "reasoning_field": "reasoning"}),
            "quirks.strip_reasoning",
            "conflicts",
        ),
    ];
    for (raw, path, needle) in cases {
        let found = problems(raw.clone());
        assert_eq!(found.len(), 1, "{raw}: {found:?}");
        assert_eq!(found[0].0, path, "{raw}");
        assert!(found[0].1.contains(needle), "{raw}: {:?}", found[0].1);
    }
}

#[test]
fn valid_quirks_round_trip_every_key() {
    let raw = json!({
        "merge_system_messages": "leading", "developer_role": "system", "flatten_content": true,
        "drop_message_names": false, "max_tokens_field": "max_tokens", "reasoning_field": "reasoning_details",
        "require_reasoning_on_tool_calls": true, "reasoning_placeholder": "x",
        "reasoning_control": "thinking", "effort_scale": "high_max", "tool_choice": "auto_only",
        "strict": false, "stream_options": true, "parallel_tool_calls": false, "temperature": 1,
        "max_temperature": 1.0, "think_tags": true, "cumulative_deltas": false,
        "extra_body": {"x": 1}, "drop_fields": ["user"],
    });
    let map = raw.as_object().cloned().unwrap();
    assert_eq!(
        map.len() + 1,
        QUIRK_KEYS.len(),
        "all keys but strip_reasoning"
    );
    assert!(parse_quirks(&map).is_ok());
}
