//! Issue 15 end to end through the built binary: a real Prometheus server scrapes the proxy's
//! `metrics_listen` address while the proxy serves successes, a retried upstream failure and an
//! upstream error; the series Prometheus stored must be exactly what the test produced, and carry
//! no key or prompt text. The same run exports spans over OTLP/gRPC to a real receiver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccp_testkit::locate::{prometheus_binary, TempDir};
use ccp_testkit::otlp::{kind, OtlpReceiver};
use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

const PROMPT: &str = "Tell me about the pelican migration";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Prometheus server scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    dir: TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ccp\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(prometheus_binary())
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/-/ready", self.url)).await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("prometheus did not become ready:\n{}", self.log());
    }

    /// The instant vector of `query`: (labels, value) per series.
    async fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let resp: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(resp["status"], "success", "{query}: {resp}");
        resp["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let v = r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
                (r["metric"].clone(), v)
            })
            .collect()
    }

    /// The single value of `query` (0 when it has no series).
    async fn value(&self, query: &str) -> f64 {
        let result = self.query(query).await;
        assert!(result.len() <= 1, "{query}: {result:?}");
        result.first().map_or(0.0, |(_, v)| *v)
    }

    /// Waits until `query` has the value `want`.
    async fn wait_for(&self, query: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let got = self.value(query).await;
            if got == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("{query} = {got}, want {want}\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn turn(proxy: &Proxy, stream: bool) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(proxy.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .json(&json!({"model": "upstream-model", "input": PROMPT, "stream": stream}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_what_the_proxy_served() {
    let prometheus_bin = prometheus_binary();
    assert!(prometheus_bin.is_file());
    let receiver = OtlpReceiver::grpc().await;
    let upstream = MockUpstream::strict().await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut config = one_backend(&upstream.url(), "upstream-model");
    config["client_keys"] = json!([CLIENT_KEY]);
    config["metrics_listen"] = json!(metrics_addr);
    config["telemetry"] = json!({"enabled": true, "otlp_endpoint": receiver.endpoint()});
    let proxy = Proxy::start(config);

    // Two plain successes, one success after a retried 503, one upstream rate limit.
    upstream.push(Reply::text_stream("Pelicans fly north in spring."));
    let (status, body) = turn(&proxy, true).await;
    assert_eq!(status, 200);
    assert!(body.contains("response.completed"), "{body}");
    upstream.push(Reply::completion_text("They rest on lakes."));
    assert_eq!(turn(&proxy, false).await.0, 200);
    upstream.push(Reply::error(503, "server_error", "try later"));
    upstream.push(Reply::text_stream("Retried and fine."));
    let (status, body) = turn(&proxy, true).await;
    assert_eq!(status, 200);
    assert!(body.contains("response.completed"), "{body}");
    upstream.push(Reply::error(429, "rate_limit_exceeded", "slow down"));
    assert_eq!(turn(&proxy, false).await.0, 429);

    let prometheus = Prometheus::start(&metrics_addr);
    prometheus.wait_ready().await;
    prometheus
        .wait_for(r#"sum(ccp_requests_total{code="ok"})"#, 3.0)
        .await;

    let ok = prometheus.query(r#"ccp_requests_total{code="ok"}"#).await;
    assert_eq!(ok.len(), 1, "{ok:?}");
    let labels = &ok[0].0;
    for (k, v) in [
        ("job", "ccp"),
        ("ingress", "responses"),
        ("transport", "http"),
        ("backend", "main"),
        ("model", "upstream-model"),
        ("status_class", "2xx"),
    ] {
        assert_eq!(labels[k], v, "{labels}");
    }
    let checks: &[(&str, f64)] = &[
        (
            r#"ccp_requests_total{code="rate_limit_exceeded",status_class="4xx"}"#,
            1.0,
        ),
        (r#"sum(ccp_requests_total)"#, 4.0),
        (
            r#"ccp_upstream_errors_total{backend="main",code="rate_limit_exceeded"}"#,
            1.0,
        ),
        (r#"ccp_upstream_retries_total{backend="main"}"#, 1.0),
        (r#"ccp_tokens_total{backend="main",type="input"}"#, 30.0),
        (r#"sum(ccp_request_duration_seconds_count)"#, 4.0),
        (r#"sum(ccp_time_to_first_token_seconds_count)"#, 2.0),
        (r#"sum(ccp_active_streams)"#, 0.0),
        (
            r#"sum(gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="generic",gen_ai_request_model="upstream-model"})"#,
            4.0,
        ),
        (
            r#"gen_ai_client_operation_duration_seconds_count{error_type="rate_limit_exceeded"}"#,
            1.0,
        ),
        (
            r#"gen_ai_client_token_usage_count{gen_ai_token_type="input"}"#,
            3.0,
        ),
        (
            r#"gen_ai_client_token_usage_sum{gen_ai_token_type="input"}"#,
            30.0,
        ),
        (
            r#"gen_ai_client_token_usage_bucket{gen_ai_token_type="input",le="16.0"}"#,
            3.0,
        ),
    ];
    for (query, want) in checks {
        assert_eq!(prometheus.value(query).await, *want, "{query}");
    }
    let output: f64 = prometheus
        .value(r#"ccp_tokens_total{backend="main",type="output"}"#)
        .await;
    assert!(output > 0.0, "output tokens counted");

    // Nothing secret or client-written in any stored series.
    let series: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/series", prometheus.url))
        .query(&[("match[]", r#"{__name__=~"ccp_.*|gen_ai_.*"}"#)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = series.to_string();
    assert!(text.contains("ccp_requests_total"), "{text}");
    for secret in [UPSTREAM_KEY, CLIENT_KEY, PROMPT, "pelican"] {
        assert!(
            !text.contains(secret),
            "{secret:?} in stored series: {text}"
        );
    }

    // The binary also exported one request span per request, each with its attempts.
    let spans = receiver
        .wait_for(Duration::from_secs(20), |s| {
            s.iter().filter(|s| s.kind == kind::SERVER).count() >= 4
        })
        .await;
    let attempts = spans.iter().filter(|s| s.kind == kind::CLIENT).count();
    assert_eq!(attempts, 5, "one attempt each, two for the retried request");
    assert!(spans
        .iter()
        .filter(|s| s.kind == kind::SERVER)
        .all(|s| s.name == "chat upstream-model"));
}
