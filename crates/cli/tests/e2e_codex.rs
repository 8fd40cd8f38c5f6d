//! End-to-end: the real Codex CLI (pinned @openai/codex) → the built proxy binary → the strict
//! scripted mock upstream. Each test checks the effect on disk or in Codex's output, and that
//! the upstream saw no protocol violation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::codex::CodexRun;
use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const MODEL: &str = "glm-test";

async fn setup(rules: Strictness) -> (MockUpstream, Proxy) {
    let upstream = MockUpstream::start(rules).await;
    let proxy = Proxy::start(one_backend(&upstream.url(), "upstream-model"));
    (upstream, proxy)
}

fn codex(proxy: &Proxy) -> CodexRun {
    CodexRun::new(proxy.url("/v1"))
        .model(MODEL)
        .client_key(CLIENT_KEY)
}

/// The `tool` messages of an upstream request.
fn tool_messages(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_exec_prints_the_upstream_answer() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::text_stream("The mock upstream says hello to Codex."));
    let out = codex(&proxy).exec("say hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["The mock upstream says hello to Codex.".to_owned()],
        "{}",
        out.dump()
    );
    upstream.assert_no_violations();
    let req = &upstream.chat_requests()[0];
    assert_eq!(
        req.authorization(),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    assert_eq!(req.body["model"], "upstream-model");
    // Codex's hosted tools never reach a chat upstream; its function tools do.
    let names: Vec<&str> = req.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"exec_command"), "{names:?}");
    let logs = proxy.all_logs();
    assert!(
        !logs.contains(UPSTREAM_KEY) && !logs.contains(CLIENT_KEY),
        "a key reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_runs_a_shell_command_that_creates_a_file() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::tool_call_stream(&[(
        "call_shell_1",
        "exec_command",
        r#"{"cmd":"echo made-by-tool > created.txt"}"#,
    )]));
    upstream.push(Reply::text_stream("Created the file."));
    let run = codex(&proxy);
    let out = run.exec("create a file").await;
    out.assert_success();
    let created = std::fs::read_to_string(run.workdir().join("created.txt"))
        .unwrap_or_else(|e| panic!("{e}\n{}", out.dump()));
    assert_eq!(created.trim(), "made-by-tool");
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Created the file.")
    );
    upstream.assert_no_violations();
    // Second request: the call and its output, byte-exact id.
    let second = &upstream.chat_requests()[1].body;
    let tools = tool_messages(second);
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["tool_call_id"], "call_shell_1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parallel_calls_create_two_files() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::tool_call_stream(&[
        ("call_a", "exec_command", r#"{"cmd":"echo A > a.txt"}"#),
        ("call_b", "exec_command", r#"{"cmd":"echo B > b.txt"}"#),
    ]));
    upstream.push(Reply::text_stream("Both files exist."));
    let run = codex(&proxy);
    let out = run.exec("create two files").await;
    out.assert_success();
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("a.txt"))
            .unwrap()
            .trim(),
        "A",
        "{}",
        out.dump()
    );
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("b.txt"))
            .unwrap()
            .trim(),
        "B"
    );
    upstream.assert_no_violations();
    let second = &upstream.chat_requests()[1].body;
    let assistant = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .unwrap();
    let ids: Vec<&str> = assistant["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["call_a", "call_b"],
        "one assistant message with both calls in order"
    );
    let answered: Vec<Value> = tool_messages(second)
        .iter()
        .map(|m| m["tool_call_id"].clone())
        .collect();
    assert_eq!(answered, [json!("call_a"), json!("call_b")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeform_apply_patch_adds_a_file() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    let patch =
        "*** Begin Patch\n*** Add File: patched.txt\n+written by apply_patch\n*** End Patch\n";
    upstream.push(Reply::tool_call_stream(&[(
        "call_patch",
        "apply_patch",
        &json!({"input": patch}).to_string(),
    )]));
    upstream.push(Reply::text_stream("Patched."));
    let run = codex(&proxy).model_catalog_json(freeform_catalog(MODEL));
    let out = run.exec("add a file with apply_patch").await;
    out.assert_success();
    let first = &upstream.chat_requests()[0].body;
    let apply = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "apply_patch")
        .expect("apply_patch offered");
    assert_eq!(
        apply["function"]["parameters"]["required"],
        json!(["input"])
    );
    let written = std::fs::read_to_string(run.workdir().join("patched.txt"))
        .unwrap_or_else(|e| panic!("{e}\n{}", out.dump()));
    assert_eq!(written, "written by apply_patch\n");
    upstream.assert_no_violations();
    let second = &upstream.chat_requests()[1].body;
    let replay = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .unwrap();
    assert_eq!(replay["tool_calls"][0]["function"]["name"], "apply_patch");
    let args: Value = serde_json::from_str(
        replay["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        args["input"], patch,
        "the patch is replayed as the custom tool's input"
    );
    let output = tool_messages(second)[0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!output.contains("aborted"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_tool_call_is_dispatched_by_codex() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::tool_call_stream(&[(
        "call_ns",
        "multi_agent_v1__close_agent",
        r#"{"target":"agent-that-does-not-exist"}"#,
    )]));
    upstream.push(Reply::text_stream("Done with agents."));
    let out = codex(&proxy).exec("close the agent").await;
    out.assert_success();
    let first = &upstream.chat_requests()[0].body;
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"multi_agent_v1__close_agent"), "{names:?}");
    let second = &upstream.chat_requests()[1].body;
    let output = tool_messages(second)[0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !output.contains("unsupported call"),
        "Codex did not dispatch the namespaced call: {output}"
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_model_gets_its_reasoning_back_on_the_tool_turn() {
    let rules = Strictness {
        require_reasoning_on_tool_calls: true,
        ..Strictness::default()
    };
    let (upstream, proxy) = setup(rules).await;
    upstream.push(Reply::sse_json([
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(json!({"reasoning_content": "I should create "}), None),
        chunk(json!({"reasoning_content": "the file with a shell command."}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_think", "type": "function", "function": {"name": "exec_command", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"cmd\":\"echo thought > thought.txt\"}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(5),
    ]));
    upstream.push(Reply::text_stream("Thought it through."));
    let run = codex(&proxy);
    let out = run.exec("think, then create a file").await;
    out.assert_success();
    upstream.assert_no_violations();
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("thought.txt"))
            .unwrap()
            .trim(),
        "thought"
    );
    let second = &upstream.chat_requests()[1].body;
    let assistant = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .unwrap();
    assert_eq!(
        assistant["reasoning_content"],
        "I should create the file with a shell command."
    );
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Thought it through.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_tags_do_not_reach_the_final_answer() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::sse_json([
        chunk(json!({"role": "assistant", "content": "<thi"}), None),
        chunk(json!({"content": "nk>private chain of thought"}), None),
        chunk(json!({"content": "</th"}), None),
        chunk(json!({"content": "ink>The answer is 42."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(4),
    ]));
    let out = codex(&proxy).exec("what is the answer").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["The answer is 42.".to_owned()],
        "{}",
        out.dump()
    );
    assert!(
        !out.stdout.contains("<think>") && !out.stdout.contains("</think>"),
        "{}",
        out.dump()
    );
    let reasoning = out.completed_items("reasoning");
    assert!(
        reasoning
            .iter()
            .any(|r| r.to_string().contains("private chain of thought")),
        "the thought is shown as reasoning, not as the answer: {}",
        out.dump()
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_image_reaches_the_model_as_an_image() {
    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0xd, 0xa, 0x1a, 0xa, 0x0, 0x0, 0x0, 0xd, 0x49, 0x48, 0x44, 0x52,
        0x0, 0x0, 0x0, 0x1, 0x0, 0x0, 0x0, 0x1, 0x8, 0x6, 0x0, 0x0, 0x0, 0x1f, 0x15, 0xc4, 0x89,
        0x0, 0x0, 0x0, 0xd, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f, 0xf,
        0x0, 0x2, 0x87, 0x1, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x0, 0x0, 0x0, 0x0, 0x49, 0x45, 0x4e,
        0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let (upstream, proxy) = setup(Strictness::default()).await;
    let run = codex(&proxy);
    let png = run.workdir().join("pixel.png");
    std::fs::write(&png, PNG_1X1).unwrap();
    let args = json!({"path": png.to_string_lossy()}).to_string();
    upstream.push(Reply::tool_call_stream(&[(
        "call_img",
        "view_image",
        &args,
    )]));
    upstream.push(Reply::text_stream("I see one pixel."));
    let out = run.exec("look at pixel.png").await;
    out.assert_success();
    upstream.assert_no_violations();
    let second = &upstream.chat_requests()[1].body;
    let msgs = second["messages"].as_array().unwrap();
    let tool_pos = msgs.iter().position(|m| m["role"] == "tool").unwrap();
    let after = &msgs[tool_pos + 1];
    assert_eq!(
        after["role"], "user",
        "the image follows the tool message in a user message"
    );
    let image = after["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "image_url")
        .expect("an image part");
    assert!(image["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_turn_runs_entirely_over_websocket() {
    let (upstream, proxy) = setup(Strictness::default()).await;
    upstream.push(Reply::tool_call_stream(&[(
        "call_ws",
        "exec_command",
        r#"{"cmd":"echo over-websocket > ws.txt"}"#,
    )]));
    upstream.push(Reply::text_stream("Done over WebSocket."));
    let run = codex(&proxy).supports_websockets(true);
    let out = run.exec("create a file").await;
    out.assert_success();
    assert_eq!(
        std::fs::read_to_string(run.workdir().join("ws.txt"))
            .unwrap()
            .trim(),
        "over-websocket",
        "{}",
        out.dump()
    );
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Done over WebSocket.")
    );
    upstream.assert_no_violations();
    // The second upstream call carries the full history the proxy rebuilt from the
    // incremental `previous_response_id` request: the call and its output.
    let second = &upstream.chat_requests()[1].body;
    let tools = tool_messages(second);
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["tool_call_id"], "call_ws");
    assert!(
        second["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "user"),
        "history includes the prompt"
    );
    let health: Value = reqwest::get(proxy.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stats = &health["stats"];
    assert_eq!(
        stats["http_responses_requests"], 0,
        "no HTTP POST reached the proxy: {stats}"
    );
    assert!(
        stats["websocket_responses_requests"].as_u64().unwrap() >= 3,
        "prewarm + two turns: {stats}"
    );
}
