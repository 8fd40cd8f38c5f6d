//! Checks that need this proxy running: reachability and WebSocket.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_config_against_the_running_proxy_is_healthy() {
    let dir = TempDir::new("healthy");
    let (proxy, config) = start_proxy(&dir).await;
    let home = dir.path().join("codex");
    let gen = tokio::process::Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["codex-config", "--write", "--codex-home"])
        .arg(&home)
        .args(["--proxy-url", &proxy.url])
        .output()
        .await
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );

    let (code, report) = doctor_json(
        &config,
        &home,
        &["--proxy-url", &proxy.url],
        &[("CODEX_PROXY_KEY", "anything")],
    )
    .await;
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(code, 0);
    assert_check(
        &report,
        "codex.provider.proxy.reaches_proxy",
        "ok",
        "reaches codex-convert-proxy",
    );
    assert_check(
        &report,
        "codex.provider.proxy-kimi.reaches_proxy",
        "ok",
        "/kimi/v1",
    );
    assert_check(
        &report,
        "codex.provider.proxy.websocket",
        "ok",
        "accepts WebSocket",
    );
    assert_check(&report, "codex.profile.kimi", "ok", "proxy-kimi");
    assert_check(&report, "codex.catalog", "ok", "2 model(s)");

    // Human output: one ✓ line per check, and the summary.
    let out = doctor(
        &config,
        &home,
        &["--proxy-url", &proxy.url],
        &[("CODEX_PROXY_KEY", "anything")],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("✓ codex.provider.proxy.websocket")),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with('✗')), "{text}");
    assert!(text.contains("no problems found"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_that_does_not_reach_the_proxy() {
    let dir = TempDir::new("notproxy");
    let (proxy, config) = start_proxy(&dir).await;
    let other = fake(Fake::NotFound).await;
    let dead = closed_port();
    let body = format!(
        r#"
model_provider = "elsewhere"
[model_providers.elsewhere]
base_url = "http://127.0.0.1:{other}/v1"
[model_providers.unused]
base_url = "http://127.0.0.1:{other}/v1"
[model_providers.down]
base_url = "http://127.0.0.1:{dead}/v1"
[model_providers.right]
base_url = "{}/v1"
"#,
        proxy.url
    );
    dir.write("codex/config.toml", &body);
    let (code, report) = doctor_json(
        &config,
        &dir.path().join("codex"),
        &["--proxy-url", &proxy.url],
        &[],
    )
    .await;
    assert_check(
        &report,
        "codex.provider.elsewhere.reaches_proxy",
        "fail",
        "does not reach codex-convert-proxy",
    );
    assert_check(
        &report,
        "codex.provider.unused.reaches_proxy",
        "warn",
        "does not reach",
    );
    assert_check(
        &report,
        "codex.provider.down.reaches_proxy",
        "warn",
        "does not answer",
    );
    assert_check(
        &report,
        "codex.provider.right.reaches_proxy",
        "ok",
        "reaches",
    );
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_claimed_but_not_served() {
    let dir = TempDir::new("nows");
    let config = backend_config(&dir, "http://127.0.0.1:1/v1", SECRET);
    let port = fake(Fake::ProxyWithoutWebSocket).await;
    let plain = fake(Fake::NotFound).await;
    let body = format!(
        r#"
model_provider = "p"
[model_providers.p]
base_url = "http://127.0.0.1:{port}/v1"
supports_websockets = true
[model_providers.q]
base_url = "http://127.0.0.1:{plain}/v1"
supports_websockets = true
"#
    );
    dir.write("codex/config.toml", &body);
    let (code, report) = doctor_json(
        &config,
        &dir.path().join("codex"),
        &["--proxy-url", &format!("http://127.0.0.1:{port}")],
        &[],
    )
    .await;
    assert_check(&report, "codex.provider.p.reaches_proxy", "ok", "reaches");
    assert_check(&report, "codex.provider.p.websocket", "fail", "426");
    assert!(check(&report, "codex.provider.p.websocket")["fix"]
        .as_str()
        .unwrap()
        .contains("supports_websockets = false"));
    assert_check(&report, "codex.provider.q.websocket", "fail", "404");
    assert_eq!(code, 1);
}
