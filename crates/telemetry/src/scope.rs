//! One LLM request's telemetry, from its arrival at the edge to the end of its answer: the
//! request span (`chat {model}`, kind SERVER, child of the client's `traceparent`), a child
//! span per upstream attempt (`POST`, kind CLIENT, whose context the upstream receives as its
//! `traceparent`), and the request's metrics.
//!
//! The edge starts a [`RequestScope`]; the gateway adds the route, the attempts, the output
//! chunks and the outcome. Invariants: a scope finishes exactly once, whichever of its clones
//! reports first (a stream's failure is seen both as an error and as a terminal event); a scope
//! dropped unfinished (the client hung up mid-stream) finishes as `client_closed`. No attribute
//! holds a key; prompt and completion text only when `capture_content` is on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::Span;

use crate::metrics::{code_label, status_class, FinishedRequest, RequestLabels, Tokens};
use crate::record::{Bodies, RecordStart, RequestRecord};
use crate::Telemetry;

/// The API a client spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    Responses,
    Chat,
}

impl Ingress {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingress::Responses => "responses",
            Ingress::Chat => "chat",
        }
    }
}

/// How the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    WebSocket,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
        }
    }
}

/// What the edge knows when a request arrives.
#[derive(Debug, Clone)]
pub struct RequestStart<'a> {
    pub ingress: Ingress,
    pub transport: Transport,
    /// The caller's identity id (never a key).
    pub client: &'a str,
    pub request_id: &'a str,
    /// The client's `traceparent`, if any ([`crate::propagation::extract_parent`]).
    pub parent: Option<SpanContext>,
    /// Where the request's record goes when it ends (none: no record).
    pub record: Option<RecordStart>,
}

/// Where the gateway sent the request.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub backend: String,
    /// `gen_ai.provider.name`.
    pub provider: String,
    /// The model as sent upstream.
    pub request_model: String,
    /// The model for metric labels: a name from the config, else [`crate::metrics::OTHER`].
    pub model_label: String,
    pub server_address: Option<String>,
    pub server_port: Option<u16>,
    pub stream: bool,
    /// `gen_ai.input.messages` (JSON), only with `capture_content`.
    pub input_messages: Option<String>,
}

/// How the request ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// The HTTP status the answer had or, for a stream that failed, would have had.
    pub status: u16,
    /// `ok`, or the error code.
    pub code: &'a str,
    pub tokens: Option<Tokens>,
    pub response_id: Option<&'a str>,
    pub response_model: Option<&'a str>,
    pub finish_reasons: Vec<&'a str>,
    /// `gen_ai.output.messages` (JSON), only with `capture_content`.
    pub output_messages: Option<String>,
}

/// One request's telemetry; clones share it. The default scope records nothing.
#[derive(Clone, Default)]
pub struct RequestScope(Option<Arc<Scope>>);

impl std::fmt::Debug for RequestScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RequestScope(active)"
        } else {
            "RequestScope(inert)"
        })
    }
}

struct Scope {
    telemetry: Telemetry,
    started: Instant,
    ingress: Ingress,
    transport: Transport,
    record: Option<Recording>,
    state: Mutex<State>,
}

/// What a scope that produces a record keeps besides its state.
struct Recording {
    start: RecordStart,
    request_id: String,
    client: String,
    started_at: SystemTime,
    bodies: Option<Bodies>,
}

#[derive(Default)]
struct State {
    span: Option<Span>,
    route: Option<Route>,
    attempts: u32,
    /// Backends routed to (one per model-group attempt).
    routes: u32,
    last_chunk: Option<Instant>,
    ttft: Option<Duration>,
    client_model: Option<String>,
    cache: Option<&'static str>,
    finished: bool,
    /// While a model group tries backends: an attempt's end is held, not applied
    /// ([`RequestScope::hold_finish`]).
    hold: bool,
    held: Option<HeldOutcome>,
}

/// An [`Outcome`] kept until the group knows whether it is the request's.
struct HeldOutcome {
    status: u16,
    code: String,
    tokens: Option<Tokens>,
    response_id: Option<String>,
    response_model: Option<String>,
    finish_reasons: Vec<String>,
    output_messages: Option<String>,
}

impl HeldOutcome {
    fn of(o: &Outcome<'_>) -> Self {
        HeldOutcome {
            status: o.status,
            code: o.code.to_owned(),
            tokens: o.tokens,
            response_id: o.response_id.map(str::to_owned),
            response_model: o.response_model.map(str::to_owned),
            finish_reasons: o.finish_reasons.iter().map(|r| (*r).to_owned()).collect(),
            output_messages: o.output_messages.clone(),
        }
    }

    fn outcome(&self) -> Outcome<'_> {
        Outcome {
            status: self.status,
            code: &self.code,
            tokens: self.tokens,
            response_id: self.response_id.as_deref(),
            response_model: self.response_model.as_deref(),
            finish_reasons: self.finish_reasons.iter().map(String::as_str).collect(),
            output_messages: self.output_messages.clone(),
        }
    }
}

impl Telemetry {
    /// Starts the telemetry of a request that just arrived.
    pub fn start_request(&self, start: RequestStart<'_>) -> RequestScope {
        let span = self.tracer().map(|tracer| {
            let parent = match start.parent {
                Some(sc) => Context::new().with_remote_span_context(sc),
                None => Context::new(),
            };
            tracer
                .span_builder("chat")
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("ccp.ingress", start.ingress.as_str()),
                    KeyValue::new("ccp.transport", start.transport.as_str()),
                    KeyValue::new("ccp.client", start.client.to_owned()),
                    KeyValue::new("ccp.request_id", start.request_id.to_owned()),
                ])
                .start_with_context(tracer, &parent)
        });
        let record = start.record.map(|rec| {
            rec.sink.started();
            Recording {
                bodies: rec.bodies.then(Bodies::default),
                start: rec,
                request_id: start.request_id.to_owned(),
                client: start.client.to_owned(),
                started_at: SystemTime::now(),
            }
        });
        RequestScope(Some(Arc::new(Scope {
            telemetry: self.clone(),
            started: Instant::now(),
            ingress: start.ingress,
            transport: start.transport,
            record,
            state: Mutex::new(State {
                span,
                ..State::default()
            }),
        })))
    }
}

impl RequestScope {
    fn with<R>(&self, f: impl FnOnce(&Scope, &mut State) -> R) -> Option<R> {
        let scope = self.0.as_ref()?;
        let mut state = scope.state.lock().unwrap_or_else(PoisonError::into_inner);
        Some(f(scope, &mut state))
    }

    /// Whether prompt and completion text may be exported (build them only then).
    pub fn capture_content(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.telemetry.capture_content() && s.telemetry.tracer().is_some())
    }

    /// Records where the request goes: names the span `chat {model}`, sets the GenAI request
    /// attributes.
    pub fn route(&self, route: Route) {
        self.with(|_, state| {
            if let Some(span) = &mut state.span {
                span.update_name(format!("chat {}", route.request_model));
                let mut attrs = vec![
                    KeyValue::new("gen_ai.provider.name", route.provider.clone()),
                    KeyValue::new("gen_ai.request.model", route.request_model.clone()),
                    KeyValue::new("ccp.backend", route.backend.clone()),
                ];
                if route.stream {
                    attrs.push(KeyValue::new("gen_ai.request.stream", true));
                }
                if let Some(address) = &route.server_address {
                    attrs.push(KeyValue::new("server.address", address.clone()));
                }
                if let Some(port) = route.server_port {
                    attrs.push(KeyValue::new("server.port", i64::from(port)));
                }
                if let Some(messages) = &route.input_messages {
                    attrs.push(KeyValue::new("gen_ai.input.messages", messages.clone()));
                }
                span.set_attributes(attrs);
            }
            state.routes += 1;
            state.route = Some(route);
        });
    }

    /// The model the client asked for (for the request's record).
    pub fn note_client_model(&self, model: &str) {
        self.with(|_, state| state.client_model = Some(model.to_owned()));
    }

    /// The response cache's verdict (for the request's record).
    pub fn note_cache(&self, verdict: &'static str) {
        self.with(|_, state| state.cache = Some(verdict));
    }

    /// The request's id, when the scope produces a record.
    pub fn request_id(&self) -> Option<&str> {
        Some(self.0.as_ref()?.record.as_ref()?.request_id.as_str())
    }

    /// Where the request's bodies are kept, when the edge asked for them (`log_body`); fill it
    /// with redacted text only.
    pub fn bodies(&self) -> Option<&Bodies> {
        self.0.as_ref()?.record.as_ref()?.bodies.as_ref()
    }

    /// Starts the request's next upstream attempt to `address:port` (every attempt after the
    /// first is counted as a retry). The attempt's span ends when the returned value drops.
    pub fn attempt(&self, address: &str, port: Option<u16>) -> Attempt {
        self.with(|scope, state| {
            state.attempts += 1;
            let n = state.attempts;
            let backend = state.route.as_ref().map_or("none", |r| r.backend.as_str());
            if n > 1 {
                scope.telemetry.metrics().retry(backend);
            }
            let (Some(tracer), Some(parent)) = (scope.telemetry.tracer(), &state.span) else {
                return Attempt::default();
            };
            let parent = Context::new().with_remote_span_context(parent.span_context().clone());
            let mut attrs = vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("server.address", address.to_owned()),
                KeyValue::new("ccp.attempt", i64::from(n)),
                KeyValue::new("ccp.backend", backend.to_owned()),
            ];
            if let Some(port) = port {
                attrs.push(KeyValue::new("server.port", i64::from(port)));
            }
            let span = tracer
                .span_builder("POST")
                .with_kind(SpanKind::Client)
                .with_attributes(attrs)
                .start_with_context(tracer, &parent);
            Attempt {
                context: span.span_context().clone(),
                span: Some(span),
            }
        })
        .unwrap_or_default()
    }

    /// An output chunk went to the client: time to first token, then time between tokens.
    pub fn output_chunk(&self) {
        self.with(|scope, state| {
            let now = Instant::now();
            let Some(route) = &state.route else { return };
            let metrics = scope.telemetry.metrics();
            match state.last_chunk {
                None => {
                    state.ttft = Some(now.duration_since(scope.started));
                    let ttft = now.duration_since(scope.started).as_secs_f64();
                    metrics.first_token(&route.backend, &route.model_label, ttft);
                    if let Some(span) = &mut state.span {
                        span.set_attribute(KeyValue::new(
                            "gen_ai.response.time_to_first_chunk",
                            ttft,
                        ));
                    }
                }
                Some(last) => metrics.inter_token(
                    &route.backend,
                    &route.model_label,
                    now.duration_since(last).as_secs_f64(),
                ),
            }
            state.last_chunk = Some(now);
        });
    }

    /// Counts an open upstream stream until the guard drops.
    pub fn stream_opened(&self) -> StreamGuard {
        StreamGuard(self.0.as_ref().map(|scope| {
            scope
                .telemetry
                .metrics()
                .stream_opened(scope.ingress.as_str(), scope.transport.as_str());
            scope.clone()
        }))
    }

    /// An upstream failure with its mapped `code` (counted by backend), then the request's end.
    pub fn upstream_error(&self, status: u16, code: &str) {
        self.with(|scope, state| {
            if !state.finished {
                let backend = state.route.as_ref().map_or("none", |r| r.backend.as_str());
                scope.telemetry.metrics().upstream_error(backend, code);
            }
        });
        self.finish(Outcome {
            status,
            code,
            ..Outcome::default()
        });
    }

    /// A model group's attempt failed (counted by backend); the request goes on to the group's
    /// next backend, or ends with the failure at the edge.
    pub fn attempt_failed(&self, code: &str) {
        self.with(|scope, state| {
            if !state.finished {
                let backend = state.route.as_ref().map_or("none", |r| r.backend.as_str());
                scope.telemetry.metrics().upstream_error(backend, code);
            }
        });
    }

    /// From now on an attempt's end is held instead of ending the request: a model group is about
    /// to try backends, and a failed attempt it moves on from is not the request's end.
    pub fn hold_finish(&self) {
        self.with(|_, state| state.hold = true);
    }

    /// The group moved on: the held end of the last attempt is dropped.
    pub fn discard_held(&self) {
        self.with(|_, state| state.held = None);
    }

    /// The group is done: a held end (its last attempt failed before any byte) ends the request
    /// now, and later ends apply at once again.
    pub fn release_held(&self) {
        self.with(|scope, state| {
            state.hold = false;
            if let Some(held) = state.held.take() {
                scope.finish(state, &held.outcome());
            }
        });
    }

    /// The request ended (the first report wins; later ones are ignored).
    pub fn finish(&self, outcome: Outcome<'_>) {
        self.with(|scope, state| scope.finish(state, &outcome));
    }
}

impl Scope {
    fn finish(&self, state: &mut State, outcome: &Outcome<'_>) {
        if state.finished {
            return;
        }
        if state.hold {
            if state.held.is_none() {
                state.held = Some(HeldOutcome::of(outcome));
            }
            return;
        }
        state.finished = true;
        let code = code_label(if outcome.code.is_empty() {
            "ok"
        } else {
            outcome.code
        });
        let (backend, model, provider) = match &state.route {
            Some(r) => (r.backend.clone(), r.model_label.clone(), r.provider.clone()),
            None => ("none".to_owned(), "none".to_owned(), String::new()),
        };
        self.telemetry.metrics().record_request(&FinishedRequest {
            labels: RequestLabels {
                ingress: self.ingress.as_str(),
                transport: self.transport.as_str(),
                backend,
                model,
                status_class: status_class(outcome.status),
                code,
            },
            provider,
            seconds: self.started.elapsed().as_secs_f64(),
            tokens: outcome.tokens,
        });
        if let Some(rec) = &self.record {
            rec.start.sink.finished(RequestRecord {
                request_id: rec.request_id.clone(),
                client: rec.client.clone(),
                principal: rec.start.principal.clone(),
                team: rec.start.team.clone(),
                ingress: self.ingress,
                transport: self.transport,
                started_at: rec.started_at,
                latency: self.started.elapsed(),
                ttft: state.ttft,
                backend: state.route.as_ref().map(|r| r.backend.clone()),
                model: state.route.as_ref().map(|r| r.request_model.clone()),
                client_model: state.client_model.take(),
                status: outcome.status,
                code: code.to_owned(),
                tokens: outcome.tokens,
                backends_tried: state.routes,
                cache: state.cache,
                bodies: rec.bodies.clone(),
            });
        }
        if let Some(mut span) = state.span.take() {
            span.set_attributes(outcome_attributes(outcome, state.attempts));
            if code != "ok" {
                span.set_attribute(KeyValue::new("error.type", code));
                span.set_status(Status::error(code));
            }
            span.end();
        }
    }
}

fn outcome_attributes(outcome: &Outcome<'_>, attempts: u32) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new("ccp.attempts", i64::from(attempts)),
        KeyValue::new("http.response.status_code", i64::from(outcome.status)),
    ];
    if let Some(t) = outcome.tokens {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        attrs.push(KeyValue::new("gen_ai.usage.input_tokens", n(t.input)));
        attrs.push(KeyValue::new("gen_ai.usage.output_tokens", n(t.output)));
        attrs.push(KeyValue::new(
            "gen_ai.usage.cache_read.input_tokens",
            n(t.cached),
        ));
        attrs.push(KeyValue::new(
            "gen_ai.usage.reasoning.output_tokens",
            n(t.reasoning),
        ));
    }
    if let Some(id) = outcome.response_id.filter(|s| !s.is_empty()) {
        attrs.push(KeyValue::new("gen_ai.response.id", id.to_owned()));
    }
    if let Some(model) = outcome.response_model.filter(|s| !s.is_empty()) {
        attrs.push(KeyValue::new("gen_ai.response.model", model.to_owned()));
    }
    if !outcome.finish_reasons.is_empty() {
        let reasons: Vec<StringValue> = outcome
            .finish_reasons
            .iter()
            .map(|r| StringValue::from((*r).to_owned()))
            .collect();
        attrs.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            Value::Array(Array::String(reasons)),
        ));
    }
    if let Some(messages) = &outcome.output_messages {
        attrs.push(KeyValue::new("gen_ai.output.messages", messages.clone()));
    }
    attrs
}

impl Drop for Scope {
    fn drop(&mut self) {
        let mut state =
            std::mem::take(self.state.get_mut().unwrap_or_else(PoisonError::into_inner));
        state.hold = false;
        if let Some(held) = state.held.take() {
            self.finish(&mut state, &held.outcome());
        }
        self.finish(
            &mut state,
            &Outcome {
                status: 499,
                code: "client_closed",
                ..Outcome::default()
            },
        );
    }
}

/// One upstream attempt's span: its context goes upstream as `traceparent`; it ends on drop.
pub struct Attempt {
    span: Option<Span>,
    context: SpanContext,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("recording", &self.span.is_some())
            .finish()
    }
}

impl Default for Attempt {
    fn default() -> Self {
        Attempt {
            span: None,
            context: SpanContext::empty_context(),
        }
    }
}

impl Attempt {
    /// The `traceparent` (and `tracestate`) naming this attempt; empty without tracing.
    pub fn trace_headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        crate::propagation::trace_headers(&self.context)
    }

    /// The upstream answered with `status`.
    pub fn answered(&mut self, status: u16) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 400 {
                span.set_attribute(KeyValue::new("error.type", status.to_string()));
                span.set_status(Status::error(format!("HTTP {status}")));
            }
        }
    }

    /// The attempt failed without an answer (`connect`, `timeout`, …: a low-cardinality word).
    pub fn failed(&mut self, error_type: &'static str) {
        if let Some(span) = &mut self.span {
            span.set_attribute(KeyValue::new("error.type", error_type));
            span.set_status(Status::error(error_type));
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(mut span) = self.span.take() {
            span.end();
        }
    }
}

/// An upstream stream in `ccp_active_streams`, until dropped.
pub struct StreamGuard(Option<Arc<Scope>>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(scope) = &self.0 {
            scope
                .telemetry
                .metrics()
                .stream_closed(scope.ingress.as_str(), scope.transport.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_finishes_once_and_a_dropped_one_is_client_closed() {
        let telemetry = Telemetry::metrics_only();
        let start = || {
            telemetry.start_request(RequestStart {
                ingress: Ingress::Chat,
                transport: Transport::Http,
                client: "client-key-0",
                request_id: "r",
                parent: None,
                record: None,
            })
        };
        let scope = start();
        scope.route(Route {
            backend: "b".into(),
            provider: "p".into(),
            request_model: "m".into(),
            model_label: "m".into(),
            ..Route::default()
        });
        drop(scope.attempt("h", Some(1)));
        drop(scope.attempt("h", Some(1)));
        scope.upstream_error(429, "rate_limit_exceeded");
        scope.finish(Outcome {
            status: 200,
            code: "ok",
            ..Outcome::default()
        });
        drop(scope);
        let hung_up = start();
        drop(hung_up.clone());
        drop(hung_up);
        let text = telemetry.metrics().render();
        for line in [
            r#"ccp_requests_total{ingress="chat",transport="http",backend="b",model="m",status_class="4xx",code="rate_limit_exceeded"} 1"#,
            r#"ccp_upstream_retries_total{backend="b"} 1"#,
            r#"ccp_requests_total{ingress="chat",transport="http",backend="none",model="none",status_class="4xx",code="client_closed"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(!text.contains(r#"code="ok""#), "finished twice:\n{text}");
    }

    #[derive(Default)]
    struct Collect {
        started: std::sync::atomic::AtomicU32,
        records: Mutex<Vec<RequestRecord>>,
    }

    impl crate::RecordSink for Collect {
        fn started(&self) {
            self.started
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn finished(&self, record: RequestRecord) {
            self.records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(record);
        }
    }

    #[test]
    fn a_recorded_scope_hands_over_one_record_with_its_facts() {
        let telemetry = Telemetry::metrics_only();
        let sink = Arc::new(Collect::default());
        let scope = telemetry.start_request(RequestStart {
            ingress: Ingress::Responses,
            transport: Transport::Http,
            client: "vk_1",
            request_id: "req_1",
            parent: None,
            record: Some(RecordStart {
                sink: sink.clone(),
                principal: Some("alice".into()),
                team: None,
                bodies: true,
            }),
        });
        scope.note_client_model("gpt-4o");
        scope.note_cache("miss");
        for backend in ["first", "second"] {
            scope.route(Route {
                backend: backend.into(),
                request_model: format!("{backend}-model"),
                ..Route::default()
            });
        }
        scope.output_chunk();
        if let Some(bodies) = scope.bodies() {
            bodies.set_upstream_request("{}");
        }
        scope.finish(Outcome {
            status: 200,
            code: "",
            tokens: Some(Tokens {
                input: 3,
                output: 2,
                ..Tokens::default()
            }),
            ..Outcome::default()
        });
        drop(scope);
        let records = sink.records.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(records.len(), 1, "finished once, not again on drop");
        assert_eq!(sink.started.load(std::sync::atomic::Ordering::Relaxed), 1);
        let r = &records[0];
        assert_eq!(
            (r.request_id.as_str(), r.client.as_str(), r.code.as_str()),
            ("req_1", "vk_1", "ok")
        );
        assert_eq!(r.principal.as_deref(), Some("alice"));
        assert_eq!(r.backend.as_deref(), Some("second"));
        assert_eq!(r.model.as_deref(), Some("second-model"));
        assert_eq!(r.client_model.as_deref(), Some("gpt-4o"));
        assert_eq!((r.backends_tried, r.fallbacks()), (2, 1));
        assert_eq!(r.cache, Some("miss"));
        assert!(r.ttft.is_some());
        assert_eq!(r.tokens.map(|t| t.input), Some(3));
        let bodies = r.bodies.as_ref().map(Bodies::snapshot).unwrap_or_default();
        assert_eq!(bodies.upstream_request.as_deref(), Some("{}"));
    }
}
