//! Shared helpers for the doctor tests: temp dirs, fake upstreams, running doctor and the proxy.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_codex-convert-proxy");
pub const SECRET: &str = "sk-doctor-test-secret-0123456789";

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ccp-doctor-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a fake server does.
#[derive(Clone, Copy)]
pub enum Fake {
    /// A working Chat Completions server.
    ChatOk,
    /// 404 for everything.
    NotFound,
    /// 401 that echoes the key it was sent.
    Unauthorized,
    /// 404 `model_not_found`.
    ModelNotFound,
    /// Serves only POST …/responses.
    ResponsesOnly,
    /// Chat Completions only under /v1.
    ChatUnderV1,
    /// Answers /health like the proxy but refuses WebSocket upgrades with 426.
    ProxyWithoutWebSocket,
}

pub fn chat_completion() -> Value {
    json!({"id": "c1", "object": "chat.completion", "created": 0, "model": "m1",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "p"}, "finish_reason": "length"}]})
}

pub fn respond(kind: Fake, req: &Request) -> Response {
    let path = req.uri().path().to_owned();
    let post = req.method() == Method::POST;
    let json_resp = |status: StatusCode, body: Value| (status, axum::Json(body)).into_response();
    match kind {
        Fake::ChatOk if post && path.ends_with("/chat/completions") => {
            json_resp(StatusCode::OK, chat_completion())
        }
        Fake::ChatUnderV1 if post && path == "/v1/chat/completions" => {
            json_resp(StatusCode::OK, chat_completion())
        }
        Fake::Unauthorized => {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            json_resp(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": format!("Incorrect API key provided: {auth}"), "code": "invalid_api_key"}}),
            )
        }
        Fake::ModelNotFound => json_resp(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": "The model `m1` does not exist or you do not have access to it.",
                             "type": "invalid_request_error", "code": "model_not_found"}}),
        ),
        Fake::ResponsesOnly if post && path.ends_with("/responses") => json_resp(
            StatusCode::OK,
            json!({"id": "resp_1", "object": "response", "status": "completed", "output": []}),
        ),
        Fake::ProxyWithoutWebSocket if path.ends_with("/health") => json_resp(
            StatusCode::OK,
            json!({"status": "ok", "config": {"backends": []}}),
        ),
        Fake::ProxyWithoutWebSocket if req.headers().contains_key("upgrade") => {
            (StatusCode::UPGRADE_REQUIRED, "use HTTP").into_response()
        }
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}

/// Starts a fake server on a free port; returns the port.
pub async fn fake(kind: Fake) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move |req: Request| async move { respond(kind, &req) });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A proxy config with one openai-protocol backend at `url`.
pub fn backend_config(dir: &TempDir, url: &str, api_key: &str) -> PathBuf {
    let config = json!({
        "listen": "127.0.0.1:18999",
        "log_dir": dir.path().join("logs").display().to_string(),
        "data_dir": dir.path().join("data").display().to_string(),
        "backends": [{"name": "up", "protocol": "openai", "url": url, "api_key": api_key, "model": "m1",
                      "connect_timeout_secs": 3, "match_rules": {"default": true}}]
    });
    dir.write("proxy.json", &config.to_string())
}

pub fn mock_config(dir: &TempDir, port: u16) -> PathBuf {
    let config = json!({
        "listen": format!("127.0.0.1:{port}"),
        "log_dir": dir.path().join("logs").display().to_string(),
        "data_dir": dir.path().join("data").display().to_string(),
        "backends": [
            {"name": "mock", "protocol": "mock", "model": "mock-model", "match_rules": {"default": true}},
            {"name": "kimi", "protocol": "mock", "model": "kimi-k2", "match_rules": {"path_prefix": "/kimi"}}
        ]
    });
    dir.write("proxy.json", &config.to_string())
}

pub async fn doctor(config: &Path, home: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("-c")
        .arg(config)
        .arg("doctor")
        .arg("--codex-home")
        .arg(home)
        .args(extra);
    cmd.env_remove("CODEX_HOME").env_remove("DOCTOR_TEST_UNSET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("doctor hung")
        .unwrap()
}

/// Runs doctor with `--json` and returns the exit code and the parsed report.
pub async fn doctor_json(
    config: &Path,
    home: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = doctor(config, home, &args, env).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(!text.contains(SECRET), "a key was printed: {text}");
    (out.status.code().unwrap(), report)
}

pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check `{id}` in {report:#}"))
}

pub fn assert_check(report: &Value, id: &str, status: &str, needle: &str) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{id}: {c:#}");
    let message = c["message"].as_str().unwrap();
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{id}: message lacks `{needle}`: {message}"
    );
    if status != "ok" {
        assert!(
            c["fix"].as_str().is_some_and(|f| !f.is_empty()),
            "{id}: no fix: {c:#}"
        );
    }
}

pub async fn probe_backend(url: &str) -> (i32, Value) {
    let dir = TempDir::new("backend");
    let config = backend_config(&dir, url, SECRET);
    let home = dir.path().join("codex");
    doctor_json(&config, &home, &[], &[]).await
}

/// Starts the proxy binary on a free port with the mock config; killed on drop.
pub struct Proxy {
    _child: tokio::process::Child,
    pub url: String,
}

pub async fn start_proxy(dir: &TempDir) -> (Proxy, PathBuf) {
    let port = closed_port();
    let config = mock_config(dir, port);
    let child = tokio::process::Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{url}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (Proxy { _child: child, url }, config);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the proxy did not come up at {url}");
}
