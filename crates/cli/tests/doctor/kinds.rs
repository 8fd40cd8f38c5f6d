//! Probes of the `responses` and `codex` kinds: one test per detection.

use serde_json::json;

use crate::support::*;

/// A proxy config with one backend of `protocol` and these extra fields.
fn kind_config(dir: &TempDir, backend: serde_json::Value) -> std::path::PathBuf {
    let mut b = json!({"name": "up", "model": "m1", "connect_timeout_secs": 3,
                       "match_rules": {"default": true}});
    for (k, v) in backend.as_object().unwrap() {
        b[k] = v.clone();
    }
    let config = json!({
        "listen": "127.0.0.1:18999",
        "log_dir": dir.path().join("logs").display().to_string(),
        "backends": [b]
    });
    dir.write("proxy.json", &config.to_string())
}

async fn run(dir: &TempDir, backend: serde_json::Value) -> (i32, serde_json::Value) {
    let config = kind_config(dir, backend);
    doctor_json(&config, &dir.path().join("codex"), &[], &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_backend_answering_responses_is_ok() {
    let port = fake(Fake::ResponsesOnly).await;
    let dir = TempDir::new("resp-ok");
    let (code, report) = run(
        &dir,
        json!({"protocol": "responses", "url": format!("http://127.0.0.1:{port}/v1"), "api_key": SECRET}),
    )
    .await;
    assert_check(&report, "backend.up", "ok", "Responses API");
    assert_eq!(code, 0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_backend_that_is_chat_only_is_a_protocol_mismatch() {
    let port = fake(Fake::ChatOk).await;
    let dir = TempDir::new("resp-chat");
    let (code, report) = run(
        &dir,
        json!({"protocol": "responses", "url": format!("http://127.0.0.1:{port}/v1"), "api_key": SECRET}),
    )
    .await;
    assert_check(
        &report,
        "backend.up",
        "fail",
        "speaks only Chat Completions",
    );
    let fix = check(&report, "backend.up")["fix"].as_str().unwrap();
    assert!(fix.contains("\"protocol\": \"chat\""), "{fix}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_backend_that_is_responses_only_says_to_use_protocol_responses() {
    let port = fake(Fake::ResponsesOnly).await;
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "protocol mismatch");
    let fix = check(&report, "backend.up")["fix"].as_str().unwrap();
    assert!(fix.contains("\"protocol\": \"responses\""), "{fix}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_url_with_responses_doubled_is_a_config_problem() {
    let dir = TempDir::new("resp-double");
    let (code, report) = run(
        &dir,
        json!({"protocol": "responses", "url": "http://127.0.0.1:9/v1/responses/responses", "api_key": SECRET}),
    )
    .await;
    let text = report.to_string();
    assert!(text.contains("repeats /responses"), "{report:#}");
    assert!(text.contains("backends[0].url"), "{report:#}");
    assert_eq!(code, 1);
}

fn jwt(exp: u64) -> String {
    ccp_testkit::fake_jwt(
        json!({"exp": exp, "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1"}}),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_backend_with_a_missing_auth_file_fails_naming_codex_login() {
    let dir = TempDir::new("codex-missing");
    let missing = dir.path().join("nowhere").join("auth.json");
    let (code, report) = run(
        &dir,
        json!({"protocol": "codex", "url": "http://127.0.0.1:9", "auth_file": missing.display().to_string()}),
    )
    .await;
    let text = report.to_string();
    assert!(text.contains("codex login"), "{report:#}");
    assert!(text.contains("nowhere"), "{report:#}");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_backend_expired_without_refresh_token_cannot_be_refreshed() {
    let dir = TempDir::new("codex-expired");
    let auth = json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null,
        "tokens": {"id_token": jwt(now() + 3600), "access_token": jwt(now() - 60), "refresh_token": "", "account_id": "acct-1"},
        "last_refresh": "2026-01-01T00:00:00Z"});
    let file = dir.write("auth.json", &auth.to_string());
    let (code, report) = run(
        &dir,
        json!({"protocol": "codex", "url": "http://127.0.0.1:9", "auth_file": file.display().to_string()}),
    )
    .await;
    let text = report.to_string();
    // An expired token without a refresh token cannot be refreshed: the login is unusable.
    assert!(text.contains("no usable Codex login"), "{report:#}");
    assert!(text.contains("refresh_token"), "{report:#}");
    assert!(text.contains("codex login"), "{report:#}");
    assert_eq!(code, 1, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_backend_with_a_usable_login_is_ok_without_calling_the_backend() {
    let port = fake(Fake::NotFound).await;
    let dir = TempDir::new("codex-ok");
    let auth = json!({"auth_mode": "chatgpt", "OPENAI_API_KEY": null,
        "tokens": {"id_token": jwt(now() + 3600), "access_token": jwt(now() - 60), "refresh_token": "rt-1", "account_id": "acct-1"},
        "last_refresh": "2026-01-01T00:00:00Z"});
    let file = dir.write("auth.json", &auth.to_string());
    let (code, report) = run(
        &dir,
        json!({"protocol": "codex", "url": format!("http://127.0.0.1:{port}"), "auth_file": file.display().to_string()}),
    )
    .await;
    assert_check(
        &report,
        "backend.up",
        "ok",
        "refreshes it at the first request",
    );
    assert!(!report.to_string().contains("rt-1"), "{report:#}");
    assert_eq!(code, 0, "{report:#}");
}
