//! End-to-end: the real Codex CLI (pinned @openai/codex) → the built proxy binary → the strict
//! Anthropic Messages mock (`protocol: "anthropic"`). Each test checks the effect on disk or in
//! Codex's output, and that the mock saw no violation: roles alternate, every `tool_use` is
//! answered by a `tool_result` in the next turn, `max_tokens` and `anthropic-version` are sent,
//! and a thinking block comes back byte-identical at the start of its tool turn.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::codex::CodexRun;
use ccp_testkit::{AnthropicScript, AnthropicUpstream};
use common::*;
use serde_json::{json, Value};

const MODEL: &str = "claude-test";

async fn setup() -> (AnthropicUpstream, Proxy) {
    let upstream = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let mut config = one_backend(&upstream.url(), "claude-sonnet-4-5");
    config["backends"][0]["protocol"] = json!("anthropic");
    (upstream, Proxy::start(config))
}

fn codex(proxy: &Proxy) -> CodexRun {
    CodexRun::new(proxy.url("/v1"))
        .model(MODEL)
        .client_key(CLIENT_KEY)
        .model_catalog_json(freeform_catalog(MODEL))
}

/// The `tool_result` blocks of the last user message of a request.
fn tool_results(body: &Value) -> Vec<Value> {
    let messages = body["messages"].as_array().unwrap();
    messages.last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .cloned()
        .collect()
}

fn file(run: &CodexRun, name: &str, out: &ccp_testkit::CodexOutput) -> String {
    std::fs::read_to_string(run.workdir().join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}\n{}", out.dump()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_creates_a_file() {
    let (upstream, proxy) = setup().await;
    upstream.push(
        AnthropicScript::default()
            .then_text("I'll create it.")
            .tool_use(
                "toolu_shell_1",
                "exec_command",
                json!({"cmd": "echo made-by-claude > created.txt"}),
            )
            .json_pieces(5)
            .with_pings(),
    );
    upstream.push(AnthropicScript::text("Created the file."));
    let run = codex(&proxy);
    let out = run.exec("create a file").await;
    out.assert_success();
    assert_eq!(file(&run, "created.txt", &out).trim(), "made-by-claude");
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Created the file."),
        "{}",
        out.dump()
    );
    upstream.assert_no_violations();
    let requests = upstream.requests();
    assert_eq!(requests[0].header("x-api-key"), Some(UPSTREAM_KEY));
    assert!(requests[0].body["max_tokens"].as_u64().unwrap() > 0);
    let results = tool_results(&requests[1].body);
    assert_eq!(results[0]["tool_use_id"], "toolu_shell_1");
    proxy.assert_no_keys_in_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parallel_calls_create_two_files() {
    let (upstream, proxy) = setup().await;
    upstream.push(
        AnthropicScript::default()
            .tool_use("toolu_a", "exec_command", json!({"cmd": "echo A > a.txt"}))
            .tool_use("toolu_b", "exec_command", json!({"cmd": "echo B > b.txt"})),
    );
    upstream.push(AnthropicScript::text("Both files exist."));
    let run = codex(&proxy);
    let out = run.exec("create two files").await;
    out.assert_success();
    assert_eq!(file(&run, "a.txt", &out).trim(), "A");
    assert_eq!(file(&run, "b.txt", &out).trim(), "B");
    upstream.assert_no_violations();
    let second = &upstream.requests()[1].body;
    let ids: Vec<Value> = tool_results(second)
        .iter()
        .map(|r| r["tool_use_id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&json!("toolu_a")) && ids.contains(&json!("toolu_b")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeform_apply_patch_adds_a_file() {
    let (upstream, proxy) = setup().await;
    let patch = "*** Begin Patch\n*** Add File: patched.txt\n+written by claude\n*** End Patch\n";
    upstream.push(
        AnthropicScript::default()
            .tool_use("toolu_patch", "apply_patch", json!({"input": patch}))
            .json_pieces(7),
    );
    upstream.push(AnthropicScript::text("Patched."));
    let run = codex(&proxy);
    let out = run.exec("add a file with apply_patch").await;
    out.assert_success();
    assert_eq!(file(&run, "patched.txt", &out), "written by claude\n");
    upstream.assert_no_violations();
    let first = &upstream.requests()[0].body;
    let apply = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "apply_patch")
        .expect("apply_patch offered");
    assert_eq!(apply["input_schema"]["required"], json!(["input"]));
    let second = &upstream.requests()[1].body;
    let replayed = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().unwrap().iter())
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(replayed["input"], json!({"input": patch}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_models_tool_loop_replays_the_signed_thinking() {
    let (upstream, proxy) = setup().await;
    let thinking = "The user wants a file. I will run echo.";
    let signature = "EqQBCkYIBxgCKkBthinking-signature+/==";
    upstream.push(
        AnthropicScript::default()
            .thinking(thinking, signature)
            .tool_use(
                "toolu_think",
                "exec_command",
                json!({"cmd": "echo thought > thought.txt"}),
            ),
    );
    upstream.push(
        AnthropicScript::default()
            .thinking("Done; report back.", "sig-2")
            .then_text("Wrote thought.txt."),
    );
    let run = codex(&proxy);
    let out = run.exec("write thought.txt").await;
    out.assert_success();
    assert_eq!(file(&run, "thought.txt", &out).trim(), "thought");
    // The mock refuses the second request unless the block comes back first and unchanged.
    upstream.assert_no_violations();
    let second = &upstream.requests()[1].body;
    let assistant = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking", "thinking": thinking, "signature": signature})
    );
    assert_eq!(assistant["content"][1]["type"], "tool_use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_tool_is_flattened_and_dispatched_by_codex() {
    let (upstream, proxy) = setup().await;
    upstream.push(AnthropicScript::default().tool_use(
        "toolu_ns",
        "multi_agent_v1__close_agent",
        json!({"target": "agent-that-does-not-exist"}),
    ));
    upstream.push(AnthropicScript::text("Done with agents."));
    let out = codex(&proxy).exec("close the agent").await;
    out.assert_success();
    upstream.assert_no_violations();
    let names: Vec<Value> = upstream.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("multi_agent_v1__close_agent")),
        "{names:?}"
    );
    let result = tool_results(&upstream.requests()[1].body)[0].to_string();
    assert!(
        !result.contains("unsupported call"),
        "Codex did not dispatch the namespaced call: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_image_reaches_the_model_as_an_image_in_the_tool_result() {
    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0xd, 0xa, 0x1a, 0xa, 0x0, 0x0, 0x0, 0xd, 0x49, 0x48, 0x44, 0x52,
        0x0, 0x0, 0x0, 0x1, 0x0, 0x0, 0x0, 0x1, 0x8, 0x6, 0x0, 0x0, 0x0, 0x1f, 0x15, 0xc4, 0x89,
        0x0, 0x0, 0x0, 0xd, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0xf,
        0x0, 0x2, 0x87, 0x1, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x0, 0x0, 0x0, 0x0, 0x49, 0x45, 0x4e,
        0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let (upstream, proxy) = setup().await;
    let run = codex(&proxy);
    let png = run.workdir().join("pixel.png");
    std::fs::write(&png, PNG_1X1).unwrap();
    upstream.push(AnthropicScript::default().tool_use(
        "toolu_img",
        "view_image",
        json!({"path": png.to_string_lossy()}),
    ));
    upstream.push(AnthropicScript::text("I see one pixel."));
    let out = run.exec("look at pixel.png").await;
    out.assert_success();
    upstream.assert_no_violations();
    let result = &tool_results(&upstream.requests()[1].body)[0];
    let image = result["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "image")
        .unwrap_or_else(|| panic!("no image block in {result}"));
    assert_eq!(image["source"]["type"], "base64");
    assert_eq!(image["source"]["media_type"], "image/png");
}
