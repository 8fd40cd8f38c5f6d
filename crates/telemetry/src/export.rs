//! The trace pipeline: the OTLP exporter (gRPC through tonic, or HTTP/protobuf through a small
//! hyper client of our own, rustls in both) behind the SDK's batch span processor.
//!
//! Invariant: a dead, slow or refusing collector never slows or fails a request. A request only
//! hands its finished spans to the processor's bounded queue ([`MAX_QUEUE`], `try_send`: a full
//! queue drops spans); exports run on the processor's own thread, each bounded by
//! [`EXPORT_TIMEOUT`]. An export failure is logged once (and its recovery once), without the
//! headers, which may carry the collector's key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;

use crate::settings::{OtlpProtocol, TraceSettings};

/// Most finished spans waiting for export; beyond it new spans are dropped.
pub const MAX_QUEUE: usize = 4096;
/// Spans per export request.
const MAX_BATCH: usize = 512;
/// How often the queue is exported.
const SCHEDULED_DELAY: Duration = Duration::from_secs(1);
/// The longest one export may take (connect, send, answer).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest collector answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Builds the tracer provider for `settings`. Call it inside the Tokio runtime: the gRPC
/// channel and the HTTP client run their connections on it.
pub fn tracer_provider(settings: &TraceSettings) -> Result<SdkTracerProvider, String> {
    let exporter = match settings.protocol {
        OtlpProtocol::Grpc => grpc_exporter(settings)?,
        OtlpProtocol::HttpProtobuf => http_exporter(settings)?,
    };
    let exporter = Reporting {
        inner: exporter,
        collector: origin_of(&settings.endpoint),
        failing: AtomicBool::new(false),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(MAX_QUEUE)
        .with_max_export_batch_size(MAX_BATCH)
        .with_scheduled_delay(SCHEDULED_DELAY)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch)
        .build();
    let ratio = settings.sample_ratio.clamp(0.0, 1.0);
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(resource)
        .build())
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("telemetry header {name:?} is not a valid header name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value of telemetry header `{name}` cannot go in an HTTP header")
        })?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

fn grpc_exporter(settings: &TraceSettings) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let metadata = MetadataMap::from_headers(header_map(&settings.headers)?);
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.clone())
        .with_protocol(Protocol::Grpc)
        .with_timeout(EXPORT_TIMEOUT)
        .with_metadata(metadata);
    if settings.endpoint.starts_with("https://") {
        builder = builder.with_tls_config(ClientTlsConfig::new().with_webpki_roots());
    }
    builder
        .build()
        .map_err(|e| format!("could not set up the OTLP gRPC exporter: {e}"))
}

fn http_exporter(settings: &TraceSettings) -> Result<opentelemetry_otlp::SpanExporter, String> {
    header_map(&settings.headers)?;
    let headers: HashMap<String, String> = settings.headers.iter().cloned().collect();
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(settings.http_traces_url())
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(headers)
        .with_http_client(ExportClient::new(EXPORT_TIMEOUT)?)
        .build()
        .map_err(|e| format!("could not set up the OTLP HTTP exporter: {e}"))
}

/// `scheme://host[:port]` of a URL, for messages.
pub(crate) fn origin_of(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(uri) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let host = uri.host().unwrap_or_default();
            match uri.port_u16() {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            }
        }
        Err(_) => "the configured collector".to_owned(),
    }
}

/// The exporter, logging when exports start failing and when they recover.
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    collector: String,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                collector = %self.collector,
                spans,
                error = %e,
                "could not export spans to the OTLP collector; requests are unaffected, spans \
                 are dropped until it answers"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(collector = %self.collector, "the OTLP collector answers again")
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTP exporter's client: hyper with rustls, its requests run on the Tokio runtime that
/// built it (the batch processor's thread only waits for them), each bounded by a timeout.
#[derive(Clone)]
struct ExportClient {
    client: Client<Connector, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl std::fmt::Debug for ExportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExportClient {
    fn new(timeout: Duration) -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the OTLP HTTP exporter must be built inside the Tokio runtime")?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("could not set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(ExportClient {
            client,
            runtime,
            timeout,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let task = self.runtime.spawn(async move {
            let exchange = async move {
                let (parts, body) = request.into_parts();
                let resp = client
                    .request(Request::from_parts(parts, Full::new(body)))
                    .await?;
                let (parts, body) = resp.into_parts();
                let bytes = Limited::new(body, MAX_ANSWER_BYTES)
                    .collect()
                    .await?
                    .to_bytes();
                Ok::<_, HttpError>(Response::from_parts(parts, bytes))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(HttpError::from("the collector did not answer in time")),
            }
        });
        task.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_headers_are_refused_by_name_only() {
        let e = header_map(&[("x-key".into(), "bad\nvalue-secret".into())]).unwrap_err();
        assert!(e.contains("x-key"), "{e}");
        assert!(!e.contains("value-secret"), "{e}");
        assert!(header_map(&[("bad name".into(), "v".into())]).is_err());
    }

    #[test]
    fn origins_drop_paths_and_queries() {
        assert_eq!(
            origin_of("https://c.example:4318/v1/traces?k=s"),
            "https://c.example:4318"
        );
        assert_eq!(origin_of("http://c"), "http://c");
    }
}
