//! End-to-end: the real Codex CLI (pinned @openai/codex) → the built proxy binary → a model group
//! whose primary is a `chat` backend that answers 500 and whose fallback is an `anthropic`
//! backend (the strict Anthropic Messages mock). Codex's tool loop — a shell tool call, then the
//! final answer — completes on the fallback: the first turn falls back, the second skips the
//! cooling primary, and the Anthropic mock sees a well-formed tool turn each time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::codex::CodexRun;
use ccp_testkit::upstream::{MockUpstream, Reply};
use ccp_testkit::{AnthropicScript, AnthropicUpstream};
use common::*;
use serde_json::{json, Value};

const MODEL: &str = "team-model";

/// The proxy's "model group answered" log lines: (backend, attempts, fallback count), once
/// there are `count` of them (the log file is written in the background) or after 5 s.
async fn group_answers(proxy: &Proxy, count: usize) -> Vec<(String, u64, u64)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let seen = group_answers_now(proxy);
        if seen.len() >= count || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn group_answers_now(proxy: &Proxy) -> Vec<(String, u64, u64)> {
    let log = std::fs::read_to_string(proxy.log_dir().join("codex-convert-proxy.log"))
        .unwrap_or_default();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "model group answered")
        .map(|v| {
            let f = &v["fields"];
            (
                f["backend"].as_str().unwrap_or_default().to_owned(),
                f["attempts"].as_u64().unwrap_or_default(),
                f["fallback_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_tool_loop_completes_on_the_anthropic_fallback_when_the_chat_primary_fails() {
    let primary = MockUpstream::strict().await;
    primary.push(Reply::error(500, "server_error", "primary is down"));
    let claude = AnthropicUpstream::start(UPSTREAM_KEY).await;
    claude.push(
        AnthropicScript::default()
            .then_text("I'll create it.")
            .tool_use(
                "toolu_fallback_1",
                "exec_command",
                json!({"cmd": "echo made-by-the-fallback > created.txt"}),
            )
            .json_pieces(4)
            .with_pings(),
    );
    claude.push(AnthropicScript::text("Created the file on the fallback."));
    let proxy = Proxy::start(json!({
        "backends": [
            {"name": "primary", "protocol": "chat", "url": primary.url(), "api_key": UPSTREAM_KEY,
             "model": "primary-model", "max_retries": 0, "match_rules": {"default": true}},
            {"name": "claude", "protocol": "anthropic", "url": claude.url(),
             "api_key": UPSTREAM_KEY, "model": "claude-sonnet-4-5", "max_retries": 0}
        ],
        "model_groups": [{"model": MODEL, "backends": ["primary", "claude"],
            "strategy": "fallback", "on": ["5xx", "timeout", "429", "connect"],
            "cooldown_secs": 30}]
    }));
    let run = CodexRun::new(proxy.url("/v1"))
        .model(MODEL)
        .client_key(CLIENT_KEY)
        .model_catalog_json(freeform_catalog(MODEL));
    let out = run.exec("create a file").await;
    out.assert_success();
    let created = std::fs::read_to_string(run.workdir().join("created.txt"))
        .unwrap_or_else(|e| panic!("created.txt: {e}\n{}", out.dump()));
    assert_eq!(created.trim(), "made-by-the-fallback");
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Created the file on the fallback."),
        "{}",
        out.dump()
    );

    // The primary was asked once (the first turn) and failed; the second turn skipped it.
    let to_primary = primary.chat_requests();
    assert_eq!(to_primary.len(), 1, "{}", out.dump());
    assert_eq!(to_primary[0].body["model"], "primary-model");
    let requests = claude.requests();
    assert_eq!(requests.len(), 2, "{}", out.dump());
    assert_eq!(requests[0].header("x-api-key"), Some(UPSTREAM_KEY));
    assert_eq!(requests[0].body["model"], "claude-sonnet-4-5");
    let last_turn = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    let results: Vec<&Value> = last_turn["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 1, "{}", requests[1].body);
    assert_eq!(results[0]["tool_use_id"], "toolu_fallback_1");
    claude.assert_no_violations();
    primary.assert_no_violations();
    assert_eq!(
        group_answers(&proxy, 2).await,
        vec![("claude".to_owned(), 2, 1), ("claude".to_owned(), 1, 0)],
        "{}",
        proxy.all_logs()
    );
}
