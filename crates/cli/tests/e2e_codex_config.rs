//! Issue: Codex accepts the config written by `codex-config --write` unchanged and completes a
//! turn through the proxy, with the freeform `apply_patch` tool offered upstream; `-p <backend>`
//! profiles route to the prefixed backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use ccp_testkit::locate::{codex_binary, TempDir};
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::json;

async fn run_codex(
    home: &TempDir,
    work: &std::path::Path,
    extra: &[&str],
    prompt: &str,
) -> (bool, String) {
    let mut args: Vec<String> = vec![
        "exec".into(),
        "--skip-git-repo-check".into(),
        "--dangerously-bypass-approvals-and-sandbox".into(),
        "--disable".into(),
        "unbounded_connection_retries".into(),
        "-c".into(),
        "analytics.enabled=false".into(),
        "--disable".into(),
        "plugins".into(),
        "--strict-config".into(),
        "-C".into(),
        work.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(prompt.into());
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(codex_binary())
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.join("home"))
            .env("CODEX_HOME", home.join("codex-home"))
            .env("CODEX_PROXY_KEY", CLIENT_KEY)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("codex finished in time")
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `codex-config --write` for the proxy's config into `<home>/codex-home`.
fn write_codex_config(proxy: &Proxy, home: &TempDir) {
    let written = std::process::Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .args(["codex-config", "--write", "--config"])
        .arg(proxy.dir.join("config.json"))
        .arg("--codex-home")
        .arg(home.join("codex-home"))
        .arg("--proxy-url")
        .arg(proxy.url(""))
        .output()
        .unwrap();
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_unchanged_on_the_generated_config() {
    let main = MockUpstream::start(Strictness::default()).await;
    let kimi = MockUpstream::start(Strictness::default()).await;
    let config = json!({
        "backends": [
            {"name": "main", "url": main.url(), "api_key": UPSTREAM_KEY, "model": "main-model",
             "protocol": "openai", "match_rules": {"default": true}, "context_window": 64000},
            {"name": "kimi", "url": kimi.url(), "api_key": UPSTREAM_KEY, "model": "kimi-model",
             "protocol": "openai", "match_rules": {"path_prefix": "/kimi"}}
        ]
    });
    let proxy = Proxy::start(config);
    let home = TempDir::new("ccp-codex-home");
    std::fs::create_dir_all(home.join("codex-home")).unwrap();
    std::fs::create_dir_all(home.join("home")).unwrap();
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();

    write_codex_config(&proxy, &home);
    let toml = std::fs::read_to_string(home.join("codex-home").join("config.toml")).unwrap();
    assert!(toml.contains("wire_api = \"responses\""), "{toml}");

    // Default route: a freeform apply_patch turn through the generated config.
    let patch = "*** Begin Patch\n*** Add File: from-generated-config.txt\n+ok\n*** End Patch\n";
    main.push(Reply::tool_call_stream(&[(
        "call_p",
        "apply_patch",
        &json!({"input": patch}).to_string(),
    )]));
    main.push(Reply::text_stream("Patched through the generated config."));
    let (ok, text) = run_codex(&home, &work, &[], "add a file").await;
    assert!(ok, "{text}");
    assert!(
        text.contains("Patched through the generated config."),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("from-generated-config.txt")).unwrap(),
        "ok\n"
    );
    let first = &main.chat_requests()[0].body;
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"apply_patch"),
        "apply_patch offered upstream: {names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("web_search")), "{names:?}");
    main.assert_no_violations();

    // `-p kimi` picks the prefixed backend.
    kimi.push(Reply::text_stream("Kimi via its profile."));
    let (ok, text) = run_codex(&home, &work, &["-p", "kimi"], "hello").await;
    assert!(ok, "{text}");
    assert!(text.contains("Kimi via its profile."), "{text}");
    assert_eq!(kimi.chat_requests().len(), 1);
    assert_eq!(kimi.chat_requests()[0].body["model"], "kimi-model");
    kimi.assert_no_violations();
}

/// Issue 11: `codex-config --write` gives a working Codex setup for every kind. One proxy with
/// a chat default, a Responses passthrough, a ChatGPT-subscription backend and the mock; Codex
/// runs each through its generated profile with `--strict-config`, so any key Codex does not
/// know fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_config_works_for_every_backend_kind() {
    use ccp_testkit::{
        write_auth_json, ChatGptTokens, ResponseStream, ResponsesStrictness, ResponsesUpstream,
        TokenEndpoint,
    };
    const ACCOUNT: &str = "acct-codex-config";
    let main = MockUpstream::start(Strictness::default()).await;
    let responses = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let tokens = ChatGptTokens::new(ACCOUNT);
    let chatgpt = ResponsesUpstream::start(ResponsesStrictness::chatgpt(&tokens)).await;
    let token_endpoint = TokenEndpoint::for_backend(&tokens).await;
    let login = token_endpoint.login(ACCOUNT);
    let home = TempDir::new("ccp-codex-kinds");
    std::fs::create_dir_all(home.join("proxy-login")).unwrap();
    let auth_file = write_auth_json(
        home.join("proxy-login"),
        &login.access_token,
        &login.refresh_token,
        ACCOUNT,
    );
    let config = json!({
        "backends": [
            {"name": "main", "url": main.url(), "api_key": UPSTREAM_KEY, "model": "main-model",
             "protocol": "chat", "match_rules": {"default": true}},
            {"name": "resp", "url": responses.url(), "api_key": UPSTREAM_KEY, "model": "gpt-5.5",
             "protocol": "responses", "match_rules": {"path_prefix": "/resp"}},
            {"name": "chatgpt", "url": chatgpt.chatgpt_url(), "auth_file": auth_file.to_string_lossy(),
             "token_url": token_endpoint.url(), "model": "gpt-5.5-codex-sub",
             "protocol": "codex", "match_rules": {"path_prefix": "/chatgpt"}},
            {"name": "builtin", "protocol": "mock", "model": "mock-model",
             "match_rules": {"path_prefix": "/builtin"}}
        ]
    });
    let proxy = Proxy::start(config);
    std::fs::create_dir_all(home.join("codex-home")).unwrap();
    std::fs::create_dir_all(home.join("home")).unwrap();
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    write_codex_config(&proxy, &home);
    let profile = |name: &str| {
        std::fs::read_to_string(home.join("codex-home").join(format!("{name}.config.toml")))
            .unwrap()
    };
    assert!(profile("resp").contains("web_search = \"cached\""));
    assert!(profile("chatgpt").contains("web_search = \"cached\""));
    assert!(profile("builtin").contains("web_search = \"disabled\""));

    responses.push(ResponseStream::text("Hello from the Responses upstream."));
    let (ok, text) = run_codex(&home, &work, &["-p", "resp"], "hello").await;
    assert!(ok, "{text}");
    assert!(
        text.contains("Hello from the Responses upstream."),
        "{text}"
    );
    responses.assert_no_violations();
    assert_eq!(
        responses.responses_requests()[0].header("authorization"),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
        "the backend key, not Codex's client key"
    );

    chatgpt.push(ResponseStream::text("Hello from the ChatGPT plan."));
    let (ok, text) = run_codex(&home, &work, &["-p", "chatgpt"], "hello").await;
    assert!(ok, "{text}");
    assert!(text.contains("Hello from the ChatGPT plan."), "{text}");
    chatgpt.assert_no_violations();

    let (ok, text) = run_codex(&home, &work, &["-p", "builtin"], "say hi").await;
    assert!(ok, "{text}");
    assert!(text.contains("mock"), "{text}");
}
