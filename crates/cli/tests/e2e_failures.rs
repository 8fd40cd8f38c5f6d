//! End-to-end failure semantics with the real Codex CLI through the built binary: Codex must
//! react to each upstream fault as it would to the real OpenAI API (codex-wire.md §4.3–4.4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use ccp_testkit::codex::CodexRun;
use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply, Strictness};
use common::*;
use serde_json::json;

async fn setup(extra: serde_json::Value) -> (MockUpstream, Proxy) {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let mut config = one_backend(&upstream.url(), "upstream-model");
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            config["backends"][0][k] = v;
        }
    }
    let proxy = Proxy::start(config);
    (upstream, proxy)
}

fn codex(proxy: &Proxy) -> CodexRun {
    CodexRun::new(proxy.url("/v1"))
        .model("glm-test")
        .client_key(CLIENT_KEY)
        .stream_max_retries(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_once_codex_waits_and_completes() {
    let (upstream, proxy) = setup(json!({})).await;
    upstream.push(
        Reply::error(429, "rate_limit_exceeded", "Too many requests")
            .with_header("Retry-After", "1"),
    );
    upstream.push(Reply::text_stream("Answer after the rate limit."));
    let out = codex(&proxy).exec("hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["Answer after the rate limit.".to_owned()],
        "{}",
        out.dump()
    );
    let reqs = upstream.chat_requests();
    assert_eq!(reqs.len(), 2, "Codex retried once");
    let gap = reqs[1].received_at.duration_since(reqs[0].received_at);
    assert!(
        gap >= Duration::from_millis(900),
        "Codex waited the Retry-After delay: {gap:?}"
    );
    proxy.assert_no_keys_in_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_500_once_then_success() {
    // max_retries 0: the proxy passes the 500 on as a retryable failure and Codex retries.
    let (upstream, proxy) = setup(json!({"max_retries": 0})).await;
    upstream.push(Reply::error(500, "server_error", "boom"));
    upstream.push(Reply::text_stream("Recovered answer."));
    let out = codex(&proxy).exec("hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["Recovered answer.".to_owned()],
        "{}",
        out.dump()
    );
    assert_eq!(upstream.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_answer_drop_is_not_presented_as_final() {
    let (upstream, proxy) = setup(json!({})).await;
    upstream.push(
        Reply::sse_json([
            chunk(
                json!({"role": "assistant", "content": "TRUNCATED-FIRST "}),
                None,
            ),
            chunk(json!({"content": "answer that never "}), None),
            chunk(json!({"content": "finishes"}), None),
            chunk(json!({}), Some("stop")),
        ])
        .drop_after(2),
    );
    upstream.push(Reply::text_stream("The complete second answer."));
    let out = codex(&proxy).exec("hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["The complete second answer.".to_owned()],
        "{}",
        out.dump()
    );
    assert!(!out
        .agent_messages()
        .iter()
        .any(|m| m.contains("TRUNCATED-FIRST")));
    assert_eq!(upstream.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_stops_codex_without_hammering() {
    let (upstream, proxy) = setup(json!({})).await;
    upstream.push(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    ));
    let out = codex(&proxy).exec("hello").await;
    assert!(!out.success(), "Codex must fail the turn: {}", out.dump());
    let all = format!("{}{}", out.stdout, out.stderr).to_lowercase();
    assert!(
        all.contains("context window"),
        "Codex prints its context-window message: {}",
        out.dump()
    );
    assert_eq!(
        upstream.chat_requests().len(),
        1,
        "no retries on context overflow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_silence_longer_than_codex_idle_timeout_is_bridged() {
    let (upstream, proxy) = setup(json!({"keepalive_interval_secs": 1})).await;
    upstream.push(
        Reply::sse_json([
            chunk(
                json!({"role": "assistant", "content": "Thinking slowly... "}),
                None,
            ),
            chunk(json!({"content": "done."}), None),
            chunk(json!({}), Some("stop")),
            usage_chunk(2),
        ])
        .silence_after_first(Duration::from_secs(5)),
    );
    let out = codex(&proxy)
        .stream_idle_timeout_ms(2000)
        .stream_max_retries(0)
        .exec("hello")
        .await;
    out.assert_success();
    assert_eq!(
        out.agent_messages(),
        vec!["Thinking slowly... done.".to_owned()],
        "{}",
        out.dump()
    );
    assert_eq!(upstream.chat_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_stream_finish_refuses_new_connections_and_exits_0() {
    let (upstream, mut proxy) = setup(json!({})).await;
    let words: Vec<_> = (0..10)
        .map(|i| chunk(json!({"content": format!("w{i} ")}), None))
        .collect();
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    chunks.extend(words);
    chunks.push(chunk(json!({}), Some("stop")));
    chunks.push(usage_chunk(10));
    upstream.push(Reply::sse_json(chunks).chunk_delay(Duration::from_millis(150)));
    let url = proxy.url("/v1/responses");
    let stream = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(url)
            .json(&json!({"model": "m", "input": "hi", "stream": true}))
            .send()
            .await
            .unwrap();
        resp.text().await.unwrap()
    });
    upstream.wait_for_requests(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = proxy.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .timeout(Duration::from_secs(2))
        .json(&json!({"model": "m", "input": "hi"}))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "new connections are refused during shutdown"
    );
    let body = stream.await.unwrap();
    assert!(
        body.contains("response.completed"),
        "the in-flight stream completed: {body}"
    );
    assert!(body.contains("w9 "));
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = proxy.child.try_wait().unwrap() {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "proxy did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn non_loopback_listen_without_client_keys_refuses_to_start() {
    let dir = ccp_testkit::locate::TempDir::new("ccp-open-relay");
    let config = json!({
        "listen": "0.0.0.0:0",
        "log_dir": dir.join("logs").to_string_lossy(),
        "data_dir": dir.join("data").to_string_lossy(),
        "backends": [{"name": "mock", "protocol": "mock", "model": "m", "match_rules": {"default": true}}]
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("open relay") && stderr.contains("client_keys"),
        "{stderr}"
    );
    // With allow_unauthenticated it starts (and is killed right away).
    let mut config = config;
    config["allow_unauthenticated"] = json!(true);
    std::fs::write(&path, config.to_string()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .arg("--config")
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "starts when allow_unauthenticated is set"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_body_never_writes_a_key() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let mut config = one_backend(&upstream.url(), "upstream-model");
    config["log_body"] = json!(true);
    config["client_keys"] = json!([CLIENT_KEY]);
    let proxy = Proxy::start(config);
    upstream.push(Reply::text_stream("logged answer"));
    upstream.push(Reply::error(
        401,
        "invalid_api_key",
        &format!("Incorrect API key provided: {UPSTREAM_KEY}"),
    ));
    // The user pastes both keys into the prompt: they must be redacted from the logged bodies too.
    let body = json!({"model": "m", "input": format!("my keys are {UPSTREAM_KEY} and {CLIENT_KEY}"), "stream": true});
    for _ in 0..2 {
        let text = reqwest::Client::new()
            .post(proxy.url("/v1/responses"))
            .bearer_auth(CLIENT_KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(UPSTREAM_KEY),
            "a key in the response: {text}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = proxy.all_logs();
    assert!(
        logs.contains("logged answer"),
        "bodies are logged with log_body: true"
    );
    assert!(logs.contains("[REDACTED]"), "keys are replaced by a marker");
    proxy.assert_no_keys_in_logs();
    let files: Vec<_> = std::fs::read_dir(proxy.log_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files.iter().any(|f| f == "codex-convert-proxy.log")
            && files.iter().any(|f| f == "error.log"),
        "{files:?}"
    );
}
