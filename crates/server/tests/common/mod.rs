//! Test harness: the whole app on 127.0.0.1:0 in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use ccp_gateway::Gateway;
use serde_json::Value;

pub const UPSTREAM_KEY: &str = "sk-upstream-test-key-0123456789";
pub const CLIENT_KEY: &str = "sk-client-test-key-9876543210";

pub struct App {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    _server: tokio::task::JoinHandle<()>,
}

impl App {
    /// An app served by `server` on `addr`.
    pub fn new(
        addr: SocketAddr,
        gateway: Arc<Gateway>,
        server: tokio::task::JoinHandle<()>,
    ) -> App {
        App {
            addr,
            gateway,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Starts the app with this config JSON (env lookups see nothing).
pub async fn start(config_json: &str) -> App {
    serve_gateway(gateway(config_json)).await
}

/// Starts the app around an already built gateway (e.g. one with an injected clock).
pub async fn start_gateway(gateway: Gateway) -> App {
    serve_gateway(Arc::new(gateway)).await
}

async fn serve_gateway(gateway: Arc<Gateway>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = gateway.clone();
    let server = tokio::spawn(async move {
        let _ = ccp_server::serve(listener, g, std::future::pending()).await;
    });
    App {
        addr,
        gateway,
        _server: server,
    }
}

fn gateway(config_json: &str) -> Arc<Gateway> {
    let config = ccp_gateway::config::parse_str(config_json, &|_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    Arc::new(Gateway::new(config).unwrap())
}

/// Starts the app with this config JSON and its store opened (`Gateway::open`: the config's
/// `data_dir` or `storage`).
pub async fn start_opened(config_json: &str) -> App {
    let config = ccp_gateway::config::parse_str(config_json, &|_| None)
        .unwrap_or_else(|e| panic!("config: {e}"));
    let gateway = Arc::new(Gateway::open(config).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = gateway.clone();
    let server = tokio::spawn(async move {
        let _ = ccp_server::serve(listener, g, std::future::pending()).await;
    });
    App {
        addr,
        gateway,
        _server: server,
    }
}

/// Starts the app with this config JSON and `extra` routes (see `ccp_server::app_with`).
pub async fn start_with(config_json: &str, extra: axum::Router<ccp_server::AppState>) -> App {
    let gateway = gateway(config_json);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = ccp_server::app_with(gateway.clone(), extra);
    let server = tokio::spawn(async move {
        let _ = ccp_server::serve_app(listener, app, std::future::pending()).await;
    });
    App {
        addr,
        gateway,
        _server: server,
    }
}

/// One openai backend (default) pointing at `upstream_url`.
pub fn single_backend_config(upstream_url: &str) -> String {
    backend_config(upstream_url, serde_json::json!({}), false)
}

/// One openai backend `main` at `upstream_url` with `settings` merged into it; with
/// `client_key` the proxy requires [`CLIENT_KEY`].
pub fn backend_config(upstream_url: &str, settings: Value, client_key: bool) -> String {
    let mut backend = serde_json::json!({
        "name": "main", "url": upstream_url, "api_key": UPSTREAM_KEY, "model": "upstream-model",
        "protocol": "openai", "match_rules": {"default": true}
    });
    for (k, v) in settings.as_object().unwrap() {
        backend[k] = v.clone();
    }
    let mut config = serde_json::json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "backends": [backend]
    });
    if client_key {
        config["client_keys"] = serde_json::json!([CLIENT_KEY]);
    }
    config.to_string()
}

/// A small Responses request body.
pub fn body(stream: bool) -> Value {
    serde_json::json!({"model": "client-model", "input": "Say hi", "stream": stream})
}

/// Fails the test if a configured key appears in `text`.
pub fn assert_no_keys(text: &str) {
    assert!(!text.contains(UPSTREAM_KEY), "upstream key leaked: {text}");
    assert!(!text.contains(CLIENT_KEY), "client key leaked: {text}");
}

/// GETs `url` and parses the JSON answer.
pub async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Parses an SSE body into (event name, data JSON) pairs.
pub fn parse_sse(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if !data.is_empty() {
            out.push((
                name,
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("bad data {data}: {e}")),
            ));
        }
    }
    out
}

pub fn event_types(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

pub async fn post_json(url: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

/// A WebSocket client connection to the app.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads WebSocket frames until a terminal event or an error frame.
pub async fn read_ws_response(ws: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let msg = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            futures_util::StreamExt::next(ws),
        )
        .await
        .expect("frame in time");
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) = msg else {
            panic!("unexpected {msg:?}")
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        let kind = v["type"].as_str().unwrap_or_default().to_owned();
        out.push(v);
        if matches!(
            kind.as_str(),
            "response.completed" | "response.failed" | "response.incomplete" | "error"
        ) {
            return out;
        }
    }
}

/// Everything the test binary logged (one global subscriber: the server's tasks run on other
/// threads). Tests tell their lines apart by request id.
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

#[derive(Clone)]
pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing logs at `level` and above (the first call's level holds for the binary).
pub fn captured_logs(level: tracing_subscriber::filter::LevelFilter) -> CapturedLogs {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    });
    CapturedLogs(buffer.clone())
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The `ccp::edge` lines of the request with this id.
    pub fn edge_lines(&self, request_id: &str) -> Vec<String> {
        let field = format!("request_id={request_id} ");
        self.text()
            .lines()
            .filter(|l| l.contains("ccp::edge: answered") && l.contains(&field))
            .map(str::to_owned)
            .collect()
    }

    /// The one `ccp::edge` line of the request with this id.
    pub fn edge_line(&self, request_id: &str) -> String {
        let mut lines = self.edge_lines(request_id);
        assert_eq!(lines.len(), 1, "one line for {request_id}: {lines:#?}");
        lines.remove(0)
    }
}
