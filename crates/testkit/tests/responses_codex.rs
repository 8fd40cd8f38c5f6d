//! The real Codex CLI against `ResponsesUpstream` directly (no proxy): Codex's own requests pass
//! the strict rules (unknown fields, tool-output pairing, the ChatGPT body rules), and Codex
//! accepts the scripted streams: it applies a streamed `apply_patch`, runs a streamed
//! `exec_command`, prints the final text. In ChatGPT mode an expired token makes Codex refresh
//! against the `TokenEndpoint` and retry. Requires the Codex CLI (`.ci/install-test-tools.sh`).

use std::time::Duration;

use ccp_testkit::{
    write_auth_json, ChatGptTokens, CodexRun, ResponseStream, ResponsesStrictness,
    ResponsesUpstream, Rule, TokenEndpoint, DEFAULT_CLIENT_KEY,
};
use serde_json::Value;

const PATCH: &str =
    "*** Begin Patch\n*** Add File: mock_added.txt\n+written by the mock\n*** End Patch\n";

/// The three-turn tool loop both tests script.
fn tool_loop(mock: &ResponsesUpstream) {
    mock.push_all([
        ResponseStream::new()
            .reasoning("Create the file first.", "gAAAA-opaque-1")
            .custom_call("call_patch", "apply_patch", PATCH),
        ResponseStream::function_call(
            "call_cat",
            "exec_command",
            r#"{"cmd":"cat mock_added.txt"}"#,
        ),
        ResponseStream::text("The file says: written by the mock."),
    ]);
}

fn input_of_type<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_a_tool_loop_against_the_openai_mock() {
    let mock = ResponsesUpstream::openai(DEFAULT_CLIENT_KEY).await;
    tool_loop(&mock);
    let run = CodexRun::new(mock.url())
        .model("gpt-5.5")
        .timeout(Duration::from_secs(90));
    let out = run.exec("create the file and show it").await;
    assert!(out.success(), "{}", out.dump());
    mock.assert_no_violations();
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("The file says: written by the mock.")
    );
    let written = std::fs::read_to_string(run.workdir().join("mock_added.txt")).expect("patched");
    assert_eq!(written, "written by the mock\n");

    let requests = mock.responses_requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let second = &requests[1].body;
    let outputs = input_of_type(second, "custom_tool_call_output");
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["call_id"], "call_patch");
    let reasoning = input_of_type(second, "reasoning");
    assert_eq!(reasoning[0]["encrypted_content"], "gAAAA-opaque-1");
    let third = &requests[2].body;
    let cat = input_of_type(third, "function_call_output");
    assert_eq!(cat[0]["call_id"], "call_cat");
    assert!(cat[0]["output"].to_string().contains("written by the mock"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_refreshes_an_expired_chatgpt_token_and_retries() {
    const ACCOUNT: &str = "acct-codex-e2e";
    let tokens = ChatGptTokens::new(ACCOUNT);
    // Codex 0.169 omits `instructions` (its base prompt is the first developer message); the
    // proxy adds the key, but here Codex talks to the backend mock directly.
    let rules = ResponsesStrictness {
        require_instructions: false,
        ..ResponsesStrictness::chatgpt(&tokens)
    };
    let mock = ResponsesUpstream::start(rules).await;
    let endpoint = TokenEndpoint::for_backend(&tokens).await;
    let login = endpoint.login(ACCOUNT);
    tokens.expire(&login.access_token);
    mock.push(ResponseStream::text("Hello over ChatGPT."));

    let run = CodexRun::new(mock.chatgpt_url())
        .model("gpt-5.5")
        .chatgpt_login(true)
        .stream_max_retries(1)
        .env("CODEX_REFRESH_TOKEN_URL_OVERRIDE", &endpoint.url())
        .timeout(Duration::from_secs(90));
    let auth_path = write_auth_json(
        run.codex_home(),
        &login.access_token,
        &login.refresh_token,
        ACCOUNT,
    );
    let out = run.exec("say hello").await;
    let seen: Vec<(String, u16, Vec<String>)> = mock
        .requests()
        .into_iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.status, r.violations))
        .collect();
    assert!(out.success(), "{}\n{seen:#?}", out.dump());
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Hello over ChatGPT.")
    );
    assert_eq!(endpoint.refresh_count(), 1);
    endpoint.assert_no_violations();
    // Codex also GETs `…/models` with the stale token (and does not refresh on that 401), and
    // may send the turn once more with it before the refreshed token is used: every refusal is
    // `token_expired`, and only the last request (with the refreshed token) is served.
    let rules = mock.violation_rules();
    assert!(
        !rules.is_empty() && rules.iter().all(|r| *r == Rule::TokenExpired),
        "{rules:?}"
    );
    let requests = mock.responses_requests();
    let (last, earlier) = requests.split_last().expect("a responses request");
    assert!(earlier.iter().all(|r| r.status == 401), "{seen:#?}");
    assert_eq!(last.status, 200);
    let refreshed = endpoint.last_issued().expect("issued");
    assert_eq!(
        last.authorization(),
        Some(format!("Bearer {}", refreshed.access_token).as_str())
    );
    assert_eq!(last.header("chatgpt-account-id"), Some(ACCOUNT));
    assert_eq!(last.body["store"], false);
    assert_eq!(last.body["stream"], true);
    let refresh_request = &endpoint.requests()[0];
    assert_eq!(refresh_request.body["grant_type"], "refresh_token");
    assert_eq!(
        refresh_request.body["refresh_token"],
        login.refresh_token.as_str()
    );
    // Codex persisted the rotated tokens.
    let auth: Value = serde_json::from_str(&std::fs::read_to_string(auth_path).expect("auth.json"))
        .expect("json");
    assert_eq!(
        auth["tokens"]["refresh_token"],
        refreshed.refresh_token.as_str()
    );
}
