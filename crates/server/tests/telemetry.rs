//! Issue 15: traces and metrics through the whole app. Spans go through the real OTLP exporter
//! to a real receiver (gRPC and HTTP) that decodes the protobuf; the strict mock upstream records
//! the `traceparent` it got; a dead or silent collector must not slow a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccp_gateway::Gateway;
use ccp_telemetry::Telemetry;
use ccp_testkit::otlp::{kind, OtlpReceiver, ReceivedSpan, SilentCollector};
use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const PROMPT: &str = "Summarize the quarterly numbers, please";
const ANSWER: &str = "Revenue grew nicely this quarter";
const COLLECTOR_SECRET: &str = "collector-secret-header-31337";

/// The app with `telemetry` merged into the config and traces exported as it says.
async fn start_traced(upstream: &str, telemetry: Value) -> App {
    let mut config: Value =
        serde_json::from_str(&backend_config(upstream, json!({}), true)).unwrap();
    config["telemetry"] = telemetry;
    let config = ccp_gateway::config::parse_str(&config.to_string(), &|_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let settings = config
        .telemetry
        .trace_settings()
        .expect("telemetry enabled");
    let telemetry = Telemetry::with_traces(&settings).unwrap();
    let gateway = Arc::new(Gateway::new(config).unwrap().with_telemetry(telemetry));
    start_gateway(gateway).await
}

async fn start_gateway(gateway: Arc<Gateway>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = gateway.clone();
    let server = tokio::spawn(async move {
        let _ = ccp_server::serve(listener, g, std::future::pending()).await;
    });
    App::new(addr, gateway, server)
}

async fn traced_turn(app: &App, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .header("x-request-id", "req-telemetry-1")
        .json(&json!({"model": "upstream-model", "input": PROMPT, "stream": stream}))
        .send()
        .await
        .unwrap()
}

fn request_span(spans: &[ReceivedSpan]) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| s.kind == kind::SERVER)
}

/// Every string an exported span carries, for secret scans.
fn exported_text(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.name,
                serde_json::to_string(&s.attributes).unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_turn_exports_genai_spans_continuing_the_clients_trace() {
    let receiver = OtlpReceiver::grpc().await;
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream(ANSWER));
    let app = start_traced(
        &upstream.url(),
        json!({"enabled": true, "otlp_endpoint": receiver.endpoint(),
               "headers": {"x-collector-key": COLLECTOR_SECRET}}),
    )
    .await;

    let resp = traced_turn(&app, true).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(body.contains("response.completed"), "{body}");

    let spans = receiver
        .wait_for(Duration::from_secs(15), |s| {
            request_span(s).is_some() && s.iter().any(|s| s.kind == kind::CLIENT)
        })
        .await;
    let req = request_span(&spans).unwrap();
    assert_eq!(req.name, "chat upstream-model");
    assert_eq!(req.service_name, "codex-convert-proxy");
    assert_eq!(req.trace_id, CLIENT_TRACE, "the client's trace continues");
    assert_eq!(
        req.parent_span_id, CLIENT_SPAN,
        "parent = the client's traceparent"
    );
    for (key, want) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "generic"),
        ("gen_ai.request.model", "upstream-model"),
        ("gen_ai.response.model", "upstream-model"),
        ("server.address", "127.0.0.1"),
        ("ccp.ingress", "responses"),
        ("ccp.transport", "http"),
        ("ccp.backend", "main"),
        ("ccp.client", "client-key-0"),
        ("ccp.request_id", "req-telemetry-1"),
    ] {
        assert_eq!(req.str_attr(key), want, "{key} in {:?}", req.attributes);
    }
    assert_eq!(req.int_attr("ccp.attempts"), Some(1));
    assert_eq!(req.int_attr("gen_ai.usage.input_tokens"), Some(10));
    assert!(req.int_attr("gen_ai.usage.output_tokens").unwrap_or(0) > 0);
    assert_eq!(
        req.attr("gen_ai.response.finish_reasons"),
        Some(&json!(["stop"]))
    );
    assert!(req.str_attr("gen_ai.response.id").starts_with("resp_"));
    assert!(req.attr("error.type").is_none(), "{:?}", req.attributes);
    assert!(req.attr("gen_ai.input.messages").is_none());
    assert!(req.attr("gen_ai.output.messages").is_none());

    let attempt = spans.iter().find(|s| s.kind == kind::CLIENT).unwrap();
    assert_eq!(attempt.name, "POST");
    assert_eq!(attempt.trace_id, CLIENT_TRACE);
    assert_eq!(
        attempt.parent_span_id, req.span_id,
        "the attempt is the request's child"
    );
    assert_eq!(attempt.int_attr("http.response.status_code"), Some(200));
    assert_eq!(attempt.int_attr("ccp.attempt"), Some(1));

    // The upstream was called with the attempt's context, and nothing from the client's header.
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers.get("traceparent").map(String::as_str),
        Some(format!("00-{CLIENT_TRACE}-{}-01", attempt.span_id).as_str())
    );

    // The collector got its header; no key and no prompt or answer text was exported.
    let headers = receiver.export_headers();
    assert!(headers
        .iter()
        .any(|h| h.get("x-collector-key").map(String::as_str) == Some(COLLECTOR_SECRET)));
    let text = exported_text(&spans);
    for secret in [
        UPSTREAM_KEY,
        CLIENT_KEY,
        COLLECTOR_SECRET,
        PROMPT,
        "Revenue grew",
    ] {
        assert!(!text.contains(secret), "{secret:?} exported:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_content_exports_prompt_and_completion_over_http() {
    let receiver = OtlpReceiver::http().await;
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::completion_text(ANSWER));
    let app = start_traced(
        &upstream.url(),
        json!({"enabled": true, "otlp_endpoint": receiver.endpoint(),
               "otlp_protocol": "http/protobuf", "capture_content": true}),
    )
    .await;
    let resp = traced_turn(&app, false).await;
    assert_eq!(resp.status(), 200);
    let _ = resp.text().await.unwrap();

    let spans = receiver
        .wait_for(Duration::from_secs(15), |s| request_span(s).is_some())
        .await;
    let req = request_span(&spans).unwrap();
    let input: Value = serde_json::from_str(req.str_attr("gen_ai.input.messages")).unwrap();
    assert_eq!(
        input,
        json!([{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}])
    );
    let output = req.str_attr("gen_ai.output.messages");
    assert!(output.contains(ANSWER), "{output}");
    let text = exported_text(&spans);
    for secret in [UPSTREAM_KEY, CLIENT_KEY] {
        assert!(!text.contains(secret), "{secret:?} exported:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_error_marks_the_span() {
    let receiver = OtlpReceiver::grpc().await;
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::error(429, "rate_limit_exceeded", "slow down"));
    let app = start_traced(
        &upstream.url(),
        json!({"enabled": true, "otlp_endpoint": receiver.endpoint()}),
    )
    .await;
    let resp = traced_turn(&app, false).await;
    assert_eq!(resp.status(), 429);
    let spans = receiver
        .wait_for(Duration::from_secs(15), |s| request_span(s).is_some())
        .await;
    let req = request_span(&spans).unwrap();
    assert_eq!(req.str_attr("error.type"), "rate_limit_exceeded");
    assert_eq!(req.status_code, 2, "status error");
    let attempt = spans.iter().find(|s| s.kind == kind::CLIENT).unwrap();
    assert_eq!(attempt.int_attr("http.response.status_code"), Some(429));
}

/// Requests through a proxy whose collector is `endpoint` all succeed, each promptly.
async fn requests_stay_fast(endpoint: String, protocol: &str) {
    let upstream = MockUpstream::strict().await;
    let app = start_traced(
        &upstream.url(),
        json!({"enabled": true, "otlp_endpoint": endpoint, "otlp_protocol": protocol}),
    )
    .await;
    for i in 0..12 {
        let stream = i % 2 == 0;
        if stream {
            upstream.push(Reply::text_stream("ok then"));
        } else {
            upstream.push(Reply::completion_text("ok then"));
        }
        let started = Instant::now();
        let resp = traced_turn(&app, stream).await;
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(body.contains("then"), "{body}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1500),
            "request {i} took {took:?} with collector {protocol}"
        );
        // Space the requests over a few export rounds (one per second).
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_never_slows_a_request() {
    let closed = ccp_testkit::otlp::closed_port().await;
    requests_stay_fast(format!("http://{closed}"), "grpc").await;
    let closed = ccp_testkit::otlp::closed_port().await;
    requests_stay_fast(format!("http://{closed}"), "http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_never_slows_a_request() {
    let silent = SilentCollector::start().await;
    requests_stay_fast(silent.endpoint(), "grpc").await;
    requests_stay_fast(silent.endpoint(), "http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_the_main_listener_to_local_callers() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("hello"));
    let app = start(&backend_config(&upstream.url(), json!({}), true)).await;
    let resp = post_json(&app.url("/v1/responses"), &body(true), Some(CLIENT_KEY)).await;
    let _ = resp.text().await.unwrap();
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"ccp_requests_total{ingress="responses",transport="http",backend="main",model="upstream-model",status_class="2xx",code="ok"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ccp_tokens_total{backend="main",model="upstream-model",type="input"} 10"#),
        "{text}"
    );
    assert_no_keys(&text);
    assert!(!text.contains("Say hi"), "prompt text in metrics: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_takes_metrics_off_the_main_listener() {
    let mut config: Value =
        serde_json::from_str(&backend_config("http://127.0.0.1:9", json!({}), false)).unwrap();
    config["metrics_listen"] = json!("127.0.0.1:0");
    let app = start(&config.to_string()).await;
    let resp = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(resp.status(), 404);
    // The separate app answers without a key.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics_app = ccp_server::observe::metrics_app(app.gateway.clone());
    tokio::spawn(ccp_server::serve_app(
        listener,
        metrics_app,
        std::future::pending(),
    ));
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("ccp_websocket_connections 0"));
}

#[test]
fn metrics_authorization_on_the_main_listener() {
    use ccp_server::observe::metrics_authorized;
    const ADMIN_KEY: &str = "sk-admin-test-key-0123456789abcdef";
    let mut config: serde_json::Value =
        serde_json::from_str(&backend_config("http://127.0.0.1:9", json!({}), true)).unwrap();
    config["admin_keys"] = json!([ADMIN_KEY]);
    let with_keys = ccp_gateway::config::parse_str(&config.to_string(), &|_| None).unwrap();
    let gateway = Gateway::new(with_keys).unwrap();
    let remote = Some("10.1.2.3:5555".parse().unwrap());
    let local = Some("127.0.0.1:5555".parse().unwrap());
    let bearer = |key: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {key}").parse().unwrap());
        h
    };
    let none = axum::http::HeaderMap::new();
    assert!(metrics_authorized(&gateway, &none, local));
    assert!(metrics_authorized(&gateway, &bearer(ADMIN_KEY), remote));
    // A client key is not an admin key.
    assert!(!metrics_authorized(&gateway, &bearer(CLIENT_KEY), remote));
    assert!(!metrics_authorized(&gateway, &bearer("nope"), remote));
    assert!(!metrics_authorized(&gateway, &none, remote));
    assert!(!metrics_authorized(&gateway, &none, None));
    // Without admin keys there is nothing to present: remote callers are refused.
    let open = ccp_gateway::config::parse_str(
        &backend_config("http://127.0.0.1:9", json!({}), true),
        &|_| None,
    )
    .unwrap();
    let gateway = Gateway::new(open).unwrap();
    assert!(!metrics_authorized(&gateway, &bearer(CLIENT_KEY), remote));
}
