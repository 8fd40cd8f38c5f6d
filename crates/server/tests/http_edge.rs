//! The edge seam: routes at the root and under each backend prefix (overlapping prefixes
//! included), wrong methods, panic catching, the caller's identity in request extensions,
//! request ids, the routing headers, the Chat-body hint, and one edge log line per answer
//! without keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::extract::Extension;
use axum::routing::get;
use axum::Json;
use ccp_gateway::identity::ClientIdentity;
use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

/// Three built-in mock backends: the default, `/kimi`, and `/kimi/v1` (a prefix inside a
/// prefix: the longest one wins, so `/kimi/v1/responses` is `kimi-v1`'s `/responses`).
fn prefixed_config() -> String {
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "backends": [
            {"name": "main", "protocol": "mock", "model": "main-model", "match_rules": {"default": true}},
            {"name": "kimi", "protocol": "mock", "model": "kimi-model", "match_rules": {"path_prefix": "/kimi"}},
            {"name": "kimi-v1", "protocol": "mock", "model": "kv1-model", "match_rules": {"path_prefix": "/kimi/v1"}}
        ]
    })
    .to_string()
}

/// A config with two client keys and one openai backend at `upstream_url`.
fn keyed_config(upstream_url: &str) -> String {
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "client_keys": ["sk-first-client-key-0000", CLIENT_KEY],
        "backends": [{
            "name": "main", "url": upstream_url, "api_key": UPSTREAM_KEY, "model": "upstream-model",
            "protocol": "openai", "match_rules": {"default": true}
        }]
    })
    .to_string()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn send(method: reqwest::Method, url: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_at_the_root_and_under_each_prefix_pick_that_backend() {
    let app = start(&prefixed_config()).await;
    let cases = [
        ("/", "main", "main-model"),
        ("/responses", "main", "main-model"),
        ("/v1/responses", "main", "main-model"),
        ("/v1/responses/", "main", "main-model"),
        ("/kimi", "kimi", "kimi-model"),
        ("/kimi/", "kimi", "kimi-model"),
        ("/kimi/responses", "kimi", "kimi-model"),
        ("/kimi/v1", "kimi-v1", "kv1-model"),
        ("/kimi/v1/responses", "kimi-v1", "kv1-model"),
        ("/kimi/v1/v1/responses", "kimi-v1", "kv1-model"),
    ];
    for (path, backend, model) in cases {
        let body = json!({"model": "unknown-model", "input": "hi"});
        let resp = send(reqwest::Method::POST, &app.url(path), Some(body)).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "x-ccp-backend"), Some(backend), "{path}");
        assert_eq!(header(&resp, "x-ccp-upstream-model"), Some(model), "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "response", "{path}: {v}");
    }
    for path in [
        "/health",
        "/v1/health",
        "/kimi/health",
        "/kimi/v1/health",
        "/models",
        "/v1/models",
        "/kimi/models",
        "/kimi/v1/models",
        "/kimi/v1/v1/models",
    ] {
        let resp = send(reqwest::Method::GET, &app.url(path), None).await;
        assert_eq!(resp.status(), 200, "{path}");
    }
    let models = get_json(&app.url("/kimi/v1/models")).await;
    assert_eq!(models["data"].as_array().unwrap().len(), 3, "{models}");
    let health = get_json(&app.url("/kimi/health")).await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_and_unknown_paths_get_openai_shaped_404s() {
    let app = start(&prefixed_config()).await;
    let not_supported = [
        (reqwest::Method::GET, "/v1/responses"),
        (reqwest::Method::GET, "/kimi/responses"),
        (reqwest::Method::PUT, "/kimi"),
        (reqwest::Method::DELETE, "/kimi/v1/models"),
        (reqwest::Method::POST, "/health"),
        (reqwest::Method::POST, "/kimi/v1/health"),
    ];
    for (method, path) in not_supported {
        let resp = send(method.clone(), &app.url(path), None).await;
        assert_eq!(resp.status(), 404, "{method} {path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert_eq!(
            v["error"]["message"],
            format!("{method} is not supported on {path}")
        );
    }
    for (path, hint) in [
        ("/kimi/nope", "no such endpoint"),
        (
            "/kimi/chat/completions/responses",
            "ends in /chat/completions",
        ),
        ("/kimiX/responses", "no such endpoint"),
    ] {
        let resp = send(reqwest::Method::POST, &app.url(path), Some(json!({}))).await;
        assert_eq!(resp.status(), 404, "{path}");
        let v: Value = resp.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(hint) && message.contains(path),
            "{path}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_name_the_backend_and_the_model_sent_upstream() {
    let upstream = MockUpstream::strict().await;
    let app = start(&single_backend_config(&upstream.url())).await;

    // An unknown model is served by the default backend: the body echoes the client's model,
    // the headers say what really happened.
    upstream.push(Reply::completion_text("json"));
    let resp = post_json(&app.url("/v1/responses"), &body(false), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-ccp-backend"), Some("main"));
    assert_eq!(
        header(&resp, "x-ccp-upstream-model"),
        Some("upstream-model")
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "client-model");

    upstream.push(Reply::text_stream("streamed"));
    let resp = post_json(&app.url("/v1/responses"), &body(true), None).await;
    assert_eq!(header(&resp, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&resp, "x-ccp-backend"), Some("main"));
    assert_eq!(
        header(&resp, "x-ccp-upstream-model"),
        Some("upstream-model")
    );
    assert!(resp.text().await.unwrap().contains("response.completed"));

    // A routed request that fails upstream still names where it went.
    upstream.push(Reply::error(
        400,
        "invalid_request_error",
        "tool_choice is not supported",
    ));
    let resp = post_json(&app.url("/v1/responses"), &body(false), None).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "x-ccp-backend"), Some("main"));
    assert_eq!(
        header(&resp, "x-ccp-upstream-model"),
        Some("upstream-model")
    );

    // A request that never got routed does not pretend it was.
    let resp = post_json(&app.url("/v1/responses"), &json!({"input": 42}), None).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "x-ccp-backend"), None);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_kept_when_sane_and_generated_otherwise() {
    let upstream = MockUpstream::strict().await;
    let app = start(&keyed_config(&upstream.url())).await;
    let get_with = |id: Option<&'static str>, path: &'static str| {
        let mut req = reqwest::Client::new().get(app.url(path));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };

    let resp = get_with(Some("codex-turn-42.a:b_c"), "/health")
        .await
        .unwrap();
    assert_eq!(header(&resp, "x-request-id"), Some("codex-turn-42.a:b_c"));

    let mut generated = Vec::new();
    for (id, path) in [
        (None, "/health"),
        (Some("has a space"), "/health"),
        (Some("semi;colon"), "/health"),
        // The 401 and the 404 carry one too.
        (None, "/v1/models"),
        (None, "/nope"),
    ] {
        let resp = get_with(id, path).await.unwrap();
        let got = header(&resp, "x-request-id").unwrap().to_owned();
        assert!(
            got.starts_with("req_") && got.len() == 28,
            "{id:?} {path}: {got}"
        );
        generated.push(got);
    }
    assert_eq!(
        get_with(None, "/v1/models").await.unwrap().status(),
        401,
        "the unauthenticated request above was a 401"
    );
    generated.sort();
    generated.dedup();
    assert_eq!(generated.len(), 5, "every generated id is new");
}

async fn whoami(Extension(identity): Extension<ClientIdentity>) -> Json<ClientIdentity> {
    Json(identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_callers_identity_never_the_key() {
    let upstream = MockUpstream::strict().await;
    let extra = || axum::Router::new().route("/test/whoami", get(whoami));
    let app = start_with(&keyed_config(&upstream.url()), extra()).await;

    let resp = reqwest::Client::new()
        .get(app.url("/test/whoami"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({"id": "client-key-1", "kind": {"type": "client_key", "index": 1}})
    );

    let resp = reqwest::Client::new()
        .get(app.url("/test/whoami"))
        .header("x-api-key", "sk-first-client-key-0000")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], "client-key-0");

    // Extra routes sit behind the same authentication.
    let resp = reqwest::Client::new()
        .get(app.url("/test/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Without client_keys every caller is anonymous.
    let open = start_with(&single_backend_config(&upstream.url()), extra()).await;
    let v = get_json(&open.url("/test/whoami")).await;
    assert_eq!(v, json!({"id": "anonymous", "kind": {"type": "anonymous"}}));
}

async fn panics() -> &'static str {
    panic!("handler bug while holding {UPSTREAM_KEY}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_an_openai_500_and_the_server_keeps_serving() {
    let logs = captured_logs(tracing_subscriber::filter::LevelFilter::INFO);
    let upstream = MockUpstream::strict().await;
    let extra = axum::Router::new().route("/test/panic", get(panics));
    let app = start_with(&single_backend_config(&upstream.url()), extra).await;

    let resp = reqwest::Client::new()
        .get(app.url("/test/panic"))
        .header("x-request-id", "panic-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(header(&resp, "x-request-id"), Some("panic-1"));
    assert_eq!(header(&resp, "content-type"), Some("application/json"));
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    assert_eq!(
        v["error"]["message"],
        "internal error in the proxy (it has been logged)"
    );

    for _ in 0..3 {
        let health = get_json(&app.url("/health")).await;
        assert_eq!(health["status"], "ok", "still serving after a panic");
    }
    let log = logs.text();
    assert!(
        log.contains("handler panicked") && log.contains("handler bug while holding [REDACTED]"),
        "{log}"
    );
    let line = logs.edge_line("panic-1");
    assert!(
        line.contains("status=500") && line.contains(" WARN "),
        "{line}"
    );
    assert_no_keys(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_body_gets_a_400_that_names_the_chat_completions_api() {
    let upstream = MockUpstream::strict().await;
    let app = start(&single_backend_config(&upstream.url())).await;
    let messages = json!([{"role": "user", "content": "hi"}]);
    for body in [
        json!({"model": "m", "messages": messages}),
        json!({"model": "m", "messages": messages, "stream": true}),
        json!({"model": "m", "messages": messages, "instructions": "be brief"}),
        json!({"model": "m", "messages": messages, "stream": "yes"}),
    ] {
        let resp = post_json(&app.url("/v1/responses"), &body, None).await;
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["param"], "messages", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`messages` belongs to the Chat Completions API")
                && message.contains("expects `input`")
                && message.contains("POST /v1/chat/completions"),
            "{message}"
        );
    }
    // A Responses body that also carries `messages` is served as usual.
    upstream.push(Reply::completion_text("fine"));
    let ok = json!({"model": "m", "input": "hi", "messages": messages});
    let resp = post_json(&app.url("/v1/responses"), &ok, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream.chat_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edge_answer_is_logged_once_with_its_reason_and_without_keys() {
    let logs = captured_logs(tracing_subscriber::filter::LevelFilter::INFO);
    let upstream = MockUpstream::strict().await;
    let app = start(&keyed_config(&upstream.url())).await;
    let post = |path: String, id: &'static str, key: Option<&'static str>, body: Value| {
        let mut req = reqwest::Client::new()
            .post(app.url(&path))
            .header("x-request-id", id)
            .json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };

    // Codex with a base URL ending in /chat/completions retries six times: six lines.
    for _ in 0..6 {
        let resp = post(
            "/v1/chat/completions/responses".into(),
            "edge-404",
            Some(CLIENT_KEY),
            body(true),
        );
        assert_eq!(resp.await.unwrap().status(), 404);
    }
    let resp = post("/v1/responses".into(), "edge-401", None, body(false));
    assert_eq!(resp.await.unwrap().status(), 401);
    let bad = json!({"model": "m", "input": 42});
    let resp = post("/v1/responses".into(), "edge-400", Some(CLIENT_KEY), bad);
    assert_eq!(resp.await.unwrap().status(), 400);
    upstream.push(Reply::completion_text("ok"));
    let resp = post(
        "/v1/responses".into(),
        "edge-200",
        Some(CLIENT_KEY),
        body(false),
    );
    assert_eq!(resp.await.unwrap().status(), 200);
    // A key pasted into the path (and the query) never reaches the log.
    let leaky = format!("/v1/{CLIENT_KEY}?api_key={CLIENT_KEY}");
    let resp = post(leaky, "edge-leak", Some(CLIENT_KEY), body(false));
    assert_eq!(resp.await.unwrap().status(), 404);

    let lines = logs.edge_lines("edge-404");
    assert_eq!(lines.len(), 6, "{lines:#?}");
    for line in &lines {
        for needle in [
            " WARN ",
            "status=404",
            "method=POST",
            "path=/v1/chat/completions/responses",
            "reason=not_found: POST /v1/chat/completions/responses: the client's base URL ends in /chat/completions",
            "client=client-key-1",
            "duration_ms=",
        ] {
            assert!(line.contains(needle), "{needle:?} missing: {line}");
        }
    }
    let line = logs.edge_line("edge-401");
    for needle in [
        " WARN ",
        "status=401",
        "reason=invalid_api_key: missing client key",
        "client=-",
    ] {
        assert!(line.contains(needle), "{needle:?} missing: {line}");
    }
    let line = logs.edge_line("edge-400");
    for needle in [
        " WARN ",
        "status=400",
        "reason=invalid_request: ",
        "path=/v1/responses",
    ] {
        assert!(line.contains(needle), "{needle:?} missing: {line}");
    }
    let line = logs.edge_line("edge-200");
    for needle in [" INFO ", "status=200", "client=client-key-1"] {
        assert!(line.contains(needle), "{needle:?} missing: {line}");
    }
    assert!(!line.contains("reason="), "{line}");
    let line = logs.edge_line("edge-leak");
    assert!(
        line.contains("path=/v1/[REDACTED]") && !line.contains("api_key"),
        "{line}"
    );
    assert_no_keys(&logs.text());
}
