//! The admin API (issue 14) through the whole app: keys created over HTTP serve model requests
//! until changed or revoked, only admin keys open it, it is off without them, bad input names
//! its field, spend and usage reports, backends without credentials, and an OpenAPI document
//! that describes exactly the routes served. No secret reaches a log line, a listing or an
//! error. The store is a SQLite file in a temporary `data_dir`; the upstream is the strict
//! Chat Completions mock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};
use tracing_subscriber::filter::LevelFilter;

const ADMIN_KEY: &str = "adm-test-key-0123456789abcdef";
const CONFIG_VK: &str = "sk-ccp-test-config-vk-000000001";

/// One backend `main` at `upstream` (and `other`, never called, whose URL carries
/// credentials); the client key, a config virtual key, one USD per token; `extra` merged in.
fn config(upstream: &str, dir: &TempDir, extra: Value) -> String {
    let mut config = json!({
        "listen": "127.0.0.1:0",
        "log_dir": dir.join("logs").to_string_lossy(),
        "data_dir": dir.join("data").to_string_lossy(),
        "client_keys": [CLIENT_KEY],
        "admin_keys": [ADMIN_KEY],
        "backends": [
            {"name": "main", "url": upstream, "api_key": UPSTREAM_KEY, "model": "upstream-model",
             "protocol": "openai", "match_rules": {"default": true}},
            {"name": "other", "url": "https://user:sk-url-secret-000000@api.example.com/v1",
             "model": "other-model", "protocol": "openai",
             "match_rules": {"models": ["other-*"]}}
        ],
        "pricing": {"*": {"input_per_mtok": 1000000.0, "output_per_mtok": 1000000.0}},
        "virtual_keys": [{"name": "cfg-dev", "key": CONFIG_VK, "team": "eng"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

async fn start_admin(upstream: &MockUpstream, dir: &TempDir) -> App {
    start_opened(&config(&upstream.url(), dir, json!({}))).await
}

/// Sends `method path` with `key` as bearer and `body` as JSON; (status, JSON body, raw text).
async fn call(
    app: &App,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text)
}

async fn admin(app: &App, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, json, _) = call(app, method, path, Some(ADMIN_KEY), body).await;
    (status, json)
}

/// A model request with `key`: the status and body.
async fn ask(app: &App, model: &str, key: &str) -> (u16, Value) {
    let resp = post_json(
        &app.url("/v1/responses"),
        &json!({"model": model, "input": "hi"}),
        Some(key),
    )
    .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An OpenAI-shaped error with this status and code; its message.
fn expect_error(status: u16, body: &Value, want_status: u16, code: &str) -> String {
    assert_eq!(status, want_status, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    for field in ["message", "type", "code", "param"] {
        assert!(error.get(field).is_some(), "no `{field}` in {body}");
    }
    error["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_key_serves_requests_until_changed_and_revoked() {
    let logs = captured_logs(LevelFilter::DEBUG);
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;

    let (status, created) = admin(
        &app,
        "POST",
        "/admin/v1/keys",
        Some(
            json!({"name": "eng-laptop-1", "principal": "dev1@example.com", "team": "eng",
                    "models_allowed": ["upstream-model"], "metadata": {"ticket": "OPS-7"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-ccp-"), "{created}");
    assert!(id.starts_with("vk_"), "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["metadata"]["ticket"], "OPS-7");

    // The new key is a client key at once.
    upstream.push(Reply::completion_text("hello"));
    let (status, body) = ask(&app, "upstream-model", &secret).await;
    assert_eq!(status, 200, "{body}");

    // Listed and shown without the secret or any hash of it.
    let (status, listing, text) = call(&app, "GET", "/admin/v1/keys", Some(ADMIN_KEY), None).await;
    assert_eq!(status, 200);
    let keys = listing["data"].as_array().unwrap();
    let listed = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(listed["name"], "eng-laptop-1");
    assert!(keys
        .iter()
        .any(|k| k["id"] == "cfg:cfg-dev" && k["source"] == "config"));
    for k in keys {
        assert!(k.get("key").is_none() && k.get("key_hash").is_none(), "{k}");
    }
    assert!(
        !text.contains(&secret) && !text.contains(CONFIG_VK),
        "{text}"
    );
    let stored = app
        .gateway
        .governor()
        .store()
        .unwrap()
        .virtual_key(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !text.contains(&stored.key_hash),
        "the hash is listed: {text}"
    );
    let (status, shown, text) = call(
        &app,
        "GET",
        &format!("/admin/v1/keys/{id}"),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(shown["principal"], "dev1@example.com");
    assert!(!text.contains(&secret) && !text.contains(&stored.key_hash));

    // Narrowing its models takes effect on the next request.
    let (status, updated) = admin(
        &app,
        "PATCH",
        &format!("/admin/v1/keys/{id}"),
        Some(json!({"models_allowed": ["other-model"], "rate_limits": {"rpm": 100}})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["models_allowed"], json!(["other-model"]));
    assert_eq!(
        updated["principal"], "dev1@example.com",
        "absent fields stay"
    );
    assert!(updated.get("key").is_none());
    let (status, body) = ask(&app, "upstream-model", &secret).await;
    expect_error(status, &body, 403, "model_not_allowed");

    // Revoked: refused on the next request; revoking again changes nothing.
    let (status, revoked) = admin(&app, "DELETE", &format!("/admin/v1/keys/{id}"), None).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    let revoked_at = revoked["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{revoked}");
    let (status, body) = ask(&app, "upstream-model", &secret).await;
    let message = expect_error(status, &body, 401, "invalid_api_key");
    assert!(message.contains("revoked"), "{message}");
    assert!(!body.to_string().contains(&secret), "{body}");
    let (status, again) = admin(&app, "DELETE", &format!("/admin/v1/keys/{id}"), None).await;
    assert_eq!((status, &again["revoked_at"]), (200, &revoked_at));

    // Unknown ids are 404s naming the id.
    let (status, body) = admin(&app, "GET", "/admin/v1/keys/vk_nope", None).await;
    let message = expect_error(status, &body, 404, "key_not_found");
    assert!(message.contains("vk_nope"), "{message}");
    let (status, body) = admin(&app, "DELETE", "/admin/v1/keys/vk_nope", None).await;
    expect_error(status, &body, 404, "key_not_found");

    assert_eq!(upstream.requests().len(), 1);
    let text = logs.text();
    assert!(text.contains("virtual key created"), "no audit line");
    assert!(
        text.contains("admin=admin-key-0"),
        "no admin identity in the audit line"
    );
    for secret in [secret.as_str(), ADMIN_KEY, CONFIG_VK] {
        assert!(!text.contains(secret), "a secret reached the logs");
    }
    assert_no_keys(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_keys_open_the_admin_api() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;
    let (_, created) = admin(&app, "POST", "/admin/v1/keys", Some(json!({"name": "t"}))).await;
    let created_secret = created["key"].as_str().unwrap().to_owned();

    let (status, body, _) = call(&app, "GET", "/admin/v1/keys", None, None).await;
    let message = expect_error(status, &body, 401, "invalid_api_key");
    assert!(message.contains("admin key"), "{message}");
    let (status, body, _) = call(
        &app,
        "GET",
        "/admin/v1/keys",
        Some("adm-wrong-key-000000000000"),
        None,
    )
    .await;
    expect_error(status, &body, 401, "invalid_api_key");

    let cases = [
        (CLIENT_KEY, "client key"),
        (CONFIG_VK, "virtual key `cfg-dev`"),
        (created_secret.as_str(), "virtual key `t`"),
    ];
    for (key, says) in cases {
        for (method, path) in [
            ("GET", "/admin/v1/keys"),
            ("POST", "/admin/v1/keys"),
            ("GET", "/admin/v1/spend"),
        ] {
            let (status, body, text) =
                call(&app, method, path, Some(key), Some(json!({"name": "x"}))).await;
            let message = expect_error(status, &body, 403, "admin_key_required");
            assert!(message.contains(says), "{message}");
            assert!(!text.contains(key), "the key is echoed: {text}");
        }
    }
    // `x-api-key` is a client's header, not the admin API's.
    let resp = reqwest::Client::new()
        .get(app.url("/admin/v1/keys"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // And an admin key is never a client key.
    let (status, body) = ask(&app, "upstream-model", ADMIN_KEY).await;
    expect_error(status, &body, 401, "invalid_api_key");
    // Nothing was created by the refused calls.
    let (_, listing) = admin(&app, "GET", "/admin/v1/keys", None).await;
    assert_eq!(listing["data"].as_array().unwrap().len(), 2, "{listing}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_off_without_admin_keys() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    // A non-loopback listen with client keys but no admin keys, and a loopback one with no keys.
    let wide = start_opened(&config(
        &upstream.url(),
        &dir,
        json!({"listen": "0.0.0.0:0", "admin_keys": []}),
    ))
    .await;
    let bare_dir = TempDir::new("ccp-admin");
    let bare = start_opened(
        &json!({
            "listen": "127.0.0.1:0",
            "log_dir": bare_dir.join("logs").to_string_lossy(),
            "data_dir": bare_dir.join("data").to_string_lossy(),
            "backends": [{"name": "main", "url": upstream.url(), "api_key": UPSTREAM_KEY,
                          "model": "upstream-model", "protocol": "openai",
                          "match_rules": {"default": true}}]
        })
        .to_string(),
    )
    .await;
    for app in [&wide, &bare] {
        for key in [None, Some(ADMIN_KEY), Some(CLIENT_KEY)] {
            for (method, path) in [
                ("GET", "/admin/v1/keys"),
                ("POST", "/admin/v1/keys"),
                ("GET", "/admin/v1/openapi.json"),
                ("GET", "/admin/v1/nothing-here"),
            ] {
                let (status, body, _) =
                    call(app, method, path, key, Some(json!({"name": "x"}))).await;
                let message = expect_error(status, &body, 404, "not_found");
                assert!(
                    message.starts_with("admin API disabled: set admin_keys"),
                    "{message}"
                );
            }
        }
    }
    // Client routes are unchanged.
    upstream.push(Reply::completion_text("hi"));
    assert_eq!(ask(&wide, "upstream-model", CLIENT_KEY).await.0, 200);
    assert_eq!(
        wide.gateway
            .governor()
            .store()
            .unwrap()
            .list_virtual_keys()
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;
    let (status, doc) = admin(&app, "GET", "/admin/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let documented = ccp_server::admin::openapi::operations(&doc);
    let mut served: Vec<(String, String)> = ccp_server::admin::route_table()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p))
        .collect();
    served.sort();
    assert_eq!(documented, served);

    // Each documented operation is answered by its handler, not by a route-level 404.
    let (_, created) = admin(
        &app,
        "POST",
        "/admin/v1/keys",
        Some(json!({"name": "probe"})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    // A request for the console's `requests/{request_id}`.
    upstream.push(Reply::completion_text("hi"));
    let resp = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("x-request-id", "probe-request")
        .json(&json!({"model": "upstream-model", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for (method, path) in &documented {
        let path = path
            .replace("{id}", id)
            .replace("{request_id}", "probe-request");
        let body = (method == "POST" || method == "PATCH").then(|| json!({"name": "probe-2"}));
        let (status, body) = admin(&app, method, &path, body).await;
        assert!(
            matches!(status, 200 | 201),
            "{method} {path}: {status} {body}"
        );
    }
    // What is not documented is not served.
    let (status, body) = admin(&app, "PUT", &format!("/admin/v1/keys/{id}"), None).await;
    let message = expect_error(status, &body, 404, "not_found");
    assert!(message.contains("PUT is not supported"), "{message}");
    let (status, body) = admin(&app, "GET", "/admin/v1/teams", None).await;
    let message = expect_error(status, &body, 404, "not_found");
    assert!(message.contains("openapi.json"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_naming_the_field() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;
    let creates = [
        (
            json!({"name": "x", "rate_limits": {"rpm": 0}}),
            "rate_limits.rpm",
        ),
        (
            json!({"name": "x", "rate_limits": {"rpm": "many"}}),
            "rate_limits.rpm",
        ),
        (
            json!({"name": "x", "budgets": [{"scope": "team", "window": "day", "limit_usd": 1}]}),
            "budgets[0].scope",
        ),
        (
            json!({"name": "x", "budgets": [{"scope": "key", "window": "year", "limit_usd": 1}]}),
            "budgets[0].window",
        ),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": 5}), "name"),
        (json!({"principal": "p"}), "name"),
        (
            json!({"name": "x", "models_allowed": [""]}),
            "models_allowed[0]",
        ),
    ];
    for (body, param) in creates {
        let (status, err) = admin(&app, "POST", "/admin/v1/keys", Some(body.clone())).await;
        let message = expect_error(status, &err, 400, "invalid_request");
        assert_eq!(err["error"]["param"], param, "{body} → {err}");
        assert!(
            message.contains(param.split('[').next().unwrap()),
            "{message}"
        );
    }
    // A secret cannot be chosen, and an unknown field is named.
    let (status, err) = admin(
        &app,
        "POST",
        "/admin/v1/keys",
        Some(json!({"name": "x", "key": "sk-ccp-chosen-by-me-00000000000"})),
    )
    .await;
    let message = expect_error(status, &err, 400, "invalid_request");
    assert!(message.contains("unknown field `key`"), "{message}");
    assert!(!err.to_string().contains("chosen-by-me"), "{err}");
    let resp = reqwest::Client::new()
        .post(app.url("/admin/v1/keys"))
        .bearer_auth(ADMIN_KEY)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (status, err) = admin(&app, "POST", "/admin/v1/keys", None).await;
    let message = expect_error(status, &err, 400, "invalid_request");
    assert!(message.contains("JSON object"), "{message}");

    // Config keys change in the config.
    let (status, err) = admin(
        &app,
        "PATCH",
        "/admin/v1/keys/cfg:cfg-dev",
        Some(json!({"team": "ops"})),
    )
    .await;
    expect_error(status, &err, 403, "config_key");
    let (status, err) = admin(&app, "DELETE", "/admin/v1/keys/cfg:cfg-dev", None).await;
    expect_error(status, &err, 403, "config_key");

    let queries = [
        ("/admin/v1/spend?group_by=colour", "group_by"),
        ("/admin/v1/spend?window=year", "window"),
        ("/admin/v1/spend?windw=day", "windw"),
        ("/admin/v1/spend?at=soon", "at"),
        ("/admin/v1/usage?limit=0", "limit"),
        ("/admin/v1/usage?limit=5000", "limit"),
        ("/admin/v1/usage?from=yesterday", "from"),
        ("/admin/v1/usage?from=200&to=100", "to"),
        ("/admin/v1/usage?key=a&key=b", "key"),
    ];
    for (path, param) in queries {
        let (status, err) = admin(&app, "GET", path, None).await;
        expect_error(status, &err, 400, "invalid_request");
        assert_eq!(err["error"]["param"], param, "{path} → {err}");
    }
    assert_eq!(
        app.gateway
            .governor()
            .store()
            .unwrap()
            .list_virtual_keys()
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_and_usage_report_the_ledger_and_usage_records() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;
    // A monthly key budget puts the key's spend in the ledger.
    let (_, created) = admin(
        &app,
        "POST",
        "/admin/v1/keys",
        Some(json!({"name": "spender", "team": "eng",
                    "budgets": [{"scope": "key", "window": "month", "limit_usd": 1000}]})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["key"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        upstream.push(Reply::completion_text("hello"));
        assert_eq!(ask(&app, "upstream-model", &secret).await.0, 200);
    }
    app.gateway.governor().flush_ledger().await;

    let (status, report) = admin(
        &app,
        "GET",
        "/admin/v1/spend?group_by=key&window=month",
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["group_by"], "key");
    let rows = report["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["group"], id.as_str());
    assert_eq!(rows[0]["name"], "spender");
    assert_eq!(rows[0]["source"], "ledger");
    assert_eq!(rows[0]["requests"], 2);
    // One USD a token; each answer's usage costs 11.
    assert_eq!(rows[0]["spend_micro_usd"], 22_000_000);
    assert_eq!(report["total_usd"], 22.0);
    // Another month holds nothing.
    let (_, earlier) = admin(
        &app,
        "GET",
        "/admin/v1/spend?window=month&at=2020-01-15T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(earlier["from"], "2020-01-01T00:00:00Z");
    assert_eq!(earlier["data"], json!([]));

    // Usage records (written here by hand: the gateway does not write them per request yet):
    // three on 2026-01-15 around noon UTC, one now.
    let store = app.gateway.governor().store().unwrap().clone();
    const NOON: i64 = 1_768_478_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let records = [
        ("req_1", NOON - 1, "upstream-model", 5_000_000u64),
        ("req_2", NOON - 2, "upstream-model", 1),
        ("req_3", NOON - 3, "glm-5", 7),
        ("req_now", now, "upstream-model", 1),
    ];
    for (request_id, at, model, cost) in records {
        store
            .insert_usage(&ccp_store::UsageRecord {
                request_id: request_id.into(),
                created_at: at,
                key_id: Some(id.clone()),
                principal: None,
                team: Some("eng".into()),
                backend: "main".into(),
                model: model.into(),
                input_tokens: 10,
                cached_input_tokens: 0,
                output_tokens: 1,
                reasoning_tokens: 0,
                cost_micro_usd: cost,
                latency_ms: 12,
                status: "completed".into(),
                cache: "miss".into(),
                fallback: 0,
            })
            .await
            .unwrap();
    }
    let (_, by_model) = admin(
        &app,
        "GET",
        &format!("/admin/v1/spend?group_by=model&window=day&at={NOON}"),
        None,
    )
    .await;
    assert_eq!(by_model["from"], "2026-01-15T00:00:00Z");
    let rows = by_model["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_model}");
    assert_eq!(rows[0]["group"], "upstream-model");
    assert_eq!(rows[0]["spend_micro_usd"], 5_000_001);
    assert_eq!(rows[0]["requests"], 2);
    assert_eq!(rows[0]["input_tokens"], 20);
    assert_eq!(rows[0]["source"], "usage_records");
    assert_eq!(rows[1]["group"], "glm-5");
    let (_, by_day) = admin(
        &app,
        "GET",
        "/admin/v1/spend?group_by=day&window=month&at=2026-01-31T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(by_day["data"].as_array().unwrap().len(), 1, "{by_day}");
    assert_eq!(by_day["data"][0]["group"], "2026-01-15");
    assert_eq!(by_day["data"][0]["requests"], 3);
    // This month the key's ledger row (22 USD) is larger than its usage records (1 micro-USD):
    // the ledger's figure stands. No team budget: the team's spend is the usage records'.
    let (_, by_key) = admin(&app, "GET", "/admin/v1/spend", None).await;
    assert_eq!(by_key["data"][0]["source"], "ledger", "{by_key}");
    assert_eq!(by_key["data"][0]["spend_micro_usd"], 22_000_000);
    let (_, by_team) = admin(&app, "GET", "/admin/v1/spend?group_by=team", None).await;
    assert_eq!(by_team["data"][0]["group"], "eng", "{by_team}");
    assert_eq!(by_team["data"][0]["source"], "usage_records");
    assert_eq!(by_team["data"][0]["spend_micro_usd"], 1);

    let (status, usage) = admin(
        &app,
        "GET",
        &format!("/admin/v1/usage?key={id}&limit=2"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    let listed = usage["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(usage["has_more"], true);
    assert_eq!(listed[0]["request_id"], "req_now", "newest first");
    assert_eq!(listed[1]["request_id"], "req_1");
    assert_eq!(listed[1]["cost_usd"], 5.0);
    assert_eq!(listed[1]["created_at"], "2026-01-15T11:59:59Z");
    let (_, none) = admin(&app, "GET", "/admin/v1/usage?key=vk_other", None).await;
    assert_eq!(none["data"], json!([]));
    assert_eq!(none["has_more"], false);
    let (_, window) = admin(
        &app,
        "GET",
        "/admin/v1/usage?from=2026-01-15T11:59:58Z&to=2026-01-15T11:59:59Z",
        None,
    )
    .await;
    assert_eq!(window["data"].as_array().unwrap().len(), 1, "{window}");
    assert_eq!(window["data"][0]["request_id"], "req_2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_are_listed_without_credentials() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-admin");
    let app = start_admin(&upstream, &dir).await;
    let (status, body, text) = call(&app, "GET", "/admin/v1/backends", Some(ADMIN_KEY), None).await;
    assert_eq!(status, 200);
    let backends = body["data"].as_array().unwrap();
    assert_eq!(backends.len(), 2);
    assert_eq!(backends[0]["name"], "main");
    assert_eq!(backends[0]["kind"], "chat");
    assert_eq!(backends[0]["models"], json!(["upstream-model"]));
    assert_eq!(backends[0]["has_api_key"], true);
    assert_eq!(backends[0]["match_rules"]["default"], true);
    assert_eq!(
        backends[1]["url"],
        "https://api.example.com/v1/chat/completions"
    );
    assert_eq!(backends[1]["match_rules"]["models"], json!(["other-*"]));
    assert!(
        !text.contains("sk-url-secret") && !text.contains("user:"),
        "{text}"
    );
    assert_no_keys(&text);
}
