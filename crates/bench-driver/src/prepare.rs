//! Writes the request bodies the benchmark sends, so every tool (the driver, wrk, the peer)
//! sends the same bytes.
//!
//! * `small-json.json`: `{"model","input":"Say hello","store":false}` (stateless, as Codex
//!   sends it); `small-sse.json`: the same, streamed. `small-stored-json.json`: without
//!   `store`, so the proxy stores each response (the default), for the store's write cost.
//! * `codex-json.json`: a real Codex request (a fixture's `body`) with the hosted tools removed
//!   (they cannot go to a Chat Completions upstream), the model set to the bench model, not
//!   streamed. `codex-sse.json`: the same, streamed.
//! * `small-ws.json`: the small request as a WebSocket `response.create` frame.
//! * `chat-small-json.json`: the small request as a Chat Completions client sends it
//!   (`{"model","messages":[{"role":"user","content":"Say hello"}]}`), for the Chat
//!   passthrough; `chat-small-sse.json`: the same, streamed.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::run::BoxError;

/// Tool types a Chat Completions upstream can be given (as functions); the rest are hosted.
const CLIENT_TOOL_TYPES: [&str; 3] = ["function", "namespace", "custom"];

#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// A recorded Codex request (`{"body": {...}, ...}`).
    #[arg(long)]
    pub fixture: PathBuf,
    /// Directory to write the bodies into.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Model name to put in every body.
    #[arg(long, default_value = bench_upstream::MODEL)]
    pub model: String,
}

pub fn prepare(args: &PrepareArgs) -> Result<Value, BoxError> {
    std::fs::create_dir_all(&args.out_dir)?;
    let stored = json!({"model": args.model, "input": "Say hello"});
    let small = json!({"model": args.model, "input": "Say hello", "store": false});
    let mut small_sse = small.clone();
    small_sse["stream"] = Value::Bool(true);
    let mut small_ws = small.clone();
    if let Value::Object(map) = &mut small_ws {
        map.insert("type".into(), "response.create".into());
    }
    let (codex, dropped) = codex_body(&args.fixture, &args.model)?;
    let mut codex_sse = codex.clone();
    codex_sse["stream"] = Value::Bool(true);
    let chat = json!({"model": args.model, "messages": [{"role": "user", "content": "Say hello"}]});
    let mut chat_sse = chat.clone();
    chat_sse["stream"] = Value::Bool(true);
    let mut sizes = serde_json::Map::new();
    for (name, body) in [
        ("small-json.json", &small),
        ("small-stored-json.json", &stored),
        ("small-sse.json", &small_sse),
        ("small-ws.json", &small_ws),
        ("codex-json.json", &codex),
        ("codex-sse.json", &codex_sse),
        ("chat-small-json.json", &chat),
        ("chat-small-sse.json", &chat_sse),
    ] {
        let bytes = serde_json::to_vec(body)?;
        write(&args.out_dir.join(name), &bytes)?;
        sizes.insert(name.into(), bytes.len().into());
    }
    Ok(json!({"bytes": sizes, "dropped_hosted_tools": dropped}))
}

/// The fixture's body with hosted tools removed, the model replaced and streaming off.
fn codex_body(fixture: &Path, model: &str) -> Result<(Value, Vec<String>), BoxError> {
    let text =
        std::fs::read_to_string(fixture).map_err(|e| format!("{}: {e}", fixture.display()))?;
    let recorded: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", fixture.display()))?;
    let mut body = recorded
        .get("body")
        .cloned()
        .ok_or_else(|| format!("{}: no `body`", fixture.display()))?;
    let mut dropped = Vec::new();
    if let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) {
        tools.retain(|t| {
            let ty = t.get("type").and_then(Value::as_str).unwrap_or_default();
            let keep = CLIENT_TOOL_TYPES.contains(&ty);
            if !keep {
                dropped.push(ty.to_owned());
            }
            keep
        });
    }
    body["model"] = Value::String(model.to_owned());
    body["stream"] = Value::Bool(false);
    Ok((body, dropped))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BoxError> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_hosted_tools_and_keeps_client_tools() -> Result<(), BoxError> {
        let dir = std::env::temp_dir().join(format!("bench-prepare-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let fixture = dir.join("f.json");
        let body = json!({"body": {"model": "glm", "stream": true, "input": [], "tools": [
            {"type": "function", "name": "shell"}, {"type": "web_search"}, {"type": "namespace", "name": "mcp"},
            {"type": "custom", "name": "apply_patch"}, {"type": "image_generation"}]}});
        std::fs::write(&fixture, serde_json::to_vec(&body)?)?;
        let (out, dropped) = codex_body(&fixture, "bench-model")?;
        assert_eq!(dropped, ["web_search", "image_generation"]);
        assert_eq!(out["tools"].as_array().map(Vec::len), Some(3));
        assert_eq!(out["model"], "bench-model");
        assert_eq!(out["stream"], false);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
