//! End-to-end: the operator console (issue 15) in a real headless Chromium, driven through
//! chromedriver (WebDriver), against the built binary. A wrong admin key is refused; with the
//! right one the console shows a request the test makes within 2 s, creates a key (the secret
//! shown once) that then works, edits its limits and revokes it (it then gets 401), and the
//! spend chart draws bars. Each page is screenshotted (into `docs/console/` with
//! `CCP_UPDATE_SCREENSHOTS=1`, else into the test's temporary directory).
//!
//! A second test checks that no key, and without `log_body` no prompt or completion text, shows
//! up in the console's JSON or the usage records (the `usage --json` command).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccp_testkit::locate::{chromium, workspace_root, TempDir};
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const ADMIN_KEY: &str = "ccp-e2e-admin-key-0123456789abcdef";
const TEAM_KEY: &str = "sk-ccp-e2e-team-key-000000000042";
const PROMPT_CANARY: &str = "PROMPT-CANARY-7f3a";
const COMPLETION_CANARY: &str = "COMPLETION-CANARY-91bd";

fn config(upstream: &str, log_body: bool) -> Value {
    json!({
        "log_body": log_body,
        "backends": [
            {"name": "main", "url": upstream, "api_key": UPSTREAM_KEY, "model": "kimi-k2.6",
             "protocol": "openai", "match_rules": {"default": true}},
            {"name": "spare", "url": upstream, "api_key": UPSTREAM_KEY, "model": "glm-4.6",
             "protocol": "openai", "max_retries": 0, "match_rules": {"models": ["glm-*"]}}
        ],
        "model_groups": [{"model": "gpt-4o", "backends": ["spare", "main"], "on": ["5xx"],
                          "cooldown_secs": 600}],
        "pricing": {"*": {"input_per_mtok": 2000.0, "output_per_mtok": 8000.0}},
        "client_keys": [CLIENT_KEY],
        "admin_keys": [ADMIN_KEY],
        "virtual_keys": [{"name": "team", "key": TEAM_KEY, "principal": "alice", "team": "core"}]
    })
}

/// chromedriver on a free port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(dir: &TempDir) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("chromedriver.log")).unwrap();
        let child = Command::new(&chromium().driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    async fn browser(&self) -> Client {
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium().browser.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,800",
                         "--hide-scrollbars", "--lang=en-US"]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go.
fn shots_dir(dir: &TempDir) -> PathBuf {
    if std::env::var_os("CCP_UPDATE_SCREENSHOTS").is_some() {
        let d = workspace_root().join("docs").join("console");
        std::fs::create_dir_all(&d).unwrap();
        d
    } else {
        dir.join("screenshots")
    }
}

async fn shot(c: &Client, dir: &std::path::Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{name}: not a real screenshot"
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Evaluates `script` (a function body) until it returns true, or fails after `timeout`.
async fn wait_true(c: &Client, script: &str, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        if c.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// One streamed Responses request with `key` and this request id; its status.
async fn respond(proxy: &Proxy, key: &str, request_id: &str) -> u16 {
    respond_with(proxy, key, request_id, "kimi-k2.6").await
}

async fn respond_with(proxy: &Proxy, key: &str, request_id: &str, model: &str) -> u16 {
    let body = json!({"model": model, "input": format!("say hi {PROMPT_CANARY}"), "stream": true});
    let resp = reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(key)
        .header("x-request-id", request_id)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium_login_live_requests_keys_spend_backends() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let proxy = Proxy::start(config(&upstream.url(), true));
    let dir = TempDir::new("console-e2e");
    let shots = shots_dir(&dir);
    let driver = Driver::start(&dir);
    let c = driver.browser().await;
    c.set_window_size(1280, 800).await.unwrap();

    // Earlier traffic, so every page has something to show.
    for (i, key) in [CLIENT_KEY, TEAM_KEY, TEAM_KEY].iter().enumerate() {
        upstream.push(Reply::text_stream(&format!(
            "Hello {i}. {COMPLETION_CANARY}"
        )));
        assert_eq!(respond(&proxy, key, &format!("warmup-{i}")).await, 200);
    }
    // A model group whose first backend fails: the request falls back, the backend cools down.
    upstream.push(Reply::json(
        503,
        json!({"error": {"message": "the spare upstream is overloaded", "type": "server_error"}}),
    ));
    upstream.push(Reply::text_stream("Served by the fallback."));
    assert_eq!(
        respond_with(&proxy, CLIENT_KEY, "fell-back", "gpt-4o").await,
        200
    );

    // A wrong admin key is refused and the console stays closed.
    c.goto(&proxy.url("/admin")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#admin-key"))
        .await
        .unwrap();
    shot(&c, &shots, "login").await;
    type_into(&c, "#admin-key", "not-the-admin-key-000000").await;
    click(&c, "#login-button").await;
    wait_true(
        &c,
        "return document.getElementById('login-error').textContent.length > 0",
        Duration::from_secs(5),
        "the refusal",
    )
    .await;
    assert!(text_of(&c, "#login-error").await.contains("refused"));
    assert_eq!(
        c.execute("return document.getElementById('app').hidden", vec![])
            .await
            .unwrap(),
        Value::Bool(true)
    );

    // The right one opens it.
    type_into(&c, "#admin-key", ADMIN_KEY).await;
    click(&c, "#login-button").await;
    wait_true(
        &c,
        "return document.querySelectorAll('#overview-cards .card').length >= 8",
        Duration::from_secs(5),
        "the overview",
    )
    .await;

    // The live list: a request made now shows up within 2 s, without a reload.
    click(&c, "a[data-page=requests]").await;
    wait_true(
        &c,
        "return document.querySelector('#requests-body tr[data-request-id=\"warmup-2\"]') !== null",
        Duration::from_secs(5),
        "the earlier requests",
    )
    .await;
    let id = format!("console-e2e-{}", fastrand::u32(..));
    upstream.push(Reply::text_stream(&format!("Fresh. {COMPLETION_CANARY}")));
    let made = Instant::now();
    assert_eq!(respond(&proxy, TEAM_KEY, &id).await, 200);
    wait_true(
        &c,
        &format!(
            "return document.querySelector('#requests-body tr[data-request-id=\"{id}\"]') !== null"
        ),
        Duration::from_secs(2),
        "the new request in the live list (2 s)",
    )
    .await;
    let seen_after = made.elapsed();
    assert!(seen_after < Duration::from_secs(2), "{seen_after:?}");
    // Its detail: the converted upstream request and the events (log_body is on here).
    click(&c, &format!("#requests-body tr[data-request-id=\"{id}\"]")).await;
    wait_true(
        &c,
        "return document.getElementById('detail-events').textContent.includes('response.completed')",
        Duration::from_secs(5),
        "the request's detail",
    )
    .await;
    let upstream_body = text_of(&c, "#detail-upstream").await;
    assert!(upstream_body.contains("\"messages\""), "{upstream_body}");
    assert!(!upstream_body.contains(UPSTREAM_KEY) && !upstream_body.contains(TEAM_KEY));
    shot(&c, &shots, "requests").await;

    c.goto(&proxy.url("/admin#overview")).await.unwrap();
    wait_true(
        &c,
        "return document.querySelectorAll('#chart-traffic rect.bar[height]').length > 0 && [...document.querySelectorAll('#chart-traffic rect.bar')].some(r => Number(r.getAttribute('height')) > 0)",
        Duration::from_secs(5),
        "the traffic chart",
    )
    .await;
    shot(&c, &shots, "overview").await;

    // Keys: create (the secret shown once), use it, edit its limits, revoke it.
    click(&c, "a[data-page=keys]").await;
    c.wait()
        .for_element(Locator::Css("#keys-body tr"))
        .await
        .unwrap();
    type_into(&c, "#key-name", "e2e-laptop").await;
    type_into(&c, "#key-principal", "bob").await;
    type_into(&c, "#key-rpm", "60").await;
    type_into(&c, "#key-budget", "5").await;
    click(&c, "#key-submit").await;
    wait_true(
        &c,
        "return document.getElementById('key-secret').textContent.length > 16",
        Duration::from_secs(5),
        "the new key's secret",
    )
    .await;
    let secret = text_of(&c, "#key-secret").await;
    upstream.push(Reply::text_stream("Hi from the new key."));
    assert_eq!(respond(&proxy, &secret, "new-key-1").await, 200);
    click(&c, "#key-secret-hide").await;
    wait_true(
        &c,
        "return [...document.querySelectorAll('#keys-body tr')].some(r => r.textContent.includes('e2e-laptop'))",
        Duration::from_secs(5),
        "the new key's row",
    )
    .await;
    let key_id: String = c
        .execute(
            "return [...document.querySelectorAll('#keys-body tr')].find(r => r.textContent.includes('e2e-laptop')).dataset.keyId",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let key_row = format!("#keys-body tr[data-key-id=\"{key_id}\"]");
    click(&c, &format!("{key_row} button.edit")).await;
    type_into(&c, "#key-rpm", "120").await;
    click(&c, "#key-submit").await;
    wait_true(
        &c,
        &format!("const r = document.querySelector('{key_row}'); return r !== null && r.textContent.includes('120 rpm')"),
        Duration::from_secs(5),
        "the edited limits",
    )
    .await;
    shot(&c, &shots, "keys").await;
    click(&c, &format!("{key_row} button.revoke")).await;
    click(&c, &format!("{key_row} button.revoke")).await;
    wait_true(
        &c,
        &format!("const r = document.querySelector('{key_row}'); return r !== null && r.dataset.status === 'revoked'"),
        Duration::from_secs(5),
        "the revocation",
    )
    .await;
    assert_eq!(respond(&proxy, &secret, "revoked-1").await, 401);

    // Spend: the per-day charts draw bars (usage records are written every half second).
    tokio::time::sleep(Duration::from_millis(800)).await;
    click(&c, "a[data-page=spend]").await;
    wait_true(
        &c,
        "return ['chart-by-key', 'chart-by-model'].every(id => [...document.querySelectorAll('#' + id + ' rect.bar')].some(r => Number(r.getAttribute('height')) > 0))",
        Duration::from_secs(5),
        "the spend charts",
    )
    .await;
    let legend = text_of(&c, "#legend-by-key").await;
    assert!(
        legend.contains("cfg:team") && legend.contains("client-key-0"),
        "{legend}"
    );
    shot(&c, &shots, "spend").await;

    click(&c, "a[data-page=backends]").await;
    wait_true(
        &c,
        "const spare = document.querySelector('.backend[data-backend=spare]'); \
         return spare !== null && spare.textContent.includes('cooling down') \
             && spare.textContent.includes('the spare upstream is overloaded')",
        Duration::from_secs(5),
        "the cooling backend with its error",
    )
    .await;
    shot(&c, &shots, "backends").await;

    c.close().await.unwrap();
}

/// The console's JSON and the usage records never carry a key and, without `log_body`, no
/// prompt or completion text; with `log_body` the detail does carry the text (so the first
/// half of this test can fail), still without keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_or_content_in_usage_records_or_console_json() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    for log_body in [false, true] {
        let proxy = Proxy::start(config(&upstream.url(), log_body));
        for (i, key) in [CLIENT_KEY, TEAM_KEY].iter().enumerate() {
            upstream.push(Reply::text_stream(&format!("Answer {COMPLETION_CANARY}")));
            assert_eq!(respond(&proxy, key, &format!("leak-{i}")).await, 200);
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        let admin = reqwest::Client::new();
        let get = |path: &str| admin.get(proxy.url(path)).bearer_auth(ADMIN_KEY).send();
        let mut console = String::new();
        for path in [
            "/admin/v1/overview",
            "/admin/v1/requests",
            "/admin/v1/requests/leak-0",
            "/admin/v1/requests/leak-1",
            "/admin/v1/backends/health",
            "/admin/v1/usage/daily?days=2",
        ] {
            let resp = get(path).await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            console.push_str(&resp.text().await.unwrap());
        }
        // The records themselves, through the `usage` command.
        let out = Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
            .arg("--config")
            .arg(proxy.dir.join("config.json"))
            .args(["usage", "--json", "--days", "2"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["total"]["requests"], 2, "{report}");
        assert!(
            report["total"]["cost_micro_usd"].as_u64().unwrap() > 0,
            "{report}"
        );
        let keys: Vec<&str> = report["by_key"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert!(
            keys.contains(&"cfg:team") && keys.contains(&"client-key-0"),
            "{report}"
        );
        let records = String::from_utf8_lossy(&out.stdout).into_owned();
        for secret in [CLIENT_KEY, TEAM_KEY, UPSTREAM_KEY, ADMIN_KEY] {
            assert!(!console.contains(secret), "{secret} in the console JSON");
            assert!(!records.contains(secret), "{secret} in the usage records");
        }
        assert!(!records.contains(PROMPT_CANARY) && !records.contains(COMPLETION_CANARY));
        let content = console.contains(PROMPT_CANARY) && console.contains(COMPLETION_CANARY);
        assert_eq!(
            content, log_body,
            "prompt and completion text in the console JSON only with log_body"
        );
    }
}
