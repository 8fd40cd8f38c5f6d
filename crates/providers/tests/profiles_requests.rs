//! Every profile × every real Codex request × several reasoning efforts: the shaped upstream body
//! must follow that provider's rules (roles, system messages, content, token field, thinking
//! controls, reasoning replay, tool parameters). The checks are written per provider from
//! providers.md §3/§6, not derived from the profile data, so a wrong profile fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_providers::profile::{ProviderId, REASONING_PLACEHOLDER};
use ccp_types::chat::{ChatContent, ChatRequest, ChatRole};
use common::{codex_request, codex_requests, convert, first_assistant, model_for, profile, shape};
use serde_json::{json, Value};

const EFFORTS: [Option<&str>; 9] = [
    None,
    Some("none"),
    Some("minimal"),
    Some("low"),
    Some("medium"),
    Some("high"),
    Some("xhigh"),
    Some("max"),
    Some("ultra"),
];

/// Providers that demand a non-empty replay on every assistant tool-call turn.
const REPLAY_REQUIRED: [&str; 4] = ["deepseek", "kimi", "glm", "lkeap"];

/// The expected thinking controls: `(reasoning_effort, thinking.type, extra key → value)`.
fn expected_controls(id: &str, effort: Option<&str>, stream: bool) -> Value {
    let lmh = |e: &str| match e {
        "minimal" | "low" => json!("low"),
        "medium" => json!("medium"),
        "high" | "xhigh" | "max" | "ultra" => json!("high"),
        _ => Value::Null,
    };
    let lhm = |e: &str| match e {
        "minimal" | "low" => json!("low"),
        "medium" | "high" => json!("high"),
        "xhigh" | "max" | "ultra" => json!("max"),
        _ => Value::Null,
    };
    let thinking = |e: Option<&str>| match e {
        None => Value::Null,
        Some("none") => json!({"type": "disabled"}),
        Some(_) => json!({"type": "enabled"}),
    };
    let e = effort.unwrap_or("");
    match id {
        "openai" => json!({"reasoning_effort": effort}),
        "glm" | "kimi" => json!({"thinking": thinking(effort)}),
        "deepseek" => json!({
            "thinking": thinking(effort),
            "reasoning_effort": match e {
                "minimal" | "low" | "medium" | "high" => json!("high"),
                "xhigh" | "max" | "ultra" => json!("max"),
                _ => Value::Null,
            },
        }),
        "lkeap" => json!({"thinking": thinking(effort), "reasoning_effort": lhm(e)}),
        "qwen" => json!({"enable_thinking": match (stream, effort) {
            (false, _) => json!(false),
            (true, None) => Value::Null,
            (true, Some("none")) => json!(false),
            (true, Some(_)) => json!(true),
        }}),
        "minimax" => json!({"reasoning_split": true}),
        "openrouter" => json!({"reasoning": match e {
            "" => Value::Null,
            "max" | "ultra" => json!({"effort": "xhigh"}),
            other => json!({"effort": other}),
        }}),
        "ollama" => json!({"reasoning_effort": if e == "none" { json!("none") } else { lmh(e) }}),
        "vllm" | "llamacpp" | "generic" => json!({"reasoning_effort": lmh(e)}),
        other => panic!("no expectation for {other}"),
    }
}

const CONTROL_KEYS: [&str; 5] = [
    "reasoning_effort",
    "thinking",
    "enable_thinking",
    "reasoning_split",
    "reasoning",
];

fn check_controls(ctx: &str, id: &str, wire: &Value, effort: Option<&str>, stream: bool) {
    let expected = expected_controls(id, effort, stream);
    for key in CONTROL_KEYS {
        let want = expected.get(key).cloned().unwrap_or(Value::Null);
        let got = wire.get(key).cloned().unwrap_or(Value::Null);
        assert_eq!(got, want, "{ctx}: `{key}`");
    }
    if !matches!(id, "openai" | "ollama") {
        assert_ne!(
            wire.get("reasoning_effort"),
            Some(&json!("none")),
            "{ctx}: `none` must not be sent as reasoning_effort"
        );
    }
}

/// The replayed text per assistant message of the unshaped request (None: no replay).
fn replays(raw: &ChatRequest) -> Vec<Option<String>> {
    raw.messages
        .iter()
        .filter(|m| m.role == ChatRole::Assistant)
        .map(|m| {
            m.reasoning
                .as_ref()
                .map(|r| r.text.clone())
                .filter(|t| !t.trim().is_empty())
        })
        .collect()
}

fn check_replay(ctx: &str, id: &str, raw: &ChatRequest, wire: &Value) {
    let assistants: Vec<&Value> = wire["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    let texts = replays(raw);
    assert_eq!(assistants.len(), texts.len(), "{ctx}: assistant count");
    let fields = ["reasoning_content", "reasoning", "reasoning_details"];
    for (msg, text) in assistants.iter().zip(&texts) {
        let has_calls = msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        let (field, expected) = match id {
            "openai" => (None, None),
            "vllm" | "ollama" => (Some("reasoning"), text.clone().map(Value::from)),
            "openrouter" | "minimax" => (
                Some("reasoning_details"),
                text.clone()
                    .map(|t| json!([{"type": "reasoning.text", "text": t}])),
            ),
            id if REPLAY_REQUIRED.contains(&id) && has_calls => (
                Some("reasoning_content"),
                Some(Value::from(
                    text.clone()
                        .unwrap_or_else(|| REASONING_PLACEHOLDER.to_owned()),
                )),
            ),
            _ => (Some("reasoning_content"), text.clone().map(Value::from)),
        };
        for f in fields {
            let want = if Some(f) == field {
                expected.clone()
            } else {
                None
            };
            assert_eq!(msg.get(f).cloned(), want, "{ctx}: assistant `{f}` in {msg}");
        }
        if REPLAY_REQUIRED.contains(&id) && has_calls {
            let value = msg["reasoning_content"].as_str().unwrap_or("");
            assert!(
                !value.trim().is_empty(),
                "{ctx}: empty replay on a tool-call turn"
            );
        }
    }
}

fn check_messages(ctx: &str, id: &str, wire: &Value) {
    let msgs = wire["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    if id != "openai" {
        assert!(!roles.contains(&"developer"), "{ctx}: developer role sent");
        let leading = roles.iter().take_while(|r| **r == "system").count();
        assert!(leading <= 1, "{ctx}: {leading} leading system messages");
    }
    if id == "minimax" {
        let systems = roles.iter().filter(|r| **r == "system").count();
        assert!(systems <= 1, "{ctx}: MiniMax got {systems} system messages");
        if systems == 1 {
            assert_eq!(
                roles[0], "system",
                "{ctx}: MiniMax system message not first"
            );
        }
    }
    let flattens = !matches!(id, "openai" | "openrouter");
    for m in msgs {
        if let Some(parts) = m.get("content").and_then(Value::as_array) {
            let text_only = parts.iter().all(|p| p["type"] == "text");
            assert!(
                !(flattens && text_only),
                "{ctx}: text-only content array sent to {id}: {m}"
            );
        }
        if id == "glm" {
            assert!(m.get("name").is_none(), "{ctx}: GLM got a message name");
        }
    }
}

fn check_parameters(ctx: &str, id: &str, raw: &ChatRequest, wire: &Value, stream: bool) {
    let limit = raw.max_tokens.map(Value::from);
    let (want_field, other_field) = match id {
        "openai" | "minimax" => ("max_completion_tokens", "max_tokens"),
        _ => ("max_tokens", "max_completion_tokens"),
    };
    assert_eq!(wire.get(want_field).cloned(), limit, "{ctx}: {want_field}");
    assert!(wire.get(other_field).is_none(), "{ctx}: {other_field} sent");

    let keeps_strict = matches!(id, "openai" | "openrouter" | "vllm" | "llamacpp");
    for tool in wire["tools"].as_array().into_iter().flatten() {
        if !keeps_strict {
            assert!(
                tool["function"].get("strict").is_none(),
                "{ctx}: strict sent"
            );
        }
    }
    let has_tools = wire["tools"].as_array().is_some_and(|t| !t.is_empty());
    let choice = wire.get("tool_choice");
    match id {
        "minimax" => assert!(choice.is_none(), "{ctx}: MiniMax got tool_choice"),
        "glm" | "kimi" | "lkeap" => assert!(
            choice.is_none() || choice == Some(&json!("auto")) || choice == Some(&json!("none")),
            "{ctx}: tool_choice {choice:?}"
        ),
        _ => assert_eq!(
            choice.is_some(),
            has_tools && raw.tool_choice.is_some(),
            "{ctx}: tool_choice presence"
        ),
    }
    let sends_parallel = matches!(
        id,
        "openai" | "qwen" | "vllm" | "openrouter" | "llamacpp" | "generic"
    );
    let want_parallel = if sends_parallel && has_tools {
        raw.parallel_tool_calls.map(Value::from)
    } else {
        None
    };
    assert_eq!(
        wire.get("parallel_tool_calls").cloned(),
        want_parallel,
        "{ctx}: parallel_tool_calls"
    );
    assert_eq!(
        wire.get("stream_options").cloned(),
        stream.then(|| json!({"include_usage": true})),
        "{ctx}: stream_options"
    );
    assert_eq!(wire["stream"], json!(stream), "{ctx}: stream");
}

#[test]
fn every_profile_shapes_every_codex_request() {
    let requests = codex_requests();
    let mut checked = 0;
    for id in ProviderId::all() {
        let id = id.as_str();
        let resolved = profile(id, json!({}));
        for (name, body) in &requests {
            let mut body = body.clone();
            // Codex rarely sends a limit; add one so the token field is exercised.
            body["max_output_tokens"] = json!(4096);
            for stream in [true, false] {
                let Some(raw) = convert(&body, stream) else {
                    continue;
                };
                let fixture_effort = body
                    .pointer("/reasoning/effort")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let mut efforts: Vec<Option<&str>> = EFFORTS.to_vec();
                efforts.push(fixture_effort.as_deref());
                for effort in efforts {
                    let ctx = format!("{id} / {name} / stream={stream} / effort={effort:?}");
                    let (shaped, wire) = shape(&resolved, &raw, model_for(id), effort, stream);
                    assert!(
                        shaped.messages.iter().all(|m| m.reasoning.is_none()),
                        "{ctx}: ChatMessage.reasoning left after shaping"
                    );
                    check_messages(&ctx, id, &wire);
                    check_replay(&ctx, id, &raw, &wire);
                    check_parameters(&ctx, id, &raw, &wire, stream);
                    // Without an explicit effort the request's own `reasoning.effort` applies.
                    let effective = effort.or(raw.reasoning_effort.as_deref());
                    check_controls(&ctx, id, &wire, effective, stream);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 2000, "only {checked} combinations checked");
}

/// The three tool-turn fixtures, for the replay rule stated per fixture.
#[test]
fn tool_turn_replays_for_providers_that_require_them() {
    let cases = [
        ("tool-turn-followup", "raw reasoning"),
        ("parallel-followup", "plain thinking"),
        ("namespace-followup", REASONING_PLACEHOLDER),
    ];
    let requests = codex_requests();
    for (fixture, expected) in cases {
        let body = &requests.iter().find(|(n, _)| n == fixture).unwrap().1;
        let raw = convert(body, true).unwrap();
        for id in REPLAY_REQUIRED {
            let resolved = profile(id, json!({}));
            let (_, wire) = shape(&resolved, &raw, model_for(id), Some("high"), true);
            let calls: Vec<&Value> = wire["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
                .collect();
            assert!(!calls.is_empty(), "{fixture}: no tool-call turn");
            for m in calls {
                assert_eq!(m["reasoning_content"], json!(expected), "{id} / {fixture}");
            }
        }
        // Providers without the rule never invent reasoning.
        for id in ["qwen", "llamacpp", "generic", "vllm", "ollama"] {
            let resolved = profile(id, json!({}));
            let (_, wire) = shape(&resolved, &raw, model_for(id), Some("high"), true);
            let text = wire.to_string();
            assert!(!text.contains(REASONING_PLACEHOLDER), "{id} / {fixture}");
        }
    }
}

fn tool_turn() -> ChatRequest {
    convert(&codex_request("tool-turn-followup"), true).unwrap()
}

#[test]
fn deepseek_reasoner_is_legacy_r1_and_gets_no_reasoning() {
    let resolved = profile("deepseek", json!({}));
    let (_, wire) = shape(
        &resolved,
        &tool_turn(),
        "deepseek-reasoner",
        Some("high"),
        true,
    );
    let text = wire.to_string();
    assert!(!text.contains("reasoning_content"), "{text}");
    assert!(wire.get("thinking").is_none() && wire.get("reasoning_effort").is_none());
    let (_, wire) = shape(&resolved, &tool_turn(), "deepseek-chat", Some("high"), true);
    assert_eq!(first_assistant(&wire)["reasoning_content"], "raw reasoning");
    assert!(
        wire.get("thinking").is_none(),
        "deepseek-chat picks its mode by name"
    );
}

#[test]
fn kimi_controls_follow_the_model_generation() {
    let resolved = profile("kimi", json!({}));
    let mut raw = tool_turn();
    raw.temperature = Some(1.5);
    raw.top_p = Some(0.9);
    let (_, k3) = shape(&resolved, &raw, "kimi-k3", Some("medium"), true);
    assert_eq!(k3["reasoning_effort"], "high");
    assert!(k3.get("thinking").is_none());
    assert!(k3.get("temperature").is_none() && k3.get("top_p").is_none());
    let (_, k3_none) = shape(&resolved, &raw, "kimi-k3", Some("none"), true);
    assert!(k3_none.get("reasoning_effort").is_none() && k3_none.get("thinking").is_none());
    let (_, thinking) = shape(&resolved, &raw, "kimi-k2-thinking", Some("none"), true);
    assert!(
        thinking.get("thinking").is_none(),
        "kimi-k2-thinking cannot disable"
    );
    assert!(thinking.get("temperature").is_none());
    let (_, plain) = shape(&resolved, &raw, "kimi-k2-0905-preview", Some("high"), true);
    assert_eq!(plain["temperature"], 1.0, "clamped to the [0,1] range");
    assert_eq!(plain["top_p"], 0.9);
    assert!(plain.get("thinking").is_none());
}

#[test]
fn glm_5_3_cannot_disable_thinking() {
    let resolved = profile("glm", json!({}));
    let (_, wire) = shape(&resolved, &tool_turn(), "glm-5.3", Some("none"), true);
    assert!(wire.get("thinking").is_none() && wire.get("reasoning_effort").is_none());
    let (_, wire) = shape(&resolved, &tool_turn(), "glm-5.3", Some("xhigh"), true);
    assert_eq!(wire["reasoning_effort"], "max");
}

#[test]
fn minimax_m3_turns_thinking_off_and_native_mode_uses_think_tags() {
    let resolved = profile("minimax", json!({}));
    let (_, wire) = shape(&resolved, &tool_turn(), "MiniMax-M3", Some("none"), true);
    assert_eq!(wire["thinking"], json!({"type": "disabled"}));
    let native = profile("minimax", json!({"reasoning_field": "think_tags"}));
    let (_, wire) = shape(&native, &tool_turn(), "MiniMax-M2.7", Some("high"), true);
    assert!(wire.get("reasoning_split").is_none(), "native mode");
    let content = first_assistant(&wire)["content"].as_str().unwrap();
    assert!(
        content.starts_with("<think>\nraw reasoning\n</think>"),
        "{content}"
    );
    assert!(first_assistant(&wire).get("reasoning_details").is_none());
    assert!(native.parse_options().think_tags);
    assert!(native.parse_options().cumulative_deltas);
}

#[test]
fn lkeap_applies_the_fronted_models_rules() {
    let resolved = profile("lkeap", json!({}));
    let mut raw = tool_turn();
    raw.messages
        .push(ccp_types::chat::ChatMessage::text(ChatRole::System, "late"));
    let (_, wire) = shape(&resolved, &raw, "minimax-m2.7", Some("high"), true);
    let roles: Vec<&str> = wire["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "system").count(), 1);
    let (_, wire) = shape(&resolved, &raw, "glm-5.3", Some("none"), true);
    assert!(
        wire.get("thinking").is_none(),
        "glm-5.3 cannot disable thinking"
    );
    let (_, wire) = shape(&resolved, &raw, "kimi-k2.7-code", Some("medium"), true);
    assert_eq!(wire["reasoning_effort"], "high");
    assert!(wire.get("thinking").is_none());
}

#[test]
fn openrouter_replays_kept_reasoning_details_verbatim() {
    let details = json!([
        {"type": "reasoning.text", "text": "t", "signature": "sig", "format": "anthropic-claude-v1", "index": 0},
        {"type": "reasoning.encrypted", "data": "opaque==", "index": 1}
    ]);
    let blob = format!("ccp:v1:{}", json!({"reasoning_details": details}));
    let body = json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "t"}], "encrypted_content": blob},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
        "reasoning": {"effort": "max"},
    });
    let raw = convert(&body, true).unwrap();
    let resolved = profile("openrouter", json!({}));
    let (_, wire) = shape(
        &resolved,
        &raw,
        "anthropic/claude-sonnet-5",
        Some("max"),
        true,
    );
    assert_eq!(first_assistant(&wire)["reasoning_details"], details);
    assert_eq!(wire["reasoning"], json!({"effort": "xhigh"}));
    assert!(wire.get("reasoning_effort").is_none());
}

#[test]
fn content_arrays_are_flattened_where_required() {
    let mut raw = tool_turn();
    let user = raw
        .messages
        .iter()
        .position(|m| m.role == ChatRole::User)
        .unwrap();
    raw.messages[user].content = Some(ChatContent::Parts(vec![
        ccp_types::chat::ChatContentPart::Text { text: "a".into() },
        ccp_types::chat::ChatContentPart::Text { text: "b".into() },
    ]));
    let user_content = |wire: &Value| {
        wire["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "user")
            .unwrap()["content"]
            .clone()
    };
    for id in ["glm", "kimi", "minimax", "deepseek"] {
        let (_, wire) = shape(&profile(id, json!({})), &raw, model_for(id), None, true);
        assert_eq!(user_content(&wire), json!("a\n\nb"), "{id}");
    }
    let (_, wire) = shape(&profile("openai", json!({})), &raw, "gpt-5.5", None, true);
    assert!(user_content(&wire).is_array());
}
