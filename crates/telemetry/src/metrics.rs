//! The Prometheus metrics: one explicit registry per gateway (no global recorder, so two apps in
//! one test process never share counters), rendered as OpenMetrics text for `/metrics`.
//!
//! Invariants: labels never carry a key, a prompt or any client-chosen string. Backends and
//! models come from the config (the caller maps a model it does not know to [`OTHER`]), error
//! codes from the gateway's fixed vocabulary ([`code_label`] maps anything else to [`OTHER`]),
//! ingress and transport from the edge's own enums; so every label has a bounded set of values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The label value for anything outside a bounded set.
pub const OTHER: &str = "other";

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Error codes the gateway answers with (its own and the mapped upstream ones); any other
/// value, such as a code a passthrough upstream invented, is counted as [`OTHER`].
pub const KNOWN_CODES: &[&str] = &[
    "ok",
    "client_closed",
    "invalid_request",
    "invalid_request_error",
    "request_too_large",
    "invalid_api_key",
    "not_found",
    "model_not_found",
    "rate_limit_exceeded",
    "insufficient_quota",
    "usage_limit_reached",
    "context_length_exceeded",
    "invalid_prompt",
    "server_is_overloaded",
    "server_error",
    "bad_upstream_response",
    "stream_ended",
    "previous_response_not_found",
    "response_not_found",
    "item_not_found",
    "invalid_encrypted_content",
];

/// `code` if the gateway's vocabulary has it, else [`OTHER`].
pub fn code_label(code: &str) -> &'static str {
    KNOWN_CODES
        .iter()
        .find(|known| **known == code)
        .copied()
        .unwrap_or(OTHER)
}

/// `2xx`, `4xx`, `5xx` (`1xx`/`3xx` never end an LLM request).
pub fn status_class(status: u16) -> &'static str {
    match status {
        0..=299 => "2xx",
        300..=499 => "4xx",
        _ => "5xx",
    }
}

/// `gen_ai.client.operation.duration` buckets (seconds), from the GenAI conventions.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84,
    327.68, 655.36, 1310.72,
];
/// `gen_ai.client.token.usage` buckets (tokens), from the GenAI conventions.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Time to the first output token (seconds).
pub const FIRST_TOKEN_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];
/// Time between two output chunks (seconds).
pub const INTER_TOKEN_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}
fn token_histogram() -> Histogram {
    Histogram::new(TOKEN_BUCKETS.iter().copied())
}
fn first_token_histogram() -> Histogram {
    Histogram::new(FIRST_TOKEN_BUCKETS.iter().copied())
}
fn inter_token_histogram() -> Histogram {
    Histogram::new(INTER_TOKEN_BUCKETS.iter().copied())
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// One finished LLM request, by the labels every request metric shares.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub ingress: &'static str,
    pub transport: &'static str,
    pub backend: String,
    pub model: String,
    pub status_class: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    ingress: &'static str,
    transport: &'static str,
    backend: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    backend: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    backend: String,
    model: String,
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendCodeLabels {
    backend: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    ingress: &'static str,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GenAiTokenLabels {
    gen_ai_operation_name: &'static str,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_token_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GenAiDurationLabels {
    gen_ai_operation_name: &'static str,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    error_type: &'static str,
}

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Output tokens, reasoning ones included.
    pub output: u64,
    pub cached: u64,
    pub reasoning: u64,
}

/// What a finished request reports to the metrics.
#[derive(Debug, Clone)]
pub(crate) struct FinishedRequest {
    pub(crate) labels: RequestLabels,
    /// `gen_ai.provider.name`; empty when the request was not routed.
    pub(crate) provider: String,
    pub(crate) seconds: f64,
    pub(crate) tokens: Option<Tokens>,
}

/// The registry and every metric in it.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    first_token: HistogramFamily<ModelLabels>,
    inter_token: HistogramFamily<ModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    upstream_errors: Family<BackendCodeLabels, Counter>,
    retries: Family<BackendLabels, Counter>,
    active_streams: Family<EdgeLabels, Gauge>,
    websocket_connections: Gauge<i64, std::sync::atomic::AtomicI64>,
    genai_tokens: HistogramFamily<GenAiTokenLabels>,
    genai_duration: HistogramFamily<GenAiDurationLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (and no series yet).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ccp_requests",
            "LLM requests answered (Responses and Chat Completions), by ingress, transport, \
             backend, model and outcome (HTTP status class and error code)",
            requests.clone(),
        );
        let request_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "ccp_request_duration",
            "From the request's arrival to the end of its answer (a stream's last event)",
            Unit::Seconds,
            request_duration.clone(),
        );
        let first_token: HistogramFamily<ModelLabels> =
            Family::new_with_constructor(first_token_histogram);
        registry.register_with_unit(
            "ccp_time_to_first_token",
            "Streams: from the request's arrival to the first output chunk",
            Unit::Seconds,
            first_token.clone(),
        );
        let inter_token: HistogramFamily<ModelLabels> =
            Family::new_with_constructor(inter_token_histogram);
        registry.register_with_unit(
            "ccp_inter_token",
            "Streams: time between consecutive output chunks",
            Unit::Seconds,
            inter_token.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "ccp_tokens",
            "Tokens reported by upstreams, by type: input (cached included), output (reasoning \
             included), cached, reasoning",
            tokens.clone(),
        );
        let upstream_errors = Family::<BackendCodeLabels, Counter>::default();
        registry.register(
            "ccp_upstream_errors",
            "Upstream failures by backend and mapped error code",
            upstream_errors.clone(),
        );
        let retries = Family::<BackendLabels, Counter>::default();
        registry.register(
            "ccp_upstream_retries",
            "Upstream attempts retried before the first byte reached the client",
            retries.clone(),
        );
        let active_streams = Family::<EdgeLabels, Gauge>::default();
        registry.register(
            "ccp_active_streams",
            "Upstream streams being relayed now",
            active_streams.clone(),
        );
        let websocket_connections = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        registry.register(
            "ccp_websocket_connections",
            "Open Responses WebSocket connections",
            websocket_connections.clone(),
        );
        let genai_tokens: HistogramFamily<GenAiTokenLabels> =
            Family::new_with_constructor(token_histogram);
        registry.register(
            "gen_ai_client_token_usage",
            "gen_ai.client.token.usage: tokens per upstream operation (OpenTelemetry GenAI)",
            genai_tokens.clone(),
        );
        let genai_duration: HistogramFamily<GenAiDurationLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "gen_ai_client_operation_duration",
            "gen_ai.client.operation.duration: duration of upstream operations (OpenTelemetry \
             GenAI)",
            Unit::Seconds,
            genai_duration.clone(),
        );
        Metrics {
            registry,
            requests,
            request_duration,
            first_token,
            inter_token,
            tokens,
            upstream_errors,
            retries,
            active_streams,
            websocket_connections,
            genai_tokens,
            genai_duration,
        }
    }

    /// The OpenMetrics text of every series ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }

    pub(crate) fn record_request(&self, done: &FinishedRequest) {
        let l = &done.labels;
        self.requests.get_or_create(l).inc();
        let route = RouteLabels {
            ingress: l.ingress,
            transport: l.transport,
            backend: l.backend.clone(),
            model: l.model.clone(),
        };
        self.request_duration
            .get_or_create(&route)
            .observe(done.seconds);
        if done.provider.is_empty() {
            return;
        }
        let error_type = if l.code == "ok" { "" } else { l.code };
        self.genai_duration
            .get_or_create(&GenAiDurationLabels {
                gen_ai_operation_name: "chat",
                gen_ai_provider_name: done.provider.clone(),
                gen_ai_request_model: l.model.clone(),
                error_type,
            })
            .observe(done.seconds);
        let Some(tokens) = done.tokens else { return };
        let by_type = [
            ("input", tokens.input),
            ("output", tokens.output),
            ("cached", tokens.cached),
            ("reasoning", tokens.reasoning),
        ];
        for (kind, n) in by_type {
            self.tokens
                .get_or_create(&TokenLabels {
                    backend: l.backend.clone(),
                    model: l.model.clone(),
                    r#type: kind,
                })
                .inc_by(n);
        }
        for (kind, n) in [("input", tokens.input), ("output", tokens.output)] {
            self.genai_tokens
                .get_or_create(&GenAiTokenLabels {
                    gen_ai_operation_name: "chat",
                    gen_ai_provider_name: done.provider.clone(),
                    gen_ai_request_model: l.model.clone(),
                    gen_ai_token_type: kind,
                })
                .observe(n as f64);
        }
    }

    pub(crate) fn first_token(&self, backend: &str, model: &str, seconds: f64) {
        self.first_token
            .get_or_create(&model_labels(backend, model))
            .observe(seconds);
    }

    pub(crate) fn inter_token(&self, backend: &str, model: &str, seconds: f64) {
        self.inter_token
            .get_or_create(&model_labels(backend, model))
            .observe(seconds);
    }

    pub(crate) fn upstream_error(&self, backend: &str, code: &str) {
        self.upstream_errors
            .get_or_create(&BackendCodeLabels {
                backend: backend.to_owned(),
                code: code_label(code),
            })
            .inc();
    }

    pub(crate) fn retry(&self, backend: &str) {
        self.retries
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .inc();
    }

    pub(crate) fn stream_opened(&self, ingress: &'static str, transport: &'static str) {
        self.active_streams
            .get_or_create(&EdgeLabels { ingress, transport })
            .inc();
    }

    pub(crate) fn stream_closed(&self, ingress: &'static str, transport: &'static str) {
        self.active_streams
            .get_or_create(&EdgeLabels { ingress, transport })
            .dec();
    }

    /// Upstream streams open now, over every ingress and transport (`ccp_active_streams`).
    pub fn active_streams(&self) -> i64 {
        let mut total = 0;
        for ingress in ["responses", "chat"] {
            for transport in ["http", "websocket"] {
                total += self
                    .active_streams
                    .get_or_create(&EdgeLabels { ingress, transport })
                    .get();
            }
        }
        total
    }

    /// Counts an open WebSocket connection until the guard drops.
    pub fn websocket_connected(&self) -> WebSocketGuard {
        self.websocket_connections.inc();
        WebSocketGuard(self.websocket_connections.clone())
    }
}

fn model_labels(backend: &str, model: &str) -> ModelLabels {
    ModelLabels {
        backend: backend.to_owned(),
        model: model.to_owned(),
    }
}

/// An open WebSocket connection in `ccp_websocket_connections`.
#[derive(Debug)]
pub struct WebSocketGuard(Gauge<i64, std::sync::atomic::AtomicI64>);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: &'static str, tokens: Option<Tokens>) -> FinishedRequest {
        FinishedRequest {
            labels: RequestLabels {
                ingress: "responses",
                transport: "http",
                backend: "main".into(),
                model: "glm-5".into(),
                status_class: "2xx",
                code,
            },
            provider: "zhipu".into(),
            seconds: 0.5,
            tokens,
        }
    }

    #[test]
    fn a_request_shows_in_the_text() {
        let m = Metrics::new();
        let tokens = Tokens {
            input: 10,
            output: 7,
            cached: 3,
            reasoning: 2,
        };
        m.record_request(&finished("ok", Some(tokens)));
        m.upstream_error("main", "made_up_code");
        let _ws = m.websocket_connected();
        let text = m.render();
        for line in [
            r#"ccp_requests_total{ingress="responses",transport="http",backend="main",model="glm-5",status_class="2xx",code="ok"} 1"#,
            r#"ccp_tokens_total{backend="main",model="glm-5",type="cached"} 3"#,
            r#"ccp_upstream_errors_total{backend="main",code="other"} 1"#,
            "ccp_websocket_connections 1",
            r#"gen_ai_client_token_usage_bucket{le="16.0",gen_ai_operation_name="chat",gen_ai_provider_name="zhipu",gen_ai_request_model="glm-5",gen_ai_token_type="output"} 1"#,
            r#"gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="zhipu",gen_ai_request_model="glm-5",error_type=""} 1"#,
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn codes_and_classes_are_bounded() {
        assert_eq!(code_label("rate_limit_exceeded"), "rate_limit_exceeded");
        assert_eq!(code_label("sk-looks-like-a-key"), OTHER);
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(499), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
