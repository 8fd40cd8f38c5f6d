//! Golden tests: every real Codex request in `fixtures/codex-requests` converted to a Chat request
//! (upstream model `upstream-model`, streaming, generic reasoning field) and compared with a
//! snapshot, plus invariants checked in code so a wrong snapshot cannot be accepted silently.

// Test helpers outside `#[test]` functions: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use ccp_convert::request::{
    apply_default_reasoning_field, responses_request_to_chat, RequestOptions,
};
use ccp_convert::tools::{ToolNameMap, ToolOrigin, MAX_TOOL_NAME_LEN};
use ccp_convert::ConvertError;
use ccp_types::chat::{ChatContent, ChatContentPart, ChatRequest, ChatRole};
use serde_json::{json, Map, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/codex-requests");
const HOSTED_TOOLS: [&str; 4] = [
    "web_search",
    "tool_search",
    "image_generation",
    "local_shell",
];

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(FIXTURES).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

struct Converted {
    chat: ChatRequest,
    names: ToolNameMap,
    /// The chat request before `apply_default_reasoning_field`, to check replays.
    raw: ChatRequest,
}

fn convert_body(body: &Value) -> Result<Converted, ConvertError> {
    let bytes = serde_json::to_vec(body).unwrap();
    let req = ccp_types::responses::parse_request(&bytes).unwrap();
    let opts = RequestOptions {
        upstream_model: "upstream-model".into(),
        stream: true,
    };
    let converted = responses_request_to_chat(&req, &opts)?;
    let raw = converted.chat.clone();
    let mut chat = converted.chat;
    apply_default_reasoning_field(&mut chat);
    Ok(Converted {
        chat,
        names: converted.tools,
        raw,
    })
}

/// Replaces strings longer than 300 chars by their first 120 chars and their length.
fn truncate_long_strings(v: &mut Value) {
    match v {
        Value::String(s) if s.chars().count() > 300 => {
            let head: String = s.chars().take(120).collect();
            *s = format!("{head}…[{} chars]", s.chars().count());
        }
        Value::Array(items) => items.iter_mut().for_each(truncate_long_strings),
        Value::Object(map) => map.values_mut().for_each(truncate_long_strings),
        _ => {}
    }
}

fn snapshot_value(c: &Converted) -> Value {
    let names: BTreeMap<&String, Value> = c
        .names
        .by_upstream_name
        .iter()
        .map(|(upstream, origin)| {
            let v = match origin {
                ToolOrigin::Function { namespace, name } => {
                    json!({"function": name, "namespace": namespace})
                }
                ToolOrigin::Custom { name, namespace } => {
                    json!({"custom": name, "namespace": namespace})
                }
            };
            (upstream, v)
        })
        .collect();
    let mut v = json!({"chat": c.chat, "tool_names": names});
    truncate_long_strings(&mut v);
    v
}

/// Invariants every converted fixture must satisfy.
fn check_invariants(name: &str, c: &Converted) {
    let wire = serde_json::to_value(&c.chat).unwrap();
    let obj = wire.as_object().unwrap();
    for key in [
        "store",
        "include",
        "reasoning",
        "text",
        "client_metadata",
        "prompt_cache_key",
        "previous_response_id",
    ] {
        assert!(!obj.contains_key(key), "{name}: leaked `{key}`");
    }
    assert_eq!(c.chat.model, "upstream-model");
    assert_eq!(c.chat.stream, Some(true));
    assert_eq!(c.chat.stream_options, Some(json!({"include_usage": true})));

    let mut declared = HashSet::new();
    for tool in c.chat.tools.iter().flatten() {
        assert_eq!(tool.kind, "function", "{name}: non-function tool");
        let fname = &tool.function.name;
        assert_valid_name(name, fname);
        assert!(
            !HOSTED_TOOLS.contains(&fname.as_str()),
            "{name}: hosted tool {fname} declared"
        );
        assert!(
            declared.insert(fname.clone()),
            "{name}: duplicate tool name {fname}"
        );
        let params = tool.function.parameters.as_ref().unwrap();
        assert_eq!(params["type"], "object", "{name}: {fname} parameters");
        assert!(
            !params.to_string().contains("\"encrypted\":true"),
            "{name}: {fname} keeps encrypted marker"
        );
    }
    if c.chat.tools.is_none() {
        assert_eq!(
            c.chat.tool_choice, None,
            "{name}: tool_choice without tools"
        );
        assert_eq!(
            c.chat.parallel_tool_calls, None,
            "{name}: parallel_tool_calls without tools"
        );
    }

    // Every tool call is answered by tool messages right after its assistant message.
    let msgs = &c.chat.messages;
    for (i, m) in msgs.iter().enumerate() {
        assert_ne!(m.role, ChatRole::Developer, "{name}: developer role at {i}");
        if m.role == ChatRole::Tool {
            let prev = &msgs[i - 1];
            assert!(
                prev.role == ChatRole::Tool || prev.tool_calls.is_some(),
                "{name}: tool message at {i} does not follow a tool call"
            );
        }
        let Some(calls) = &m.tool_calls else { continue };
        assert_eq!(m.role, ChatRole::Assistant);
        let answered: Vec<&str> = msgs[i + 1..]
            .iter()
            .take_while(|t| t.role == ChatRole::Tool)
            .map(|t| t.tool_call_id.as_deref().unwrap())
            .collect();
        for call in calls {
            assert_valid_name(name, &call.function.name);
            assert!(
                answered.contains(&call.id.as_str()),
                "{name}: call {} unanswered",
                call.id
            );
        }
        assert_eq!(
            answered.len(),
            calls.len(),
            "{name}: extra tool messages after message {i}"
        );
    }
}

fn assert_valid_name(fixture: &str, name: &str) {
    assert!(
        !name.is_empty()
            && name.len() <= MAX_TOOL_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{fixture}: invalid upstream tool name {name:?}"
    );
}

/// Loads, converts, checks and snapshots one HTTP fixture.
fn run_fixture(file: &str) -> (Value, Converted) {
    let fx = fixture(file);
    let converted = convert_body(&fx["body"]).unwrap_or_else(|e| panic!("{file}: {e}"));
    check_invariants(file, &converted);
    let snap_name = file.trim_end_matches(".json");
    insta::assert_json_snapshot!(snap_name, snapshot_value(&converted));
    (fx["body"].clone(), converted)
}

fn input_items<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    body["input"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
}

fn assert_apply_patch_is_a_function(c: &Converted) {
    let tool = c
        .chat
        .tools
        .iter()
        .flatten()
        .find(|t| t.function.name == "apply_patch")
        .unwrap();
    let params = tool.function.parameters.as_ref().unwrap();
    assert_eq!(params["properties"]["input"]["type"], "string");
    assert_eq!(params["required"], json!(["input"]));
    assert!(tool
        .function
        .description
        .as_deref()
        .unwrap()
        .contains("*** Begin Patch"));
    assert_eq!(
        c.names.resolve("apply_patch"),
        Some(&ToolOrigin::Custom {
            name: "apply_patch".into(),
            namespace: None
        })
    );
}

#[test]
fn text_turn() {
    let (_, c) = run_fixture("text-turn.json");
    let roles: Vec<ChatRole> = c.chat.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            ChatRole::System,
            ChatRole::System,
            ChatRole::User,
            ChatRole::User
        ]
    );
    assert_eq!(
        c.chat.messages[3].content,
        Some(ChatContent::Text("say hi".into()))
    );
    assert_eq!(
        c.names.resolve("multi_agent_v1__close_agent"),
        Some(&ToolOrigin::Function {
            namespace: Some("multi_agent_v1".into()),
            name: "close_agent".into()
        })
    );
}

#[test]
fn tool_turn_followup() {
    let (body, c) = run_fixture("tool-turn-followup.json");
    let reasoning = input_items(&body, "reasoning")[0];
    let expected: String = reasoning["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(expected, "raw reasoning");
    let assistant = c
        .raw
        .messages
        .iter()
        .position(|m| m.tool_calls.is_some())
        .unwrap();
    assert_eq!(
        c.raw.messages[assistant].reasoning.as_ref().unwrap().text,
        expected
    );
    assert_eq!(
        c.chat.messages[assistant].extra["reasoning_content"],
        json!(expected)
    );
    assert_eq!(
        c.chat.messages[assistant].tool_calls.as_ref().unwrap()[0].id,
        "call_abc"
    );
}

#[test]
fn parallel_followup() {
    let (_, c) = run_fixture("parallel-followup.json");
    let assistants: Vec<_> = c
        .chat
        .messages
        .iter()
        .filter(|m| m.role == ChatRole::Assistant)
        .collect();
    assert_eq!(assistants.len(), 1);
    let ids: Vec<&str> = assistants[0]
        .tool_calls
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(ids, ["call_1", "call_2"]);
    assert_eq!(
        assistants[0].extra["reasoning_content"],
        json!("plain thinking")
    );
}

#[test]
fn namespace_followup() {
    let (_, c) = run_fixture("namespace-followup.json");
    let calls = c
        .chat
        .messages
        .iter()
        .find_map(|m| m.tool_calls.as_ref())
        .unwrap();
    let names: Vec<(&str, &str)> = calls
        .iter()
        .map(|t| (t.id.as_str(), t.function.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("call_ns1", "multi_agent_v1__close_agent"),
            ("call_plain", "close_agent"),
            ("call_unknown", "no_such_tool")
        ]
    );
}

#[test]
fn view_image_followup() {
    let (body, c) = run_fixture("view-image-followup.json");
    let out = input_items(&body, "function_call_output")[0];
    let url = out["output"][0]["image_url"].as_str().unwrap();
    let tool_pos = c
        .chat
        .messages
        .iter()
        .position(|m| m.role == ChatRole::Tool)
        .unwrap();
    assert_eq!(
        c.chat.messages[tool_pos].tool_call_id.as_deref(),
        Some("call_img")
    );
    let next = &c.chat.messages[tool_pos + 1];
    assert_eq!(next.role, ChatRole::User);
    let Some(ChatContent::Parts(parts)) = &next.content else {
        panic!("image message must have parts")
    };
    assert!(parts
        .iter()
        .any(|p| matches!(p, ChatContentPart::ImageUrl { image_url } if image_url.url == url)));
}

#[test]
fn image_prompt() {
    let (_, c) = run_fixture("image-prompt.json");
    let last = c.chat.messages.last().unwrap();
    assert_eq!(last.role, ChatRole::User);
    let Some(ChatContent::Parts(parts)) = &last.content else {
        panic!("mixed content must stay parts")
    };
    assert_eq!(
        parts
            .iter()
            .filter(|p| matches!(p, ChatContentPart::ImageUrl { .. }))
            .count(),
        1
    );
}

#[test]
fn apply_patch_tools() {
    let (_, c) = run_fixture("apply-patch-tools.json");
    assert_apply_patch_is_a_function(&c);
    assert_eq!(c.chat.reasoning_effort.as_deref(), Some("medium"));
}

#[test]
fn apply_patch_followup() {
    let (body, c) = run_fixture("apply-patch-followup.json");
    assert_apply_patch_is_a_function(&c);
    let patch = input_items(&body, "custom_tool_call")[0]["input"]
        .as_str()
        .unwrap();
    let call = &c
        .chat
        .messages
        .iter()
        .find_map(|m| m.tool_calls.as_ref())
        .unwrap()[0];
    assert_eq!(call.function.name, "apply_patch");
    let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert_eq!(args, json!({ "input": patch }));
}

#[test]
fn compaction() {
    let (_, c) = run_fixture("compaction.json");
    assert_eq!(c.chat.tools, None);
    let last = c.chat.messages.last().unwrap();
    assert_eq!(last.role, ChatRole::User);
    assert!(last
        .content
        .as_ref()
        .unwrap()
        .joined_text()
        .contains("CONTEXT CHECKPOINT COMPACTION"));
}

#[test]
fn legacy_0_140_followup() {
    let (body, c) = run_fixture("legacy-0.140-followup.json");
    assert_eq!(c.chat.messages[0].role, ChatRole::System);
    assert_eq!(
        c.chat.messages[0].content,
        Some(ChatContent::Text(
            body["instructions"].as_str().unwrap().into()
        ))
    );
    assert!(c
        .chat
        .messages
        .iter()
        .any(|m| m.extra.get("reasoning_content") == Some(&json!("raw reasoning"))));
}

#[test]
fn responses_lite() {
    let (_, c) = run_fixture("responses-lite.json");
    assert_eq!(c.chat.tools, None);
    assert!(
        c.names.by_upstream_name.is_empty(),
        "additional_tools must not declare anything"
    );
    assert_eq!(
        c.chat.messages.last().unwrap().content,
        Some(ChatContent::Text("hi".into()))
    );
}

#[test]
fn websocket_session() {
    let fx = fixture("websocket-session.json");
    let frames: Vec<&Map<String, Value>> = fx["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["msg"].as_object())
        .filter(|m| m.get("type") == Some(&json!("response.create")))
        .collect();
    assert_eq!(frames.len(), 3);
    for (i, frame) in frames.into_iter().enumerate() {
        let mut body = frame.clone();
        for key in ["type", "previous_response_id", "generate"] {
            body.remove(key);
        }
        let snap = match convert_body(&Value::Object(body)) {
            Ok(c) => {
                check_invariants(&format!("websocket frame {i}"), &c);
                snapshot_value(&c)
            }
            // The last frame only carries the output of a call made in the previous response; on
            // its own (without `previous_response_id` chaining) nothing is left to send.
            Err(ConvertError::InvalidRequest { path, message }) => {
                assert_eq!(i, 2, "frame {i} failed: {path}: {message}");
                json!({"error": {"path": path, "message": message}})
            }
        };
        insta::assert_json_snapshot!(format!("websocket-session-frame-{i}"), snap);
    }
}
