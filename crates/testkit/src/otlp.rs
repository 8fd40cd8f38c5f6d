//! A real OTLP trace receiver for tests: gRPC (the collector's `TraceService`, served by tonic)
//! or HTTP (`POST /v1/traces` with a protobuf body), decoding every export with the
//! OpenTelemetry protobuf definitions, plus collectors that misbehave (a closed port, one that
//! accepts connections and never answers).
//!
//! Spans are flattened into [`ReceivedSpan`]s (hex ids, attributes as JSON values) so tests can
//! assert on names, kinds, parents and attributes, and scan every exported string for secrets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::IntoResponse as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use serde_json::Value;

/// `SpanKind` values of the OTLP protocol.
pub mod kind {
    pub const INTERNAL: i32 = 1;
    pub const SERVER: i32 = 2;
    pub const CLIENT: i32 = 3;
}

/// One exported span.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service_name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: i32,
    pub attributes: BTreeMap<String, Value>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
}

impl ReceivedSpan {
    /// An attribute's value.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    /// An attribute as text (`""` when absent).
    pub fn str_attr(&self, key: &str) -> &str {
        self.attr(key).and_then(Value::as_str).unwrap_or_default()
    }

    /// An integer attribute.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        self.attr(key).and_then(Value::as_i64)
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// The headers (gRPC metadata) of each export request, names lowercased.
    headers: Vec<BTreeMap<String, String>>,
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Received>>);

impl Sink {
    fn record(&self, headers: BTreeMap<String, String>, request: ExportTraceServiceRequest) {
        let mut received = self.0.lock().unwrap();
        received.headers.push(headers);
        received.spans.extend(flatten(request));
    }
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = header_map(&request.metadata().clone().into_headers());
        self.record(headers, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

impl OtlpReceiver {
    /// An OTLP/gRPC receiver on `127.0.0.1:0`.
    pub async fn grpc() -> OtlpReceiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let router = tonic::service::Routes::new(TraceServiceServer::new(Sink(received.clone())))
            .into_axum_router();
        Self::serve(router, received).await
    }

    /// An OTLP/HTTP (protobuf) receiver on `127.0.0.1:0`: `POST /v1/traces`.
    pub async fn http() -> OtlpReceiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let sink = Sink(received.clone());
        let router = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            sink.record(header_map(&headers), request);
                            let answer = ExportTraceServiceResponse {
                                partial_success: None,
                            };
                            (
                                [("content-type", "application/x-protobuf")],
                                answer.encode_to_vec(),
                            )
                                .into_response()
                        }
                        Err(e) => panic!("the exporter sent a body that is not OTLP: {e}"),
                    }
                }
            }),
        );
        Self::serve(router, received).await
    }

    async fn serve(router: axum::Router, received: Arc<Mutex<Received>>) -> OtlpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        OtlpReceiver {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` (the `otlp_endpoint` to configure).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The headers of every export request so far.
    pub fn export_headers(&self) -> Vec<BTreeMap<String, String>> {
        self.received.lock().unwrap().headers.clone()
    }

    /// Waits until `done(spans)` holds, or panics after `timeout` listing what arrived.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            if Instant::now() > deadline {
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                panic!("the expected spans did not arrive within {timeout:?}; got {names:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in request.resource_spans {
        let service_name = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .map(any_to_json)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                out.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                    status_code: span.status.map_or(0, |s| s.code),
                });
            }
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    kvs.iter()
        .map(|kv| {
            let value = kv.value.as_ref().map(any_to_json).unwrap_or(Value::Null);
            (kv.key.clone(), value)
        })
        .collect()
}

fn any_to_json(v: &AnyValue) -> Value {
    match &v.value {
        Some(AnyValueKind::StringValue(s)) => Value::String(s.clone()),
        Some(AnyValueKind::BoolValue(b)) => Value::Bool(*b),
        Some(AnyValueKind::IntValue(i)) => Value::from(*i),
        Some(AnyValueKind::DoubleValue(d)) => Value::from(*d),
        Some(AnyValueKind::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(AnyValueKind::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    let value = kv.value.as_ref().map(any_to_json).unwrap_or(Value::Null);
                    (kv.key.clone(), value)
                })
                .collect(),
        ),
        Some(AnyValueKind::BytesValue(b)) => Value::String(hex(b)),
        _ => Value::Null,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector address that refuses connections (a port that was just closed).
pub async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A collector that accepts connections and reads them but never answers; stops when dropped.
pub struct SilentCollector {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SilentCollector {
    pub async fn start() -> SilentCollector {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        SilentCollector { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilentCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
