//! The request pipeline: parse → route → convert → call the upstream (or the mock) → convert the
//! answer back, as one JSON object or as a stream of Responses events.
//!
//! Streaming answers are a `Stream` polled by the HTTP body: dropping the body (client hung up)
//! drops the upstream response at once, which closes the upstream connection. Upstream failures
//! before the stream starts are retried in [`UpstreamClient::send`]; after that they end the
//! stream with `response.failed`, never with a truncated `response.completed`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ccp_convert::request::{responses_request_to_chat, RequestOptions};
use ccp_convert::stream::{chat_completion_to_response, ChatToResponses, StreamContext};
use ccp_providers::sse::{is_error_payload, parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::chat::{ChatChunk, ChatCompletion, ChatRequest};
use ccp_types::events::{ResponseEvent, ResponseObject, ResponseStatus};
use ccp_types::responses::{parse_request, ResponsesRequest};
use futures_util::Stream;
use reqwest::header::HeaderMap;

use crate::config::{Backend, Config, Protocol};
use ccp_providers::profile::{ErrorCode, ShapeContext};

use crate::error::{map_upstream_failure, GatewayError, UpstreamFailure, DEFAULT_RETRY_AFTER_SECS};
use crate::redact::Redactor;
use crate::routing::Router;
use crate::upstream::{UpstreamClient, UpstreamPolicy};

/// A stream of Responses events that always ends with one terminal event.
pub type EventStream = Pin<Box<dyn Stream<Item = ResponseEvent> + Send>>;

/// What the edge sends back.
pub enum GatewayResponse {
    /// A non-streaming answer.
    Json(Box<ResponseObject>),
    /// A streaming answer.
    Stream(EventStream),
}

/// A request as the edge received it.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A routed, parsed request ready to execute.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub backend: usize,
    pub upstream_model: String,
    pub request: ResponsesRequest,
}

struct BackendRuntime {
    client: Option<UpstreamClient>,
}

/// The gateway: immutable after construction, shared by all connections.
pub struct Gateway {
    config: Arc<Config>,
    router: Router,
    backends: Vec<BackendRuntime>,
    redactor: Redactor,
}

impl Gateway {
    /// Builds clients for every backend.
    pub fn new(config: Config) -> Result<Self, GatewayError> {
        let mut backends = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let client = match (b.protocol, b.chat_url()) {
                (Protocol::Mock, _) => None,
                (Protocol::OpenAi, None) => {
                    return Err(GatewayError::Internal(format!(
                        "backend `{}`: protocol openai needs a url",
                        b.name
                    )))
                }
                (Protocol::OpenAi, Some(url)) => {
                    let key = b.api_key.as_ref().map(|k| k.expose()).unwrap_or("");
                    Some(UpstreamClient::new(url, key, policy_of(b)).map_err(|e| {
                        GatewayError::Internal(format!("backend `{}`: {e}", b.name))
                    })?)
                }
            };
            backends.push(BackendRuntime { client });
        }
        let router = Router::new(&config);
        let redactor = Redactor::new(secret_values(&config));
        Ok(Gateway {
            config: Arc::new(config),
            router,
            backends,
            redactor,
        })
    }

    /// The loaded configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The redactor for logs and errors.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Parses and routes a request body that arrived on `path` (prefix included).
    pub fn prepare(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PreparedRequest, GatewayError> {
        let request = parse_request(body).map_err(|e| GatewayError::BadRequest {
            param: if e.path.is_empty() {
                None
            } else {
                Some(e.path.clone())
            },
            message: format!("invalid request body: {e}"),
        })?;
        let lookup = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let route = self.router.resolve(path, request.model.as_deref(), &lookup);
        Ok(PreparedRequest {
            backend: route.backend,
            upstream_model: route.upstream_model,
            request,
        })
    }

    /// Runs a prepared request. `stream` selects an event stream or one JSON object.
    pub async fn execute(
        &self,
        prepared: PreparedRequest,
    ) -> Result<GatewayResponse, GatewayError> {
        let started = Instant::now();
        let backend = &self.config.backends[prepared.backend];
        if backend.key_missing {
            let vars = backend.api_key_env.join(", ");
            return Err(GatewayError::Upstream {
                status: 401,
                code: "invalid_api_key".into(),
                message: format!(
                    "backend `{}` has no API key: the environment variable {vars} is not set — export it and restart the proxy",
                    backend.name
                ),
            });
        }
        let stream = prepared.request.stream;
        let client_model = prepared
            .request
            .model
            .clone()
            .unwrap_or_else(|| prepared.upstream_model.clone());
        let converted = responses_request_to_chat(
            &prepared.request,
            &RequestOptions {
                upstream_model: prepared.upstream_model.clone(),
                stream,
            },
        )
        .map_err(|e| match e {
            ccp_convert::ConvertError::InvalidRequest { path, message } => {
                GatewayError::BadRequest {
                    param: if path.is_empty() { None } else { Some(path) },
                    message,
                }
            }
        })?;
        let mut chat = converted.chat;
        let effort = prepared
            .request
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.as_deref());
        backend.profile.shape_request(
            &mut chat,
            &ShapeContext {
                effort,
                upstream_model: &prepared.upstream_model,
                stream,
            },
        );
        let ctx = StreamContext {
            response_id: new_response_id(),
            model: client_model.clone(),
            created_at: now_secs(),
            tools: converted.tools,
            parse: backend.profile.parse_options_for(&prepared.upstream_model),
        };
        let log = RequestLog {
            backend: backend.name.clone(),
            model: client_model,
            upstream_model: chat.model.clone(),
            started,
            log_body: self.config.log_body,
            redactor: self.redactor.clone(),
        };
        if self.config.log_body {
            let body = serde_json::to_string(&chat).unwrap_or_default();
            tracing::info!(backend = %log.backend, upstream_body = %self.redactor.redact(&body), "upstream request body");
        }
        match (&self.backends[prepared.backend].client, stream) {
            (None, true) => Ok(GatewayResponse::Stream(mock_stream(&chat, ctx, log))),
            (None, false) => {
                let mut machine = ChatToResponses::new(ctx);
                let _ = machine.start();
                for c in crate::mock::mock_chunks(&chat) {
                    let _ = machine.push(c);
                }
                let _ = machine.finish();
                let resp = machine.response().clone();
                log.finish(&resp, 200);
                Ok(GatewayResponse::Json(Box::new(resp)))
            }
            (Some(client), true) => Ok(GatewayResponse::Stream(
                self.upstream_stream(client.clone(), prepared.backend, &chat, ctx, log)
                    .await,
            )),
            (Some(client), false) => {
                self.upstream_json(client, prepared.backend, &chat, ctx, log)
                    .await
            }
        }
    }

    fn failure_mapper(&self, backend: usize) -> FailureMapper {
        FailureMapper {
            config: self.config.clone(),
            backend,
            redactor: self.redactor.clone(),
        }
    }

    /// `prepare` + `execute`.
    pub async fn handle(&self, req: IncomingRequest) -> Result<GatewayResponse, GatewayError> {
        let prepared = self.prepare(&req.path, &req.headers, &req.body)?;
        self.execute(prepared).await
    }

    async fn upstream_json(
        &self,
        client: &UpstreamClient,
        backend: usize,
        chat: &ChatRequest,
        ctx: StreamContext,
        log: RequestLog,
    ) -> Result<GatewayResponse, GatewayError> {
        let body = serialize(chat)?;
        let mapper = self.failure_mapper(backend);
        let fail = |f: UpstreamFailure| {
            let e = mapper.map(&f);
            log.error(&e);
            e
        };
        let deadline = tokio::time::Instant::from_std(log.started + client.policy.total);
        let sent = tokio::time::timeout_at(deadline, client.send(body, false)).await;
        let resp = sent
            .unwrap_or(Err(UpstreamFailure::Timeout("total")))
            .map_err(fail)?;
        let bytes = match tokio::time::timeout_at(deadline, resp.bytes()).await {
            Err(_) => return Err(fail(UpstreamFailure::Timeout("total"))),
            Ok(Err(e)) => return Err(fail(UpstreamFailure::Disconnected(e.to_string()))),
            Ok(Ok(b)) => b,
        };
        let completion = match parse_completion(&bytes) {
            Ok(c) => c,
            Err(f) => return Err(fail(f)),
        };
        let resp = chat_completion_to_response(completion, ctx);
        if resp.status == ResponseStatus::Failed {
            let (code, message) = resp
                .error
                .as_ref()
                .map(|e| (e.code.clone(), e.message.clone()))
                .unwrap_or_default();
            let e = GatewayError::Upstream {
                status: 502,
                code,
                message,
            };
            log.error(&e);
            return Err(e);
        }
        log.finish(&resp, 200);
        Ok(GatewayResponse::Json(Box::new(resp)))
    }

    async fn upstream_stream(
        &self,
        client: UpstreamClient,
        backend: usize,
        chat: &ChatRequest,
        ctx: StreamContext,
        log: RequestLog,
    ) -> EventStream {
        let mapper = self.failure_mapper(backend);
        let mut machine = ChatToResponses::new(ctx);
        let mut out: VecDeque<ResponseEvent> = machine.start().into();
        let body = match serialize(chat) {
            Ok(b) => b,
            Err(e) => {
                out.extend(machine.fail(e.code(), &e.to_string()));
                return finished_stream(out, log);
            }
        };
        let started = log.started;
        let sent = tokio::time::timeout_at(
            (started + client.policy.total).into(),
            client.send(body, true),
        )
        .await;
        match sent.unwrap_or(Err(UpstreamFailure::Timeout("total"))) {
            Err(f) => {
                let e = mapper.map(&f);
                log.error(&e);
                out.extend(machine.fail(e.code(), &e.to_string()));
                finished_stream(out, log)
            }
            Ok(resp) => {
                let is_sse = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|ct| ct.starts_with("text/event-stream"))
                    .unwrap_or(false);
                let state = UpstreamStream {
                    machine,
                    out,
                    resp,
                    decoder: SseDecoder::default(),
                    json_fallback: if is_sse { None } else { Some(Vec::new()) },
                    mapper,
                    policy: client.policy,
                    started,
                    last_event: Instant::now(),
                    last_sent: Instant::now(),
                    done: false,
                    log: Some(log),
                };
                Box::pin(futures_util::stream::unfold(state, |mut st| async move {
                    loop {
                        if let Some(ev) = st.out.pop_front() {
                            st.last_sent = Instant::now();
                            if ev.is_terminal() {
                                if let Some(log) = st.log.take() {
                                    log.finish_event(&ev);
                                }
                            }
                            return Some((ev, st));
                        }
                        if st.done {
                            return None;
                        }
                        st.fill().await;
                    }
                }))
            }
        }
    }
}

/// Maps upstream failures for one backend: its provider profile classifies the provider's own
/// error bodies first, the generic mapping handles the rest; messages are redacted.
struct FailureMapper {
    config: Arc<Config>,
    backend: usize,
    redactor: Redactor,
}

impl FailureMapper {
    fn map(&self, failure: &UpstreamFailure) -> GatewayError {
        let backend = &self.config.backends[self.backend];
        // The generic profile knows only statuses; the full classifier in `error` knows every
        // provider's codes, so it decides for backends without a specific profile.
        let profiled = backend.profile.id() != ccp_providers::profile::ProviderId::generic();
        let classified = match failure {
            _ if !profiled => None,
            UpstreamFailure::Status {
                status,
                body,
                retry_after,
            } => {
                let v = serde_json::from_str(body)
                    .unwrap_or_else(|_| serde_json::Value::String(body.clone()));
                backend
                    .profile
                    .classify_error(*status, &v)
                    .map(|c| (c, *retry_after))
            }
            UpstreamFailure::InBand(payload) => backend
                .profile
                .classify_error(0, payload)
                .map(|c| (c, None)),
            _ => None,
        };
        let mapped = match classified {
            // Key rejections get the generic message, which never echoes the provider's text.
            Some((class, _)) if class.code == ErrorCode::InvalidApiKey => map_upstream_failure(
                &backend.name,
                &UpstreamFailure::Status {
                    status: match failure {
                        UpstreamFailure::Status { status, .. } => *status,
                        _ => 401,
                    },
                    body: String::new(),
                    retry_after: None,
                },
            ),
            Some((class, header_retry)) => {
                let mut message =
                    format!("backend `{}`: {}", backend.name, class.message.trim_end());
                if !message.ends_with(['.', '!', '?', '。']) {
                    message.push('.');
                }
                if class.code == ErrorCode::RateLimitExceeded
                    && !message.to_lowercase().contains("try again in")
                {
                    let secs = header_retry
                        .or(class.retry_after_secs)
                        .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
                    message.push_str(&format!(" Please try again in {secs}s."));
                }
                GatewayError::Upstream {
                    status: class.code.http_status(),
                    code: class.code.as_str().to_owned(),
                    message,
                }
            }
            None => map_upstream_failure(&backend.name, failure),
        };
        match mapped {
            GatewayError::Upstream {
                status,
                code,
                message,
            } => GatewayError::Upstream {
                status,
                code,
                message: self.redactor.redact(&message).into_owned(),
            },
            other => other,
        }
    }
}

/// State of one upstream stream being converted.
struct UpstreamStream {
    machine: ChatToResponses,
    out: VecDeque<ResponseEvent>,
    resp: reqwest::Response,
    decoder: SseDecoder,
    /// Some when the upstream answered JSON to a streaming request (collected whole).
    json_fallback: Option<Vec<u8>>,
    mapper: FailureMapper,
    policy: UpstreamPolicy,
    /// When the client's request arrived: the total timeout counts from here.
    started: Instant,
    /// When the upstream last sent a data event (comments do not count): the idle timeout.
    last_event: Instant,
    /// When an event last went to the client: keep-alives are due `keepalive_interval` after.
    last_sent: Instant,
    done: bool,
    log: Option<RequestLog>,
}

impl UpstreamStream {
    /// Reads until at least one event is queued or the stream is done.
    async fn fill(&mut self) {
        while self.out.is_empty() && !self.done {
            let now = Instant::now();
            let total_deadline = self.started + self.policy.total;
            let idle_deadline = self.last_event + self.policy.idle;
            let keepalive_deadline = self.last_sent + self.policy.keepalive_interval;
            if now >= total_deadline {
                self.fail(UpstreamFailure::Timeout("total"));
                return;
            }
            if now >= idle_deadline {
                self.fail(UpstreamFailure::Timeout("idle"));
                return;
            }
            if now >= keepalive_deadline && !self.machine.is_finished() {
                // Codex's idle timer is reset only by parsed events, not SSE comments, so
                // upstream silence (or comment-only keep-alives) is bridged with events.
                self.last_sent = now;
                self.out.push_back(self.machine.keepalive());
                return;
            }
            let next = total_deadline.min(idle_deadline).min(keepalive_deadline);
            match tokio::time::timeout_at(next.into(), self.resp.chunk()).await {
                Err(_) => {}
                Ok(Err(e)) => {
                    self.fail(UpstreamFailure::Disconnected(e.to_string()));
                    return;
                }
                Ok(Ok(None)) => {
                    self.end_of_body();
                    return;
                }
                Ok(Ok(Some(bytes))) => {
                    if let Some(buf) = &mut self.json_fallback {
                        self.last_event = Instant::now();
                        buf.extend_from_slice(&bytes);
                        continue;
                    }
                    for item in self.decoder.push(&bytes) {
                        if matches!(item, SseItem::Event(_)) {
                            self.last_event = Instant::now();
                        }
                        self.on_item(item);
                        if self.done {
                            return;
                        }
                    }
                }
            }
        }
    }

    fn on_item(&mut self, item: SseItem) {
        let SseItem::Event(ev) = item else { return };
        match parse_chat_data(&ev.data) {
            ChatData::Done => {
                let evs = self.machine.finish();
                self.out.extend(evs);
                self.done = true;
            }
            ChatData::Chunk(chunk) => self.push_chunk(chunk),
            ChatData::Error(payload) => self.fail(UpstreamFailure::InBand(payload)),
            ChatData::Malformed(detail) => self.fail(UpstreamFailure::Protocol(format!(
                "malformed upstream event: {detail}"
            ))),
        }
    }

    fn push_chunk(&mut self, chunk: ChatChunk) {
        let evs = self.machine.push(chunk);
        self.out.extend(evs);
        if self.machine.is_finished() {
            self.done = true;
        }
    }

    fn end_of_body(&mut self) {
        if let Some(buf) = self.json_fallback.take() {
            match parse_completion(&buf) {
                Ok(c) => {
                    self.push_chunk(c.into_chunk());
                    let evs = self.machine.finish();
                    self.out.extend(evs);
                }
                Err(f) => self.fail(f),
            }
            self.done = true;
            return;
        }
        for item in self.decoder.finish() {
            self.on_item(item);
            if self.done {
                return;
            }
        }
        // EOF without [DONE]: the machine decides (a missing finish_reason is a truncated answer).
        let evs = self.machine.finish();
        self.out.extend(evs);
        self.done = true;
    }

    fn fail(&mut self, f: UpstreamFailure) {
        let e = self.mapper.map(&f);
        if let Some(log) = &self.log {
            log.error(&e);
        }
        let evs = self.machine.fail(e.code(), &e.to_string());
        self.out.extend(evs);
        self.done = true;
    }
}

fn mock_stream(chat: &ChatRequest, ctx: StreamContext, log: RequestLog) -> EventStream {
    let mut machine = ChatToResponses::new(ctx);
    let mut out: VecDeque<ResponseEvent> = machine.start().into();
    for c in crate::mock::mock_chunks(chat) {
        out.extend(machine.push(c));
    }
    out.extend(machine.finish());
    finished_stream(out, log)
}

fn finished_stream(out: VecDeque<ResponseEvent>, log: RequestLog) -> EventStream {
    let mut log = Some(log);
    Box::pin(futures_util::stream::iter(out).map(move |ev| {
        if ev.is_terminal() {
            if let Some(l) = log.take() {
                l.finish_event(&ev);
            }
        }
        ev
    }))
}

use futures_util::StreamExt as _;

/// One log line per request, written when the answer is complete.
struct RequestLog {
    backend: String,
    model: String,
    upstream_model: String,
    started: Instant,
    log_body: bool,
    redactor: Redactor,
}

impl RequestLog {
    fn finish_event(&self, ev: &ResponseEvent) {
        match ev {
            ResponseEvent::Completed { response } | ResponseEvent::Incomplete { response } => {
                self.finish(response, 200)
            }
            ResponseEvent::Failed { response } => self.finish(response, 200),
            _ => {}
        }
    }

    fn finish(&self, resp: &ResponseObject, status: u16) {
        let usage = resp.usage.clone().unwrap_or_default();
        let outcome = match resp.status {
            ResponseStatus::Completed => "completed",
            ResponseStatus::Incomplete => "incomplete",
            ResponseStatus::Failed => "failed",
            ResponseStatus::InProgress => "in_progress",
        };
        tracing::info!(
            target: "ccp::access",
            backend = %self.backend,
            model = %self.model,
            upstream_model = %self.upstream_model,
            status,
            outcome,
            error_code = resp.error.as_ref().map(|e| e.code.as_str()).unwrap_or(""),
            duration_ms = self.started.elapsed().as_millis() as u64,
            input_tokens = usage.input_tokens,
            cached_tokens = usage.input_tokens_details.cached_tokens,
            output_tokens = usage.output_tokens,
            reasoning_tokens = usage.output_tokens_details.reasoning_tokens,
            "request finished"
        );
        if self.log_body {
            let body = serde_json::to_string(&resp.output).unwrap_or_default();
            tracing::info!(backend = %self.backend, response_output = %self.redactor.redact(&body), "response body");
        }
    }

    fn error(&self, e: &GatewayError) {
        tracing::error!(
            target: "ccp::access",
            backend = %self.backend,
            model = %self.model,
            status = e.status(),
            code = e.code(),
            duration_ms = self.started.elapsed().as_millis() as u64,
            error = %self.redactor.redact(&e.to_string()),
            "upstream failure"
        );
    }
}

/// A whole JSON answer: a chat completion, or one of the error payloads providers send with 200.
fn parse_completion(bytes: &[u8]) -> Result<ChatCompletion, UpstreamFailure> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        UpstreamFailure::Protocol(format!(
            "expected an SSE stream or a chat completion JSON body: {e}"
        ))
    })?;
    if is_error_payload(&value) {
        return Err(UpstreamFailure::InBand(value));
    }
    serde_json::from_value(value)
        .map_err(|e| UpstreamFailure::Protocol(format!("not a chat completion: {e}")))
}

fn serialize(chat: &ChatRequest) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(chat).map(Bytes::from).map_err(|e| {
        GatewayError::Internal(format!("could not serialize the upstream request: {e}"))
    })
}

fn policy_of(b: &Backend) -> UpstreamPolicy {
    UpstreamPolicy {
        connect: b.connect_timeout,
        first_byte: b.first_byte_timeout,
        idle: b.idle_timeout,
        total: b.total_timeout,
        max_retries: b.max_retries,
        // Disabled keep-alives still need a wake-up to check the idle timeout.
        keepalive_interval: b.keepalive_interval.unwrap_or(b.idle_timeout),
    }
}

/// Every secret value in the config (upstream and client keys), for redaction.
pub fn secret_values(config: &Config) -> Vec<String> {
    let upstream = config
        .backends
        .iter()
        .filter_map(|b| b.api_key.as_ref().map(|k| k.expose().to_owned()));
    let client = config.client_keys.iter().map(|k| k.expose().to_owned());
    upstream.chain(client).collect()
}

/// The configured client keys.
pub fn client_key_values(config: &Config) -> Vec<&str> {
    config.client_keys.iter().map(|k| k.expose()).collect()
}

/// A new `resp_…` id.
pub fn new_response_id() -> String {
    let mut s = String::with_capacity(29);
    s.push_str("resp_");
    for _ in 0..24 {
        s.push(char::from(b"0123456789abcdef"[fastrand::usize(0..16)]));
    }
    s
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
