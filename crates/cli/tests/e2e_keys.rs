//! End-to-end: `codex-convert-proxy keys` (the built binary) on the same store as a running
//! proxy (another process of the built binary). A created key serves requests at once; `list`
//! shows it without its secret; `update` and `revoke` reach the running proxy within about a
//! second — through its cache refresh on SQLite alone, and with `redis_url` through a revocation
//! notice in Redis (127.0.0.1:6379, .ci/start-redis.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const ADMIN_KEY: &str = "adm-e2e-keys-0123456789abcdef";
/// Where the governance counters' revoked set lives in Redis (prefix `ccp`, set `revoked`).
const REDIS_REVOKED_SET: &str = "ccprevoked";

/// The proxy's config: one backend at `upstream`, admin keys (so every request needs a key),
/// the store in `data_dir`; `extra` merged in.
fn config(upstream: &str, data_dir: &Path, extra: Value) -> Value {
    let mut config = one_backend(upstream, "upstream-model");
    config["admin_keys"] = json!([ADMIN_KEY]);
    config["data_dir"] = json!(data_dir.to_string_lossy());
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// Writes `config` (listen and log_dir filled in) for the `keys` command; its path.
fn write_cli_config(dir: &TempDir, config: &Value) -> PathBuf {
    let mut config = config.clone();
    config["listen"] = json!("127.0.0.1:0");
    config["log_dir"] = json!(dir.join("cli-logs").to_string_lossy());
    let path = dir.join("cli-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// Runs `codex-convert-proxy --config <config> keys <args…>`: (success, stdout, stderr).
fn keys(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .arg("--config")
        .arg(config)
        .arg("keys")
        .args(args)
        .output()
        .expect("run codex-convert-proxy keys");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `keys <args…> --json`, parsed; fails the test when the command fails.
fn keys_json(config: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = keys(config, &all);
    assert!(ok, "keys {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

async fn ask(proxy: &Proxy, key: &str) -> u16 {
    reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(key)
        .json(&json!({"model": "upstream-model", "input": "hi"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends a request every 50 ms until one answers `status` (the upstream answers any that get
/// through); how long that took. Fails after `limit`.
async fn until_status(
    proxy: &Proxy,
    upstream: &MockUpstream,
    key: &str,
    status: u16,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        upstream.push(Reply::completion_text("still here"));
        let got = ask(proxy, key).await;
        if got == status {
            eprintln!("{status} after {:?}", started.elapsed());
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {got} after {:?}, want {status}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a key with the CLI while `proxy` runs, uses it, lists it; (id, secret).
async fn create_and_use(cli: &Path, proxy: &Proxy, upstream: &MockUpstream) -> (String, String) {
    let (ok, stdout, stderr) = keys(
        cli,
        &[
            "create",
            "--name",
            "e2e-laptop",
            "--team",
            "eng",
            "--model",
            "upstream-model",
            "--rpm",
            "600",
        ],
    );
    assert!(ok, "{stderr}");
    let secret = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk-ccp-"))
        .unwrap_or_else(|| panic!("no secret printed: {stdout}"))
        .to_owned();
    assert_eq!(stdout.matches(&secret).count(), 1, "printed once: {stdout}");
    let id = stdout
        .split_whitespace()
        .find(|w| w.starts_with("vk_"))
        .unwrap()
        .to_owned();

    upstream.push(Reply::completion_text("hello"));
    assert_eq!(ask(proxy, &secret).await, 200);

    let listing = keys_json(cli, &["list"]);
    let listed = listing["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {listing}"))
        .clone();
    assert_eq!(listed["name"], "e2e-laptop");
    assert_eq!(listed["status"], "active");
    assert_eq!(listed["rate_limits"]["rpm"], 600);
    let (ok, table, _) = keys(cli, &["list"]);
    assert!(
        ok && table.contains(&id) && table.contains("e2e-laptop"),
        "{table}"
    );
    for text in [listing.to_string(), table] {
        assert!(!text.contains(&secret), "the secret is listed: {text}");
    }
    (id, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_the_cli_reach_a_running_proxy_on_one_sqlite_store() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-e2e-keys");
    let config = config(&upstream.url(), &dir.join("data"), json!({}));
    let proxy = Proxy::start(config.clone());
    let cli = write_cli_config(&dir, &config);

    let (id, secret) = create_and_use(&cli, &proxy, &upstream).await;

    // A narrower allowlist reaches the running proxy when its cached copy refreshes.
    let updated = keys_json(&cli, &["update", &id, "--model", "other-model"]);
    assert_eq!(updated["models_allowed"], json!(["other-model"]));
    assert_eq!(
        updated["rate_limits"]["rpm"], 600,
        "untouched settings stay"
    );
    let took = until_status(&proxy, &upstream, &secret, 403, Duration::from_secs(3)).await;
    assert!(took <= Duration::from_millis(1_500), "update took {took:?}");

    // Revoked: refused within about a second (no Redis: the cache refresh).
    let (ok, stdout, stderr) = keys(&cli, &["revoke", &id]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Revoked") && stdout.contains("no redis_url"),
        "{stdout}"
    );
    let took = until_status(&proxy, &upstream, &secret, 401, Duration::from_secs(3)).await;
    assert!(
        took <= Duration::from_millis(1_500),
        "revocation took {took:?}"
    );
    let shown = keys_json(&cli, &["show", &id]);
    assert_eq!(shown["status"], "revoked");

    // Errors name what is wrong and exit non-zero.
    let (ok, _, stderr) = keys(&cli, &["revoke", "vk_missing"]);
    assert!(!ok && stderr.contains("vk_missing"), "{stderr}");
    let (ok, _, stderr) = keys(&cli, &["create", "--name", "x", "--budget", "key:year:5"]);
    assert!(!ok && stderr.contains("budgets[0].window"), "{stderr}");
    let (ok, _, stderr) = keys(&cli, &["create"]);
    assert!(!ok && stderr.contains("name"), "{stderr}");

    assert!(
        !proxy.all_logs().contains(&secret),
        "the secret reached the proxy's logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_cli_sends_the_revocation_notice() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-e2e-keys");
    let config = config(
        &upstream.url(),
        &dir.join("data"),
        json!({"redis_url": "redis://127.0.0.1:6379"}),
    );
    let proxy = Proxy::start(config.clone());
    let cli = write_cli_config(&dir, &config);
    let (id, secret) = create_and_use(&cli, &proxy, &upstream).await;

    let (ok, stdout, stderr) = keys(&cli, &["revoke", &id]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("through Redis"), "{stdout}");
    let took = until_status(&proxy, &upstream, &secret, 401, Duration::from_secs(3)).await;
    assert!(took <= Duration::from_secs(1), "revocation took {took:?}");

    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let member: bool = redis::cmd("SISMEMBER")
        .arg(REDIS_REVOKED_SET)
        .arg(&id)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(member, "{id} is not in Redis' revoked set");
    assert!(!proxy.all_logs().contains(&secret));
}
