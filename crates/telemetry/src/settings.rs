//! What the trace exporter needs from the config: the collector, its protocol, extra headers
//! (often an API key), the sampling ratio and whether prompt/completion text may be exported.
//!
//! Invariant: header values are secrets (a collector's API key); `Debug` shows their names only.

use std::fmt;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (tonic), the collector's port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`POST …/v1/traces`), the collector's port 4318.
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The config's spelling: `grpc` or `http/protobuf`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Trace export settings (a validated `telemetry` block with `enabled: true`).
#[derive(Clone)]
pub struct TraceSettings {
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// The collector: `http(s)://host:port` (gRPC), or the HTTP base (`/v1/traces` is appended
    /// unless the path already ends with it).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Extra request headers (gRPC metadata), values already resolved.
    pub headers: Vec<(String, String)>,
    /// Share of new traces recorded, 0–1; a client's `traceparent` decision is kept.
    pub sample_ratio: f64,
    /// Export prompt and completion text as `gen_ai.input.messages` / `gen_ai.output.messages`.
    pub capture_content: bool,
}

impl fmt::Debug for TraceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("TraceSettings")
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &names)
            .field("sample_ratio", &self.sample_ratio)
            .field("capture_content", &self.capture_content)
            .finish()
    }
}

impl TraceSettings {
    /// `scheme://host[:port]` of the collector, for logs (no user info, path or query).
    pub fn collector(&self) -> String {
        crate::export::origin_of(&self.endpoint)
    }

    /// The URL spans are POSTed to over HTTP: the endpoint with `/v1/traces` appended unless its
    /// path already ends with it.
    pub fn http_traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> TraceSettings {
        TraceSettings {
            service_name: "s".into(),
            endpoint: endpoint.into(),
            protocol: OtlpProtocol::HttpProtobuf,
            headers: vec![("x-api-key".into(), "collector-secret-77".into())],
            sample_ratio: 1.0,
            capture_content: false,
        }
    }

    #[test]
    fn debug_names_headers_without_values() {
        let shown = format!("{:?}", settings("http://c:4318"));
        assert!(shown.contains("x-api-key"), "{shown}");
        assert!(!shown.contains("collector-secret-77"), "{shown}");
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        assert_eq!(
            settings("http://c:4318").http_traces_url(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            settings("http://c:4318/").http_traces_url(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            settings("https://c/otlp/v1/traces").http_traces_url(),
            "https://c/otlp/v1/traces"
        );
    }
}
