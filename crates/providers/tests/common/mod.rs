//! Shared helpers for the profile tests: real Codex requests from `fixtures/codex-requests`,
//! converted and shaped the way the gateway does it.

// Test helpers outside `#[test]` functions: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use ccp_convert::request::{responses_request_to_chat, RequestOptions};
use ccp_providers::profile::{resolve, ProviderId, ResolvedProfile, ShapeContext};
use ccp_providers::quirks::{parse_quirks, Quirks};
use ccp_types::chat::ChatRequest;
use serde_json::{Map, Value};

pub fn repo_path(parts: &[&str]) -> PathBuf {
    let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    p.push("..");
    p.push("..");
    for part in parts {
        p.push(part);
    }
    p
}

/// `(name, body)` of every Codex request fixture; WebSocket sessions contribute each
/// `response.create` frame (minus the frame-only keys).
pub fn codex_requests() -> Vec<(String, Value)> {
    let dir = repo_path(&["fixtures", "codex-requests"]);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let fx: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Some(body) = fx.get("body") {
            out.push((stem, body.clone()));
            continue;
        }
        let frames = fx["frames"].as_array().expect("a body or frames");
        for (i, frame) in frames
            .iter()
            .filter_map(|f| f["msg"].as_object())
            .filter(|m| m.get("type") == Some(&Value::from("response.create")))
            .enumerate()
        {
            let mut body = frame.clone();
            for key in ["type", "previous_response_id", "generate"] {
                body.remove(key);
            }
            out.push((format!("{stem}-frame-{i}"), Value::Object(body)));
        }
    }
    assert!(
        out.len() >= 12,
        "expected the Codex fixtures, got {}",
        out.len()
    );
    out
}

/// The converted (unshaped) request, or `None` when the converter rejects it (a WebSocket frame
/// that only makes sense with `previous_response_id`).
pub fn convert(body: &Value, stream: bool) -> Option<ChatRequest> {
    let bytes = serde_json::to_vec(body).unwrap();
    let req = ccp_types::responses::parse_request(&bytes).unwrap();
    let opts = RequestOptions {
        upstream_model: "placeholder".into(),
        stream,
    };
    responses_request_to_chat(&req, &opts).ok().map(|c| c.chat)
}

pub fn profile(id: &str, quirks: Value) -> ResolvedProfile {
    let id = ProviderId::parse(id).unwrap_or_else(|| panic!("no profile {id}"));
    let raw: Map<String, Value> = quirks.as_object().cloned().unwrap_or_default();
    let quirks: Quirks = parse_quirks(&raw).unwrap_or_else(|e| panic!("{e:?}"));
    resolve(id, quirks)
}

/// Shapes a copy of `chat` for `model` and returns the wire JSON.
pub fn shape(
    profile: &ResolvedProfile,
    chat: &ChatRequest,
    model: &str,
    effort: Option<&str>,
    stream: bool,
) -> (ChatRequest, Value) {
    let mut chat = chat.clone();
    chat.model = model.to_owned();
    profile.shape_request(
        &mut chat,
        &ShapeContext {
            effort,
            upstream_model: model,
            stream,
        },
    );
    let wire = serde_json::to_value(&chat).unwrap();
    (chat, wire)
}

/// A representative upstream model per profile.
pub fn model_for(id: &str) -> &'static str {
    match id {
        "openai" => "gpt-5.5",
        "glm" => "glm-4.6",
        "kimi" => "kimi-k2.6",
        "deepseek" => "deepseek-v4-pro",
        "minimax" => "MiniMax-M2.7",
        "qwen" => "qwen3-coder-plus",
        "lkeap" => "deepseek-v4-pro-202606",
        "openrouter" => "moonshotai/kimi-k2.6",
        "vllm" => "Qwen/Qwen3-32B",
        "llamacpp" => "gpt-oss-20b",
        "ollama" => "qwen3:8b",
        _ => "some-model",
    }
}

/// The stream context of the golden stream tests: a namespaced function, the freeform
/// `apply_patch` custom tool and a plain function, so every kind of call is resolved.
pub fn golden_context(
    parse: ccp_convert::stream::ParseOptions,
) -> ccp_convert::stream::StreamContext {
    use ccp_convert::tools::{ToolNameMap, ToolOrigin};
    let mut tools = ToolNameMap::default();
    let mut function = |upstream: &str, namespace: Option<&str>, name: &str| {
        tools.by_upstream_name.insert(
            upstream.to_owned(),
            ToolOrigin::Function {
                namespace: namespace.map(str::to_owned),
                name: name.to_owned(),
            },
        );
    };
    function(
        "multi_agent_v1__spawn_agent",
        Some("multi_agent_v1"),
        "spawn_agent",
    );
    function("exec_command", None, "exec_command");
    tools.by_upstream_name.insert(
        "apply_patch".to_owned(),
        ToolOrigin::Custom {
            name: "apply_patch".to_owned(),
            namespace: None,
        },
    );
    ccp_convert::stream::StreamContext {
        response_id: "resp_test".to_owned(),
        model: "codex-model".to_owned(),
        created_at: 0,
        tools,
        parse,
    }
}

/// The body of the Codex request fixture `name`.
pub fn codex_request(name: &str) -> Value {
    codex_requests()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no Codex request fixture {name}"))
        .1
}

/// The first assistant message of a shaped upstream body.
pub fn first_assistant(wire: &Value) -> &Value {
    wire["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap()
}
