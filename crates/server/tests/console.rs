//! The operator console through the whole app (issue 15): its page and endpoints need an admin
//! key, every finished request lands in the live list with its facts (a response-cache hit too,
//! at no cost) and, with a store, in `usage_records` in batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_store::UsageQuery;
use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

const ADMIN_KEY: &str = "ccp-test-admin-key-0123456789abcdef";

fn config(upstream: &str, extra: Value) -> String {
    let mut config: Value =
        serde_json::from_str(&backend_config(upstream, json!({"max_retries": 0}), true)).unwrap();
    config["admin_keys"] = json!([ADMIN_KEY]);
    config["pricing"] = json!({"*": {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

async fn admin_get(app: &App, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn ask(app: &App, stream: bool, request_id: &str) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("x-request-id", request_id)
        .json(&body(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

#[tokio::test]
async fn the_console_and_its_endpoints_need_an_admin_key() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let off = start(&backend_config(&upstream.url(), json!({}), true)).await;
    for path in ["/admin", "/admin/assets/console.js", "/admin/v1/overview"] {
        let (status, body) = admin_get(&off, path, Some(ADMIN_KEY)).await;
        assert_eq!(status, 404, "{path} without admin_keys: {body}");
    }

    let app = start(&config(&upstream.url(), json!({}))).await;
    let page = reqwest::get(app.url("/admin")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("/admin/assets/console.js") && !html.contains(ADMIN_KEY));
    for asset in ["console.js", "console.css"] {
        let resp = reqwest::get(app.url(&format!("/admin/assets/{asset}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
    }
    assert_eq!(admin_get(&app, "/admin/assets/x.js", None).await.0, 404);

    for path in [
        "/admin/v1/overview",
        "/admin/v1/requests",
        "/admin/v1/requests/x",
        "/admin/v1/backends/health",
        "/admin/v1/usage/daily",
    ] {
        for key in [None, Some("wrong-admin-key-000000000000"), Some(CLIENT_KEY)] {
            let (status, body) = admin_get(&app, path, key).await;
            assert!(
                status == 401 || status == 403,
                "{path} with {key:?}: {status} {body}"
            );
        }
    }
    let (status, overview) = admin_get(&app, "/admin/v1/overview", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["window_secs"], 60);
}

#[tokio::test]
async fn finished_requests_are_listed_with_their_facts_and_a_cache_hit_costs_nothing() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;
    upstream.push(Reply::text_stream("Hello there."));
    ask(&app, true, "first").await.text().await.unwrap();
    // The same request again: answered from the cache, the upstream not called.
    ask(&app, true, "again").await.text().await.unwrap();
    assert_eq!(upstream.chat_requests().len(), 1);

    let (_, list) = admin_get(&app, "/admin/v1/requests", Some(ADMIN_KEY)).await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    let (hit, miss) = (&data[0], &data[1]);
    assert_eq!(miss["request_id"], "first");
    assert_eq!(miss["client"], "client-key-0");
    assert_eq!(miss["backend"], "main");
    assert_eq!(miss["model"], "upstream-model");
    assert_eq!(miss["client_model"], "client-model");
    assert_eq!(miss["status"], 200);
    assert_eq!(miss["code"], "ok");
    assert_eq!(miss["cache"], "miss");
    assert_eq!(miss["input_tokens"], 10);
    assert!(miss["cost_micro_usd"].as_u64().unwrap() > 10_000, "{miss}");
    assert!(miss["ttft_ms"].is_u64(), "{miss}");
    assert_eq!(miss["has_bodies"], false);
    // The hit ends like an answer (not as a client that hung up), with the cached usage.
    assert_eq!(hit["request_id"], "again");
    assert_eq!(
        (hit["status"].clone(), hit["code"].clone()),
        (json!(200), json!("ok"))
    );
    assert_eq!(hit["cache"], "hit");
    assert_eq!(hit["input_tokens"], 10);
    assert_eq!(hit["cost_micro_usd"], 0);
    let metrics = app.gateway.telemetry().metrics().render();
    assert!(!metrics.contains("client_closed"), "{metrics}");

    // Polling after the newest seq gives nothing new; the detail is found by id.
    let last = list["last_seq"].as_u64().unwrap();
    let (_, newer) = admin_get(
        &app,
        &format!("/admin/v1/requests?after={last}"),
        Some(ADMIN_KEY),
    )
    .await;
    assert_eq!(newer["data"], json!([]));
    let (status, detail) = admin_get(&app, "/admin/v1/requests/first", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["upstream_request"], Value::Null);
    assert_eq!(detail["events"], json!([]));
    assert_eq!(
        admin_get(&app, "/admin/v1/requests/nope", Some(ADMIN_KEY))
            .await
            .0,
        404
    );

    let (_, overview) = admin_get(&app, "/admin/v1/overview", Some(ADMIN_KEY)).await;
    assert_eq!(overview["requests"], 2, "{overview}");
    assert_eq!(overview["since_start"]["requests"], 2);
    let (_, health) = admin_get(&app, "/admin/v1/backends/health", Some(ADMIN_KEY)).await;
    assert_eq!(health["data"][0]["name"], "main");
    assert_eq!(health["data"][0]["status"], "ok", "{health}");
    assert_eq!(health["data"][0]["requests"], 2);
}

#[tokio::test]
async fn an_upstream_failure_is_listed_under_its_backend() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let app = start(&config(&upstream.url(), json!({}))).await;
    upstream.push(Reply::json(
        500,
        json!({"error": {"message": "upstream exploded", "type": "server_error"}}),
    ));
    let resp = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("x-request-id", "boom")
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error());
    let (_, health) = admin_get(&app, "/admin/v1/backends/health", Some(ADMIN_KEY)).await;
    let main = &health["data"][0];
    assert_eq!(main["status"], "failing", "{health}");
    assert_eq!(main["errors"], 1);
    assert_eq!(main["recent_errors"][0]["request_id"], "boom");
    assert!(main["recent_errors"][0]["status"].as_u64().unwrap() >= 500);
    assert_no_keys(&health.to_string());
    let (_, overview) = admin_get(&app, "/admin/v1/overview", Some(ADMIN_KEY)).await;
    assert_eq!(overview["errors"], 1);
}

#[tokio::test]
async fn usage_records_reach_the_store_in_batches_and_the_daily_series() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("console-usage");
    let app = start_opened(&config(
        &upstream.url(),
        json!({"data_dir": dir.join("data").to_string_lossy()}),
    ))
    .await;
    for i in 0..3 {
        let stream = i % 2 == 0;
        if stream {
            upstream.push(Reply::text_stream("Hi."));
        } else {
            upstream.push(Reply::completion_text("Hi."));
        }
        ask(&app, stream, &format!("u{i}"))
            .await
            .text()
            .await
            .unwrap();
    }
    app.gateway.usage().flush().await;
    let store = app.gateway.governor().store().unwrap();
    let rows = store
        .list_usage(&UsageQuery {
            since: 0,
            until: i64::MAX,
            key_id: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.key_id.as_deref(), Some("client-key-0"));
        assert_eq!(
            (row.backend.as_str(), row.model.as_str()),
            ("main", "upstream-model")
        );
        assert_eq!(row.status, "completed");
        assert!(row.cost_micro_usd > 0);
    }
    let mut ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["u0", "u1", "u2"]);

    let (status, daily) = admin_get(&app, "/admin/v1/usage/daily?days=3", Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{daily}");
    assert_eq!(daily["days"].as_array().unwrap().len(), 3);
    assert_eq!(daily["by_key"][0]["name"], "client-key-0");
    assert_eq!(daily["by_key"][0]["requests"], json!([0, 0, 3]));
    assert_eq!(daily["by_model"][0]["name"], "upstream-model");
}

#[tokio::test]
async fn a_fallback_is_recorded_once_under_the_backend_that_answered() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let mut config: Value = serde_json::from_str(&config(&upstream.url(), json!({}))).unwrap();
    config["backends"].as_array_mut().unwrap().push(
        json!({"name": "spare", "url": upstream.url(), "api_key": UPSTREAM_KEY,
                     "model": "spare-model", "protocol": "openai", "max_retries": 0,
                     "match_rules": {"models": ["spare-*"]}}),
    );
    config["model_groups"] = json!([{"model": "client-model", "backends": ["spare", "main"],
                                     "on": ["5xx"], "cooldown_secs": 600}]);
    let app = start(&config.to_string()).await;
    upstream.push(Reply::json(
        503,
        json!({"error": {"message": "spare is overloaded", "type": "server_error"}}),
    ));
    upstream.push(Reply::text_stream("From main."));
    ask(&app, true, "fell-back").await.text().await.unwrap();

    let (_, list) = admin_get(&app, "/admin/v1/requests", Some(ADMIN_KEY)).await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "one request, one record: {list}");
    let r = &data[0];
    assert_eq!(
        (r["status"].clone(), r["code"].clone()),
        (json!(200), json!("ok")),
        "{r}"
    );
    assert_eq!(r["backend"], "main");
    assert_eq!(r["fallbacks"], 1);
    assert_eq!(
        r["output_tokens"].as_u64().map(|n| n > 0),
        Some(true),
        "{r}"
    );
    let metrics = app.gateway.telemetry().metrics().render();
    assert!(
        metrics.contains(
            r#"ccp_upstream_errors_total{backend="spare",code="server_is_overloaded"} 1"#
        ),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"status_class="5xx""#), "{metrics}");

    let (_, health) = admin_get(&app, "/admin/v1/backends/health", Some(ADMIN_KEY)).await;
    let spare = health["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "spare")
        .unwrap();
    assert_eq!(spare["status"], "cooling_down", "{health}");
    assert_eq!(spare["groups"][0]["state"], "cooling_down");
    assert!(spare["groups"][0]["cooldown_left_secs"].as_f64().unwrap() > 500.0);
    assert_eq!(spare["recent_errors"][0]["request_id"], "fell-back");
    assert!(spare["recent_errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("spare is overloaded"));
}
