//! Traces and metrics (issue 15).
//!
//! * Traces: OpenTelemetry spans following the GenAI semantic conventions, exported over OTLP
//!   (gRPC or HTTP/protobuf) by a bounded batch processor ([`export`]); the client's W3C
//!   `traceparent` is continued and each upstream attempt's context goes upstream
//!   ([`propagation`]). A request's spans and metrics are driven through a [`RequestScope`]
//!   ([`scope`]).
//! * Metrics: a Prometheus registry rendered for `/metrics` ([`metrics`]).
//!
//! Everything hangs off one [`Telemetry`] per gateway, passed explicitly (no global provider or
//! recorder). Invariants: telemetry never fails or slows a request (export runs off the request
//! path, into a bounded queue); no key and, unless `capture_content` is on, no prompt or
//! completion text is ever exported or used as a label ([`content`] is only called then).

pub mod content;
pub mod export;
pub mod metrics;
pub mod propagation;
pub mod record;
pub mod scope;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

pub use metrics::{Metrics, Tokens};
pub use record::{Bodies, BodiesSnapshot, RecordSink, RecordStart, RequestRecord};
pub use scope::{Attempt, Ingress, Outcome, RequestScope, RequestStart, Route, Transport};
pub use settings::{OtlpProtocol, TraceSettings};

/// The instrumentation scope name of every span.
pub const TRACER_NAME: &str = "codex-convert-proxy";

/// Metrics, and traces when configured. Clones share everything.
#[derive(Clone, Default)]
pub struct Telemetry(Arc<Shared>);

#[derive(Default)]
struct Shared {
    metrics: Metrics,
    traces: Option<Traces>,
}

struct Traces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    capture_content: bool,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.0.traces.is_some())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Metrics only: no spans are made.
    pub fn metrics_only() -> Self {
        Telemetry::default()
    }

    /// Metrics and traces exported as `settings` say. Call it inside the Tokio runtime.
    pub fn with_traces(settings: &TraceSettings) -> Result<Self, String> {
        let provider = export::tracer_provider(settings)?;
        let tracer = provider.tracer(TRACER_NAME);
        Ok(Telemetry(Arc::new(Shared {
            metrics: Metrics::new(),
            traces: Some(Traces {
                provider,
                tracer,
                capture_content: settings.capture_content,
            }),
        })))
    }

    /// The Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Whether spans are made and exported.
    pub fn traces_enabled(&self) -> bool {
        self.0.traces.is_some()
    }

    pub(crate) fn tracer(&self) -> Option<&SdkTracer> {
        self.0.traces.as_ref().map(|t| &t.tracer)
    }

    pub(crate) fn capture_content(&self) -> bool {
        self.0.traces.as_ref().is_some_and(|t| t.capture_content)
    }

    /// Exports what is queued and stops the exporter, waiting at most `timeout` (a dead collector
    /// must not hold up the process's exit). Blocking: call it off the async runtime's workers.
    pub fn shutdown(&self, timeout: Duration) {
        if let Some(traces) = &self.0.traces {
            if let Err(e) = traces.provider.shutdown_with_timeout(timeout) {
                tracing::debug!(error = %e, "the span exporter did not shut down cleanly");
            }
        }
    }
}
