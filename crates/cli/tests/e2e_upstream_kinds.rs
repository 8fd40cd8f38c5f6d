//! End-to-end through the built proxy binary for the two Responses-native upstream kinds
//! (issue 11, acceptance 3 and 4):
//!
//! * `protocol: "responses"`: the real Codex CLI holds only a placeholder key and talks to the
//!   proxy (HTTP, then WebSocket); the proxy holds the real key and talks to a strict OpenAI
//!   Responses mock over HTTP. The mock must see the backend key only, and only the proxy.
//! * `protocol: "codex"`: the proxy signs in with a Codex `auth.json` (refreshing it against a
//!   mock token endpoint) in front of a strict mock of the ChatGPT Codex backend, and serves the
//!   OpenAI Python SDK and the Codex CLI, including the usage-limit 429.
//!
//! Every tool (Codex CLI, Python with `openai`) is required: a missing one fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccp_gateway::upstream::codex::DEFAULT_INSTRUCTIONS;
use ccp_testkit::locate::{python_bin, TempDir};
use ccp_testkit::responses_upstream::codex_rate_limits_event;
use ccp_testkit::{
    write_auth_json, ChatGptTokens, CodexOutput, CodexRun, IssuedTokens, RecordedRequest,
    ResponseStream, ResponsesReply, ResponsesUpstream, TokenEndpoint,
};
use common::*;
use serde_json::{json, Value};

/// What Codex holds instead of a key: if it ever reached an upstream, the upstream would refuse it.
const PLACEHOLDER_KEY: &str = "placeholder-not-a-key";
/// The model Codex asks for and every backend serves (a known Codex model: native tools).
const MODEL: &str = "gpt-5.5";
const ACCOUNT: &str = "acct-kinds-e2e";
const CODEX_TIMEOUT: Duration = Duration::from_secs(90);
const PROXY_USER_AGENT: &str = "codex-convert-proxy/";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A `responses` backend holding the real key, in front of `mock`.
fn responses_backend(mock: &ResponsesUpstream) -> Value {
    json!({"backends": [{
        "name": "openai", "protocol": "responses", "url": mock.url(), "api_key": UPSTREAM_KEY,
        "model": MODEL, "match_rules": {"default": true}
    }]})
}

/// A `codex` backend signing in with `auth_file`, refreshing at `endpoint`, in front of `mock`.
fn codex_backend(mock: &ResponsesUpstream, endpoint: &TokenEndpoint, auth_file: &Path) -> Value {
    json!({"backends": [{
        "name": "chatgpt", "protocol": "codex", "url": mock.chatgpt_url(),
        "auth_file": auth_file.to_string_lossy(), "token_url": endpoint.url(),
        "model": MODEL, "match_rules": {"default": true}
    }]})
}

/// Codex pointed at the proxy only, holding the placeholder key.
fn codex(proxy: &Proxy) -> CodexRun {
    CodexRun::new(proxy.url("/v1"))
        .model(MODEL)
        .client_key(PLACEHOLDER_KEY)
        .timeout(CODEX_TIMEOUT)
}

/// The ChatGPT side of a subscription: the backend's token book, its strict mock, the token
/// endpoint, and a login written to `auth.json` in its own directory.
struct Subscription {
    tokens: ChatGptTokens,
    mock: ResponsesUpstream,
    endpoint: TokenEndpoint,
    login: IssuedTokens,
    auth_file: PathBuf,
    _dir: TempDir,
}

impl Subscription {
    /// Tokens from the login live `access_ttl`; refreshed ones one hour.
    async fn start(access_ttl: Duration) -> Subscription {
        let tokens = ChatGptTokens::new(ACCOUNT);
        // Strict: `instructions` required, `max_output_tokens` refused, stream/store forced.
        let mock = ResponsesUpstream::chatgpt(&tokens).await;
        let endpoint = TokenEndpoint::for_backend(&tokens).await;
        endpoint.set_access_ttl(access_ttl);
        let login = endpoint.login(ACCOUNT);
        endpoint.set_access_ttl(Duration::from_secs(3_600));
        let dir = TempDir::new("codex-login");
        let auth_file = write_auth_json(
            dir.path(),
            &login.access_token,
            &login.refresh_token,
            ACCOUNT,
        );
        Subscription {
            tokens,
            mock,
            endpoint,
            login,
            auth_file,
            _dir: dir,
        }
    }

    fn proxy(&self) -> Proxy {
        Proxy::start(codex_backend(&self.mock, &self.endpoint, &self.auth_file))
    }

    fn auth_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.auth_file).unwrap()).unwrap()
    }
}

/// The `/health` counters of a running proxy.
async fn proxy_stats(proxy: &Proxy) -> Value {
    let health: Value = http_client()
        .get(proxy.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["stats"].clone()
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap()
}

/// `(METHOD, path, status)` of the requests the proxy answered (but the test's own `/health`
/// probes), from its edge log, once it holds at least `count` of them (the line of a stream is
/// written when the stream ends) or after 5 s.
async fn answered(proxy: &Proxy, count: usize) -> Vec<(String, String, u64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen = answered_now(proxy);
        if seen.len() >= count || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn answered_now(proxy: &Proxy) -> Vec<(String, String, u64)> {
    let log = std::fs::read_to_string(proxy.log_dir().join("codex-convert-proxy.log"))
        .unwrap_or_default();
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "answered" && v["fields"]["path"] != "/health")
        .map(|v| {
            let f = &v["fields"];
            (
                f["method"].as_str().unwrap_or_default().to_owned(),
                f["path"].as_str().unwrap_or_default().to_owned(),
                f["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Input items of one type.
fn input_of_type<'a>(request: &'a RecordedRequest, kind: &str) -> Vec<&'a Value> {
    request
        .input_items()
        .iter()
        .filter(|item| item["type"] == kind)
        .collect()
}

/// Every request the mock saw was the proxy's `POST …/responses`, with the backend's credential:
/// Codex reached nothing but the proxy, and its placeholder key went nowhere.
fn assert_only_proxy_reached(mock: &ResponsesUpstream, authorization: &str) {
    let requests = mock.requests();
    assert!(!requests.is_empty(), "the mock saw no request");
    for r in &requests {
        assert!(
            r.is_responses(),
            "the mock saw {} {}: only the proxy's POSTs may reach it",
            r.method,
            r.path
        );
        let agent = r.header("user-agent").unwrap_or_default();
        assert!(
            agent.starts_with(PROXY_USER_AGENT),
            "request #{} came from {agent:?}, not the proxy",
            r.index
        );
        assert_eq!(
            r.authorization(),
            Some(authorization),
            "request #{}",
            r.index
        );
        assert!(
            !format!("{:?}", r.headers).contains(PLACEHOLDER_KEY)
                && !String::from_utf8_lossy(&r.raw_body).contains(PLACEHOLDER_KEY),
            "the placeholder key reached the upstream in request #{}",
            r.index
        );
    }
}

/// Codex's own `--json` error events and stderr, for the usage-limit message.
fn codex_errors(out: &CodexOutput) -> String {
    let mut text: Vec<String> = out
        .events()
        .into_iter()
        .filter(|e| {
            let kind = e["type"].as_str().unwrap_or_default();
            kind == "error" || kind == "turn.failed"
        })
        .map(|e| e.to_string())
        .collect();
    text.push(out.stderr.clone());
    text.join("\n")
}

async fn run_subscription_sdk(base_url: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/subscription_sdk.py");
    let run = tokio::process::Command::new(python_bin())
        .arg(script)
        .arg(base_url)
        .arg(MODEL)
        .env("NO_PROXY", "*")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the SDK script did not finish within 60 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[cfg(unix)]
/// Codex succeeded, its last message is `last_message`, and it wrote `file` in its workdir;
/// returns the file's text.
fn assert_turn_wrote(out: &CodexOutput, run: &CodexRun, file: &str, last_message: &str) -> String {
    out.assert_success();
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some(last_message),
        "{}",
        out.dump()
    );
    std::fs::read_to_string(run.workdir().join(file))
        .unwrap_or_else(|e| panic!("{e}\n{}", out.dump()))
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// protocol: "responses" (acceptance 3)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_with_a_placeholder_key_runs_a_tool_turn_over_http_through_a_responses_backend() {
    let mock = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    mock.push_all([
        ResponseStream::function_call(
            "call_http",
            "exec_command",
            r#"{"cmd":"echo via-the-proxy > http.txt"}"#,
        ),
        ResponseStream::text("The file is written."),
    ]);
    let proxy = Proxy::start(responses_backend(&mock));
    let run = codex(&proxy);
    let out = run.exec("write http.txt").await;
    let written = assert_turn_wrote(&out, &run, "http.txt", "The file is written.");
    assert_eq!(written.trim(), "via-the-proxy");

    mock.assert_no_violations();
    assert_only_proxy_reached(&mock, &format!("Bearer {UPSTREAM_KEY}"));
    let requests = mock.responses_requests();
    assert_eq!(requests.len(), 2, "one request per model turn");
    let stats = proxy_stats(&proxy).await;
    assert_eq!(
        stats["http_responses_requests"], 2,
        "every upstream request is one Codex made to the proxy: {stats}"
    );
    assert_eq!(stats["websocket_responses_requests"], 0, "{stats}");
    let post = ("POST".to_owned(), "/v1/responses".to_owned(), 200);
    assert_eq!(
        answered(&proxy, 2).await,
        [post.clone(), post],
        "with `env_key` Codex calls nothing but the responses endpoint"
    );
    let outputs = input_of_type(&requests[1], "function_call_output");
    assert_eq!(outputs.len(), 1, "{}", requests[1].body);
    assert_eq!(outputs[0]["call_id"], "call_http");
    assert_eq!(
        input_of_type(&requests[1], "function_call")[0]["call_id"],
        "call_http",
        "the call itself is replayed before its output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_over_websocket_is_served_from_a_responses_backend_over_http() {
    const PATCH: &str =
        "*** Begin Patch\n*** Add File: ws.txt\n+written over websocket\n*** End Patch\n";
    let mock = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    mock.push_all([
        ResponseStream::custom_tool_call("call_patch", "apply_patch", PATCH),
        ResponseStream::function_call("call_cat", "exec_command", r#"{"cmd":"cat ws.txt"}"#),
        ResponseStream::text("Patched and read over WebSocket."),
    ]);
    let proxy = Proxy::start(responses_backend(&mock));
    let run = codex(&proxy).supports_websockets(true);
    let out = run.exec("add ws.txt and show it").await;
    let written = assert_turn_wrote(&out, &run, "ws.txt", "Patched and read over WebSocket.");
    assert_eq!(written, "written over websocket\n");

    mock.assert_no_violations();
    assert_only_proxy_reached(&mock, &format!("Bearer {UPSTREAM_KEY}"));
    let requests = mock.responses_requests();
    assert_eq!(requests.len(), 3, "one upstream request per model turn");
    assert!(
        requests.iter().all(|r| r.body["stream"] == true),
        "served over HTTP SSE"
    );
    let stats = proxy_stats(&proxy).await;
    assert_eq!(
        stats["http_responses_requests"], 0,
        "Codex made no HTTP request: {stats}"
    );
    assert!(
        stats["websocket_connections"].as_u64().unwrap() > 0,
        "{stats}"
    );
    // The prewarm (`generate: false`) is answered by the proxy itself.
    assert_eq!(
        stats["websocket_responses_requests"].as_u64().unwrap(),
        requests.len() as u64 + 1,
        "every upstream request is one Codex frame (plus the prewarm): {stats}"
    );
    // Codex sends only the new items after `previous_response_id`; upstream the proxy sends the
    // whole history rebuilt from the connection's memory, and the strict mock pairs each output
    // with its call in that history.
    let second = &requests[1];
    assert!(second.body.get("previous_response_id").is_none());
    let patched = input_of_type(second, "custom_tool_call_output");
    assert_eq!(patched.len(), 1, "{}", second.body);
    assert_eq!(patched[0]["call_id"], "call_patch");
    assert_eq!(
        input_of_type(second, "custom_tool_call")[0]["input"],
        PATCH,
        "the call is in the rebuilt history"
    );
    assert!(
        second.input_items().iter().any(|i| i["role"] == "user"),
        "the prompt is in the rebuilt history"
    );
    let third = &requests[2];
    let cat = input_of_type(third, "function_call_output");
    assert_eq!(cat.len(), 1, "{}", third.body);
    assert_eq!(cat[0]["call_id"], "call_cat");
    assert!(
        cat[0]["output"]
            .to_string()
            .contains("written over websocket"),
        "{}",
        cat[0]
    );
}

// ---------------------------------------------------------------------------------------------
// protocol: "codex" (acceptance 4)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_with_max_output_tokens_and_no_instructions_is_served_by_the_subscription() {
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    // The backend's own stream: its rate-limit event and keep-alives, and an empty
    // `completed.output`; none of that may reach (or break) the SDK.
    let quirky = |text: &str| {
        ResponseStream::text(text)
            .rate_limits_event(codex_rate_limits_event(12.0))
            .keepalive_every(2)
            .empty_completed_output()
    };
    sub.mock.push_all([
        quirky("Hello, non-streaming SDK."),
        quirky("Hello, streaming SDK."),
    ]);
    let proxy = sub.proxy();
    let report = run_subscription_sdk(&proxy.url("/v1")).await;

    assert_eq!(report["nonstream_is_response"], true, "{report}");
    assert_eq!(report["nonstream_text"], "Hello, non-streaming SDK.");
    assert_eq!(report["nonstream_status"], "completed");
    assert_eq!(report["nonstream_first_item_is_message"], true);
    assert_eq!(report["stream_created_typed"], true, "{report}");
    assert_eq!(report["stream_text"], "Hello, streaming SDK.");
    assert_eq!(report["stream_completed_typed"], true);
    assert_eq!(report["stream_completed_text"], "Hello, streaming SDK.");
    let kinds: Vec<&str> = report["stream_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"response.created"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"response.completed"), "{kinds:?}");
    assert!(
        kinds.iter().all(|k| k.starts_with("response.")),
        "backend-only events were dropped: {kinds:?}"
    );
    let classes = report["stream_classes"].as_array().unwrap();
    assert!(
        classes
            .iter()
            .all(|c| c.as_str().unwrap().starts_with("Response")),
        "every event parsed into its typed SDK class: {classes:?}"
    );

    sub.mock.assert_no_violations();
    assert_only_proxy_reached(&sub.mock, &format!("Bearer {}", sub.login.access_token));
    let requests = sub.mock.responses_requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.header("chatgpt-account-id"), Some(ACCOUNT));
        assert_eq!(r.body["stream"], true);
        assert_eq!(r.body["store"], false);
        assert!(r.body.get("max_output_tokens").is_none(), "{}", r.body);
        assert_eq!(
            r.body["instructions"], DEFAULT_INSTRUCTIONS,
            "the SDK sent none; the proxy adds the default"
        );
        assert_eq!(
            r.body["input"][0]["role"], "user",
            "a string input became a list"
        );
    }
    assert_eq!(
        sub.endpoint.refresh_count(),
        0,
        "a fresh token needs no refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_completes_a_tool_turn_through_the_subscription() {
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    sub.mock.push_all([
        ResponseStream::new()
            .reasoning("Write the file.", "gAAAA-opaque-sub")
            .call(
                "call_sub",
                "exec_command",
                r#"{"cmd":"echo via-subscription > sub.txt"}"#,
            )
            .rate_limits_event(codex_rate_limits_event(30.0))
            .empty_completed_output(),
        ResponseStream::text("Written through the subscription."),
    ]);
    let proxy = sub.proxy();
    let run = codex(&proxy);
    let out = run.exec("write sub.txt").await;
    let written = assert_turn_wrote(&out, &run, "sub.txt", "Written through the subscription.");
    assert_eq!(written.trim(), "via-subscription");

    sub.mock.assert_no_violations();
    assert_only_proxy_reached(&sub.mock, &format!("Bearer {}", sub.login.access_token));
    let requests = sub.mock.responses_requests();
    assert_eq!(requests.len(), 2, "one request per model turn");
    let stats = proxy_stats(&proxy).await;
    assert_eq!(stats["http_responses_requests"], 2, "{stats}");
    for r in &requests {
        assert_eq!(r.header("chatgpt-account-id"), Some(ACCOUNT));
        assert!(r.body["instructions"].is_string(), "{}", r.body);
    }
    let second = &requests[1];
    let outputs = input_of_type(second, "function_call_output");
    assert_eq!(outputs.len(), 1, "{}", second.body);
    assert_eq!(outputs[0]["call_id"], "call_sub");
    assert_eq!(
        input_of_type(second, "reasoning")[0]["encrypted_content"],
        "gAAAA-opaque-sub",
        "reasoning is replayed statelessly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_and_auth_json_rewritten_in_place() {
    // The login's access token expired as it was issued.
    let sub = Subscription::start(Duration::ZERO).await;
    // Fields the proxy does not know must survive the rewrite.
    let mut doc = sub.auth_json();
    doc["custom_note"] = json!("kept by the proxy");
    doc["tokens"]["extra"] = json!({"nested": [1, 2]});
    doc["last_refresh"] = json!("2026-01-01T00:00:00.000Z");
    std::fs::write(&sub.auth_file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    #[cfg(unix)]
    assert_eq!(file_mode(&sub.auth_file), 0o600);
    assert!(!sub.tokens.is_valid(&sub.login.access_token), "expired");
    sub.mock.push(ResponseStream::text("Fresh token accepted."));
    let proxy = sub.proxy();

    let resp = http_client()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(PLACEHOLDER_KEY)
        .json(&json!({"model": MODEL, "input": "hello", "max_output_tokens": 32}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["output"][0]["content"][0]["text"],
        "Fresh token accepted."
    );

    assert_eq!(sub.endpoint.refresh_count(), 1);
    sub.endpoint.assert_no_violations();
    let refresh = &sub.endpoint.requests()[0];
    assert_eq!(refresh.body["grant_type"], "refresh_token");
    assert_eq!(
        refresh.body["refresh_token"],
        sub.login.refresh_token.as_str()
    );
    let fresh = sub.endpoint.last_issued().unwrap();
    // Refreshed before the request: the backend never saw the expired token.
    sub.mock.assert_no_violations();
    assert_only_proxy_reached(&sub.mock, &format!("Bearer {}", fresh.access_token));

    let after = sub.auth_json();
    assert_eq!(after["tokens"]["access_token"], fresh.access_token.as_str());
    assert_eq!(
        after["tokens"]["refresh_token"],
        fresh.refresh_token.as_str()
    );
    assert_eq!(after["tokens"]["id_token"], fresh.id_token.as_str());
    assert_eq!(after["tokens"]["account_id"], ACCOUNT);
    assert_eq!(after["tokens"]["extra"], json!({"nested": [1, 2]}));
    assert_eq!(after["custom_note"], "kept by the proxy");
    assert_eq!(after["auth_mode"], "chatgpt");
    assert_eq!(after["OPENAI_API_KEY"], Value::Null);
    assert_ne!(
        after["last_refresh"], "2026-01-01T00:00:00.000Z",
        "last_refresh updated"
    );
    #[cfg(unix)]
    assert_eq!(file_mode(&sub.auth_file), 0o600, "the file's mode is kept");
    let leftovers: Vec<_> = std::fs::read_dir(sub.auth_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "auth.json")
        .collect();
    assert!(leftovers.is_empty(), "no temp file left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_backend_rejects_is_refreshed_once_and_the_request_retried() {
    // Valid by its `exp`, but the backend has expired it (401 `token_expired`).
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    sub.tokens.expire(&sub.login.access_token);
    sub.mock.push(
        ResponseStream::text("Served after the refresh.")
            .header("x-codex-primary-used-percent", "31.0"),
    );
    let proxy = sub.proxy();

    let resp = http_client()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(PLACEHOLDER_KEY)
        .json(&json!({"model": MODEL, "input": "hello", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("x-codex-primary-used-percent")
            .and_then(|v| v.to_str().ok()),
        Some("31.0"),
        "the backend's rate-limit headers are relayed"
    );
    let sse = resp.text().await.unwrap();
    assert!(sse.contains("event: response.completed"), "{sse}");
    assert!(sse.contains("Served after the refresh."), "{sse}");

    assert_eq!(sub.endpoint.refresh_count(), 1);
    let fresh = sub.endpoint.last_issued().unwrap();
    let requests = sub.mock.responses_requests();
    let seen: Vec<(u16, Option<&str>)> = requests
        .iter()
        .map(|r| (r.status, r.authorization()))
        .collect();
    let stale = format!("Bearer {}", sub.login.access_token);
    let refreshed = format!("Bearer {}", fresh.access_token);
    assert_eq!(
        seen,
        [(401, Some(stale.as_str())), (200, Some(refreshed.as_str()))],
        "one 401, one refresh, one retry"
    );
    assert_eq!(
        sub.auth_json()["tokens"]["refresh_token"],
        fresh.refresh_token.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_reaches_codex_as_its_usage_limit_message_without_retries() {
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    sub.mock
        .push(ResponsesReply::usage_limit("plus", 2 * 3_600));
    let proxy = sub.proxy();
    // Retries allowed: Codex must still stop at the first usage-limit answer.
    let out = codex(&proxy)
        .request_max_retries(2)
        .stream_max_retries(2)
        .exec("say hello")
        .await;
    assert!(!out.timed_out, "{}", out.dump());
    assert!(!out.status.success(), "the turn fails: {}", out.dump());
    // Codex writes a typographic apostrophe ("You\u{2019}ve").
    let errors = codex_errors(&out).replace('\u{2019}', "'");
    assert!(
        errors.contains("You've hit your usage limit"),
        "Codex shows its usage-limit message:\n{}",
        out.dump()
    );
    assert!(
        errors.contains("try again at"),
        "with the reset time the backend gave:\n{}",
        out.dump()
    );
    assert!(
        errors.contains("Upgrade to Pro"),
        "the plan type reached Codex (its Plus message):\n{}",
        out.dump()
    );
    assert!(
        !errors.contains("exceeded retry limit"),
        "not a plain 429:\n{}",
        out.dump()
    );
    let requests = sub.mock.responses_requests();
    assert_eq!(
        requests.len(),
        1,
        "neither Codex nor the proxy retried: {:?}",
        requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(requests[0].status, 429);
    let stats = proxy_stats(&proxy).await;
    assert_eq!(stats["http_responses_requests"], 1, "{stats}");
    // For the record in the test log: what Codex printed.
    eprintln!("codex usage-limit output:\n{errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_list_is_answered_by_the_proxy_not_the_upstream() {
    let mock = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let proxy = Proxy::start(responses_backend(&mock));
    let resp = http_client()
        .get(proxy.url("/v1/models?client_version=0.169.0"))
        .bearer_auth(PLACEHOLDER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list", "{body}");
    assert_eq!(
        body["data"],
        json!([{"id": MODEL, "object": "model", "created": 0, "owned_by": "openai"}])
    );
    assert!(mock.requests().is_empty(), "the upstream was not asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_that_fetches_the_model_list_from_the_proxy_still_completes_its_turn() {
    let mock = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    mock.push(ResponseStream::text("Listed and answered."));
    let proxy = Proxy::start(responses_backend(&mock));
    // A command-backed key makes Codex GET `{base_url}/models` (codex-wire.md §6).
    let out = codex(&proxy).key_from_command(true).exec("say hello").await;
    out.assert_success();
    assert_eq!(
        out.agent_messages().last().map(String::as_str),
        Some("Listed and answered."),
        "{}",
        out.dump()
    );
    let seen = answered(&proxy, 2).await;
    assert!(
        seen.iter()
            .any(|(m, p, s)| m == "GET" && p == "/v1/models" && *s == 200),
        "Codex asked the proxy for its models: {seen:?}"
    );
    mock.assert_no_violations();
    assert_only_proxy_reached(&mock, &format!("Bearer {UPSTREAM_KEY}"));
    assert_eq!(mock.requests().len(), 1, "the upstream saw the turn only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_limit_reaches_codex_over_websocket_with_its_reset_time() {
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    sub.mock
        .push(ResponsesReply::usage_limit("plus", 2 * 3_600));
    let proxy = sub.proxy();
    let out = codex(&proxy)
        .supports_websockets(true)
        .request_max_retries(2)
        .stream_max_retries(2)
        .exec("say hello")
        .await;
    assert!(!out.timed_out, "{}", out.dump());
    assert!(!out.status.success(), "the turn fails: {}", out.dump());
    let errors = codex_errors(&out).replace('\u{2019}', "'");
    eprintln!("codex usage-limit output over websocket:\n{errors}");
    assert!(
        errors.contains("You've hit your usage limit")
            && errors.contains("Upgrade to Pro")
            && errors.contains("try again at"),
        "Codex shows its usage-limit message with the reset time:\n{}",
        out.dump()
    );
    let requests = sub.mock.responses_requests();
    assert_eq!(requests.len(), 1, "no retry");
    let stats = proxy_stats(&proxy).await;
    assert_eq!(stats["http_responses_requests"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_over_websocket_completes_a_tool_turn_through_the_subscription() {
    let sub = Subscription::start(Duration::from_secs(3_600)).await;
    sub.mock.push_all([
        ResponseStream::function_call(
            "call_ws_sub",
            "exec_command",
            r#"{"cmd":"echo ws-subscription > ws-sub.txt"}"#,
        )
        .keepalive_every(3)
        .empty_completed_output(),
        ResponseStream::text("Written over WebSocket through the subscription."),
    ]);
    let proxy = sub.proxy();
    let run = codex(&proxy).supports_websockets(true);
    let out = run.exec("write ws-sub.txt").await;
    let written = assert_turn_wrote(
        &out,
        &run,
        "ws-sub.txt",
        "Written over WebSocket through the subscription.",
    );
    assert_eq!(written.trim(), "ws-subscription");
    sub.mock.assert_no_violations();
    assert_only_proxy_reached(&sub.mock, &format!("Bearer {}", sub.login.access_token));
    let requests = sub.mock.responses_requests();
    assert_eq!(requests.len(), 2);
    let stats = proxy_stats(&proxy).await;
    assert_eq!(stats["http_responses_requests"], 0, "{stats}");
    let outputs = input_of_type(&requests[1], "function_call_output");
    assert_eq!(outputs.len(), 1, "{}", requests[1].body);
    assert_eq!(outputs[0]["call_id"], "call_ws_sub");
}
