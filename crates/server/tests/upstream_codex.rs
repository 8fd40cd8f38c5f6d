//! The `codex` kind (the ChatGPT Codex subscription), the whole app against the strict mock of
//! the ChatGPT backend and the mock OAuth token endpoint: a generic client's body is made
//! acceptable (the mock answers 400 otherwise), streaming and not; the login's token and account
//! are sent; expiring, expired and rejected tokens are refreshed once (also for 20 concurrent
//! requests) and written back keeping the rest of auth.json; tokens another process wrote are
//! adopted; the usage-limit 429 keeps its shape; startup and config errors name the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccp_testkit::responses_upstream::codex_rate_limits_event;
use ccp_testkit::token_endpoint::access_token_claims;
use ccp_testkit::{
    fake_jwt, write_auth_json, ChatGptTokens, IssuedTokens, ResponseStream, ResponsesReply,
    ResponsesUpstream, Rule, TempDir, TokenEndpoint,
};
use common::*;
use serde_json::{json, Value};

const ACCOUNT: &str = "acct-codex-1234";
const BACKEND_MODEL: &str = "gpt-5.5";

/// A ChatGPT backend, its token endpoint, and a Codex login in `dir/auth.json`.
struct Subscription {
    tokens: ChatGptTokens,
    endpoint: TokenEndpoint,
    mock: ResponsesUpstream,
    login: IssuedTokens,
    auth_file: PathBuf,
    _dir: TempDir,
}

impl Subscription {
    /// A fresh login (access token valid for an hour) written to auth.json, with one extra field
    /// the proxy must keep.
    async fn new() -> Subscription {
        let tokens = ChatGptTokens::new(ACCOUNT);
        let endpoint = TokenEndpoint::for_backend(&tokens).await;
        let mock = ResponsesUpstream::chatgpt(&tokens).await;
        let login = endpoint.login(ACCOUNT);
        let dir = TempDir::new("codex-kind");
        let auth_file = dir.join("auth.json");
        let sub = Subscription {
            tokens,
            endpoint,
            mock,
            login,
            auth_file,
            _dir: dir,
        };
        sub.write_login(&sub.login.access_token, &sub.login.refresh_token);
        sub
    }

    /// Writes a login with these tokens (as `codex login` or another process would).
    fn write_login(&self, access_token: &str, refresh_token: &str) {
        let dir = self.auth_file.parent().unwrap();
        let path = write_auth_json(dir, access_token, refresh_token, ACCOUNT);
        let mut doc = self.on_disk_at(&path);
        doc["custom_field"] = json!({"kept": [1, 2, 3]});
        // fs::write keeps the 0600 that write_auth_json set.
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }

    fn on_disk(&self) -> Value {
        self.on_disk_at(&self.auth_file)
    }

    fn on_disk_at(&self, path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn config(&self) -> String {
        json!({
            "listen": "127.0.0.1:0",
            "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
            "client_keys": [CLIENT_KEY],
            "backends": [{
                "name": "chatgpt", "protocol": "codex", "model": BACKEND_MODEL,
                "auth_file": self.auth_file, "token_url": self.endpoint.url(),
                "url": self.mock.chatgpt_url(), "max_retries": 0,
                "match_rules": {"default": true}
            }]
        })
        .to_string()
    }

    /// Every token this test knows of (and the client key): none may reach a client.
    fn secrets(&self) -> Vec<String> {
        let mut out = vec![CLIENT_KEY.to_owned()];
        for t in self.endpoint.issued() {
            out.extend([t.access_token, t.refresh_token, t.id_token]);
        }
        out
    }

    /// Status, headers and body of an answer, checked for secrets.
    async fn read(&self, resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, String) {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let mut all = text.clone();
        for (name, value) in &headers {
            all.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or("")));
        }
        for secret in self.secrets() {
            assert!(!all.contains(&secret), "a secret reached the client: {all}");
        }
        (status, headers, text)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An access token for the account that expires `secs_from_now` from now (negative: expired).
fn access_expiring_in(secs_from_now: i64, jti: &str) -> String {
    let exp = unix_now().saturating_add_signed(secs_from_now);
    fake_jwt(access_token_claims(ACCOUNT, exp, jti))
}

/// What an OpenAI SDK sends: parameters the backend refuses, no instructions, a string input.
fn generic_body(stream: bool) -> Value {
    json!({"model": "gpt-4o", "input": "Say hi", "max_output_tokens": 100,
           "temperature": 0.2, "stream": stream})
}

async fn post(app: &App, body: &Value) -> reqwest::Response {
    post_json(&app.url("/v1/responses"), body, Some(CLIENT_KEY)).await
}

fn answer_script() -> ResponseStream {
    ResponseStream::text("Hi from ChatGPT")
        .rate_limits_event(codex_rate_limits_event(12.0))
        .keepalive_every(2)
        .header("x-codex-primary-used-percent", "12.0")
}

/// The body the backend saw was normalised as docs/upstreams.md says.
fn assert_normalised(body: &Value) {
    assert_eq!(body["model"], BACKEND_MODEL);
    assert_eq!(body["stream"], true);
    assert_eq!(body["store"], false);
    assert_eq!(body["instructions"], "You are a helpful assistant.");
    assert_eq!(body["input"][0]["role"], "user");
    assert_eq!(body["input"][0]["content"][0]["text"], "Say hi");
    for gone in ["max_output_tokens", "temperature"] {
        assert!(body.get(gone).is_none(), "{gone} sent: {body}");
    }
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_client_streams_without_the_backends_own_events() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    sub.mock.push(answer_script());
    let (status, headers, text) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-codex-primary-used-percent"], "12.0");
    let events = parse_sse(&text);
    let types = event_types(&events);
    assert_eq!(types[0], "response.created", "{types:?}");
    assert_eq!(types.last().unwrap(), "response.completed", "{types:?}");
    assert!(
        !types
            .iter()
            .any(|t| t == "keepalive" || t == "codex.rate_limits"),
        "{types:?}"
    );
    let text: String = events
        .iter()
        .filter(|(_, v)| v["type"] == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hi from ChatGPT");

    let recorded = sub.mock.request(0).unwrap();
    assert_normalised(&recorded.body);
    assert_eq!(
        recorded.authorization(),
        Some(format!("Bearer {}", sub.login.access_token).as_str())
    );
    assert_eq!(recorded.header("chatgpt-account-id"), Some(ACCOUNT));
    assert_eq!(recorded.header("originator"), Some("codex_cli_rs"));
    assert!(recorded.headers.values().all(|v| !v.contains(CLIENT_KEY)));
    sub.mock.assert_no_violations();
    assert_eq!(sub.endpoint.refresh_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_client_without_streaming_gets_the_collapsed_response() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    for script in [answer_script(), answer_script().empty_completed_output()] {
        sub.mock.push(script.id("resp_collapsed"));
        let (status, headers, text) = sub.read(post(&app, &generic_body(false)).await).await;
        assert_eq!(status, 200, "{text}");
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(headers["x-codex-primary-used-percent"], "12.0");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["object"], "response", "{v}");
        assert_eq!(v["id"], "resp_collapsed", "{v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(v["output"][0]["type"], "message", "{v}");
        assert_eq!(
            v["output"][0]["content"][0]["text"], "Hi from ChatGPT",
            "{v}"
        );
    }
    for r in sub.mock.requests() {
        assert_normalised(&r.body);
    }
    sub.mock.assert_no_violations();
}

/// auth.json after a refresh: the new tokens, everything else as before, mode 0600, and no
/// temp file left.
fn assert_written_back(sub: &Subscription, before: &Value) {
    let issued = sub.endpoint.last_issued().unwrap();
    let after = sub.on_disk();
    assert_eq!(after["tokens"]["access_token"], issued.access_token);
    assert_eq!(after["tokens"]["refresh_token"], issued.refresh_token);
    assert_eq!(after["tokens"]["id_token"], issued.id_token);
    let mut unchanged = after.clone();
    for field in ["access_token", "refresh_token", "id_token"] {
        unchanged["tokens"][field] = before["tokens"][field].clone();
    }
    unchanged["last_refresh"] = before["last_refresh"].clone();
    assert_eq!(unchanged, *before, "only the refreshed fields change");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&sub.auth_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let names: Vec<_> = std::fs::read_dir(sub.auth_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["auth.json"], "no temp file left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_within_five_minutes_is_refreshed_before_use() {
    let sub = Subscription::new().await;
    // Still accepted by the backend: only a refresh ahead of expiry replaces it.
    let expiring = access_expiring_in(120, "expiring");
    sub.tokens.allow(&expiring);
    sub.write_login(&expiring, &sub.login.refresh_token);
    let before = sub.on_disk();
    let app = start(&sub.config()).await;
    sub.mock.push(answer_script());
    let (status, _, text) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(sub.endpoint.refresh_count(), 1);
    let fresh = sub.endpoint.last_issued().unwrap();
    let requests = sub.mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].authorization(),
        Some(format!("Bearer {}", fresh.access_token).as_str())
    );
    assert_written_back(&sub, &before);
    sub.mock.assert_no_violations();
    sub.endpoint.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_from_the_backend_refreshes_once_and_retries() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    // The backend stops accepting the token before its `exp`.
    sub.tokens.expire(&sub.login.access_token);
    sub.mock.push(answer_script());
    sub.mock.push(answer_script());
    let (status, _, text) = sub.read(post(&app, &generic_body(false)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(sub.endpoint.refresh_count(), 1);
    let fresh = sub.endpoint.last_issued().unwrap();
    let auths: Vec<String> = sub
        .mock
        .requests()
        .iter()
        .map(|r| r.authorization().unwrap().to_owned())
        .collect();
    assert_eq!(
        auths,
        [
            format!("Bearer {}", sub.login.access_token),
            format!("Bearer {}", fresh.access_token)
        ]
    );
    assert_eq!(sub.mock.violation_rules(), [Rule::TokenExpired]);
    // The next request uses the new token at once.
    let (status, _, _) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 200);
    assert_eq!(sub.endpoint.refresh_count(), 1);
    assert_eq!(sub.mock.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_with_an_expired_token_cause_one_refresh() {
    let sub = Subscription::new().await;
    sub.write_login(
        &access_expiring_in(-60, "expired"),
        &sub.login.refresh_token,
    );
    let before = sub.on_disk();
    let app = start(&sub.config()).await;
    // A slow endpoint makes every request arrive while the refresh is in flight.
    sub.endpoint.set_delay(Duration::from_millis(300));
    for _ in 0..20 {
        sub.mock.push(ResponseStream::text("ok"));
    }
    let url = app.url("/v1/responses");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let resp = post_json(&url, &generic_body(i % 2 == 0), Some(CLIENT_KEY)).await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            })
        })
        .collect();
    for task in tasks {
        let (status, text) = task.await.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    assert_eq!(sub.endpoint.refresh_count(), 1);
    assert_eq!(sub.endpoint.requests().len(), 1);
    let fresh = sub.endpoint.last_issued().unwrap();
    let requests = sub.mock.requests();
    assert_eq!(requests.len(), 20);
    let bearer = format!("Bearer {}", fresh.access_token);
    assert!(requests
        .iter()
        .all(|r| r.authorization() == Some(bearer.as_str())));
    assert_written_back(&sub, &before);
    sub.mock.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_another_process_wrote_are_used_without_a_refresh() {
    let sub = Subscription::new().await;
    sub.write_login(
        &access_expiring_in(-60, "expired"),
        &sub.login.refresh_token,
    );
    let app = start(&sub.config()).await;
    // The user's own Codex CLI refreshed meanwhile (spending the refresh token the proxy read).
    let theirs = sub.endpoint.login(ACCOUNT);
    sub.write_login(&theirs.access_token, &theirs.refresh_token);
    let before = sub.on_disk();
    sub.mock.push(answer_script());
    let (status, _, text) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(sub.endpoint.refresh_count(), 0);
    assert!(sub.endpoint.requests().is_empty());
    assert_eq!(
        sub.mock.request(0).unwrap().authorization(),
        Some(format!("Bearer {}", theirs.access_token).as_str())
    );
    assert_eq!(sub.on_disk(), before, "the file is left alone");
    sub.mock.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_limit_429_keeps_its_shape_and_reset_time() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    for stream in [true, false] {
        sub.mock.push(ResponsesReply::usage_limit("plus", 120));
        let (status, headers, text) = sub.read(post(&app, &generic_body(stream)).await).await;
        assert_eq!(status, 429, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let error = &v["error"];
        assert_eq!(error["type"], "usage_limit_reached", "{v}");
        assert_eq!(error["code"], "usage_limit_reached", "{v}");
        assert_eq!(error["plan_type"], "plus", "{v}");
        let now = unix_now();
        let resets_at = error["resets_at"].as_u64().unwrap();
        assert!((now + 100..=now + 121).contains(&resets_at), "{v}");
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((100..=120).contains(&retry_after), "{retry_after}");
        assert!(
            error["message"].as_str().unwrap().contains("usage limit"),
            "{v}"
        );
    }
    assert_eq!(sub.mock.requests().len(), 2, "a 429 is not retried");
}

fn gateway_error(config: &str) -> String {
    let config = ccp_gateway::config::parse_str(config, &|_| None).unwrap();
    match ccp_gateway::Gateway::new(config) {
        Ok(_) => panic!("the gateway started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_logged_out_auth_file_stops_startup_naming_file_and_fix() {
    let sub = Subscription::new().await;
    let secret = "sk-api-key-in-auth-file-0000";
    let cases: [Option<Value>; 3] = [
        None,
        Some(json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null, "tokens": null})),
        Some(json!({"auth_mode": "apikey", "OPENAI_API_KEY": secret})),
    ];
    for case in cases {
        match &case {
            None => std::fs::remove_file(&sub.auth_file).unwrap(),
            Some(doc) => std::fs::write(&sub.auth_file, doc.to_string()).unwrap(),
        }
        let message = gateway_error(&sub.config());
        assert!(
            message.contains(&sub.auth_file.display().to_string()),
            "{message}"
        );
        assert!(message.contains("codex login"), "{message}");
        assert!(
            message.contains("`chatgpt`"),
            "names the backend: {message}"
        );
        assert!(!message.contains(secret), "{message}");
    }
}

#[test]
fn codex_config_problems_name_their_path_and_the_fix() {
    let problems = |backend: Value| {
        let mut backend = backend;
        backend["match_rules"] = json!({"default": true});
        backend["model"] = json!("m");
        let text = json!({"backends": [backend]}).to_string();
        ccp_gateway::config::parse_str(&text, &|_| None)
            .unwrap_err()
            .0
    };
    let p = problems(json!({"name": "c", "protocol": "codex", "api_key": "sk-x"}));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "backends[0].api_key");
    assert!(
        p[0].message.contains("remove it") && p[0].message.contains("codex login"),
        "{}",
        p[0].message
    );
    assert!(!p[0].message.contains("sk-x"));

    let p = problems(json!({"name": "c", "protocol": "codex",
                            "url": "https://chatgpt.com/backend-api/codex/chat/completions"}));
    assert_eq!(p[0].path, "backends[0].url");
    assert!(p[0].message.contains("remove \"url\""), "{}", p[0].message);

    let p = problems(
        json!({"name": "c", "protocol": "chat", "url": "https://api.example.com/v1",
                            "auth_file": "/tmp/auth.json"}),
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "backends[0].auth_file");
    assert!(
        p[0].message.contains("only applies to protocol \"codex\""),
        "{}",
        p[0].message
    );

    let p = problems(json!({"name": "c", "protocol": "chat",
                            "url": "https://api.example.com/v1/responses"}));
    assert_eq!(p[0].path, "backends[0].url");
    assert!(
        p[0].message.contains("\"https://api.example.com/v1\"")
            && p[0].message.contains("\"protocol\": \"responses\""),
        "{}",
        p[0].message
    );

    let p =
        problems(json!({"name": "c", "protocol": "chat", "url": "https://api.example.com/v1/v1"}));
    assert_eq!(p[0].path, "backends[0].url");
    assert!(
        p[0].message.contains("\"https://api.example.com/v1\""),
        "{}",
        p[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_answer_without_streaming_gets_the_mapped_status() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    let cases = [
        (
            ResponseStream::text("x").failed(
                "context_length_exceeded",
                "Your input exceeds the context window of this model.",
            ),
            400,
            "context_length_exceeded",
            None,
        ),
        (
            ResponseStream::text("x").failed(
                "rate_limit_exceeded",
                "Rate limit reached for gpt-5.5. Please try again in 1.5s.",
            ),
            429,
            "rate_limit_exceeded",
            Some("2"),
        ),
        (
            ResponseStream::text("cut short").drop_after(3),
            502,
            "server_error",
            None,
        ),
    ];
    for (script, status, code, retry_after) in cases {
        sub.mock.push(script);
        let (got, headers, text) = sub.read(post(&app, &generic_body(false)).await).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("backend `chatgpt`"),
            "{v}"
        );
        assert_eq!(
            headers.get("retry-after").map(|h| h.to_str().unwrap()),
            retry_after,
            "{v}"
        );
    }
    // Streaming, the backend's own failure is relayed as it came.
    sub.mock
        .push(ResponseStream::text("x").failed("context_length_exceeded", "too long"));
    let (status, _, text) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 200);
    let events = parse_sse(&text);
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "context_length_exceeded");
    assert_eq!(last["response"]["error"]["message"], "too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_tells_the_user_to_run_codex_login() {
    let sub = Subscription::new().await;
    let app = start(&sub.config()).await;
    // The backend refuses the token and the token endpoint the refresh token.
    sub.tokens.expire(&sub.login.access_token);
    sub.endpoint.revoke(&sub.login.refresh_token);
    sub.mock.push(answer_script());
    let (status, _, text) = sub.read(post(&app, &generic_body(true)).await).await;
    assert_eq!(status, 401, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("codex login"), "{message}");
    assert_eq!(sub.mock.requests().len(), 1, "no retry without a new token");

    // A login for another account than the one the token belongs to: the backend answers 403.
    let sub = Subscription::new().await;
    let mut doc = sub.on_disk();
    doc["tokens"]["account_id"] = json!("acct-someone-else");
    std::fs::write(&sub.auth_file, doc.to_string()).unwrap();
    let app = start(&sub.config()).await;
    sub.mock.push(answer_script());
    let (status, _, text) = sub.read(post(&app, &generic_body(false)).await).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("codex login") && !message.contains("api_key"),
        "{message}"
    );
}
