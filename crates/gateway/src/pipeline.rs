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
use ccp_convert::stream::{
    chat_chunks_to_response, chat_completion_to_response, ChatToResponses, StreamContext,
};
use ccp_providers::sse::SseDecoder;
use ccp_types::chat::ChatRequest;
use ccp_types::events::{ResponseEvent, ResponseObject, ResponseStatus, StreamEvent};
use ccp_types::responses::{parse_request, parse_request_value, ResponsesRequest};
use futures_util::Stream;
use reqwest::header::HeaderMap;

use crate::access_log::RequestLog;
use crate::config::{Backend, Config, Protocol};
use ccp_providers::profile::ShapeContext;

use crate::error::{GatewayError, UpstreamFailure};
use crate::redact::Redactor;
use crate::routing::Router;
use crate::upstream::{UpstreamClient, UpstreamPolicy};
use crate::upstream_stream::{parse_completion, FailureMapper, UpstreamStream};

/// A stream of Responses events that always ends with one terminal event.
pub type EventStream = Pin<Box<dyn Stream<Item = StreamEvent> + Send>>;

/// What the edge sends back: headers to add (upstream rate-limit headers, routing facts) and
/// the body.
pub struct GatewayResponse {
    pub headers: http::HeaderMap,
    pub body: ResponseBody,
}

impl GatewayResponse {
    /// A streamed answer with no extra headers.
    pub fn stream(events: EventStream) -> Self {
        GatewayResponse {
            headers: http::HeaderMap::new(),
            body: ResponseBody::Stream(events),
        }
    }

    /// A built JSON answer with no extra headers.
    pub fn json(resp: ResponseObject) -> Self {
        GatewayResponse {
            headers: http::HeaderMap::new(),
            body: ResponseBody::Json(Box::new(resp)),
        }
    }
}

/// The body of a successful answer.
pub enum ResponseBody {
    /// A non-streaming answer the proxy built.
    Json(Box<ResponseObject>),
    /// A non-streaming answer relayed verbatim (a `Response` object as JSON text).
    RawJson(Bytes),
    /// A streaming answer.
    Stream(EventStream),
}

/// The client's request body as it came, for upstreams that forward it (Responses passthrough):
/// the bytes of an HTTP body, or the fields of a WebSocket `response.create` frame.
#[derive(Debug, Clone)]
pub enum ClientBody {
    Bytes(Bytes),
    Frame(serde_json::Map<String, serde_json::Value>),
}

impl ClientBody {
    /// Size in bytes (approximate for a frame).
    pub fn len_hint(&self) -> usize {
        match self {
            ClientBody::Bytes(b) => b.len(),
            ClientBody::Frame(_) => 4096,
        }
    }
}

/// A routed, parsed request ready to execute.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub backend: usize,
    pub upstream_model: String,
    pub request: ResponsesRequest,
    /// The client's body as it came. Its size also sizes the upstream body's buffer.
    pub body: ClientBody,
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
        body: Bytes,
    ) -> Result<PreparedRequest, GatewayError> {
        let request = parse_request(&body).map_err(|e| GatewayError::BadRequest {
            param: if e.path.is_empty() {
                None
            } else {
                Some(e.path.clone())
            },
            message: format!("invalid request body: {e}"),
        })?;
        let route = self.route(path, headers, request.model.as_deref());
        Ok(PreparedRequest {
            backend: route.backend,
            upstream_model: route.upstream_model,
            request,
            body: ClientBody::Bytes(body),
        })
    }

    /// Parses and routes the fields of a WebSocket `response.create` frame (WebSocket-only
    /// fields already removed, `input` already expanded into the full history).
    pub fn prepare_frame(
        &self,
        path: &str,
        headers: &HeaderMap,
        frame: serde_json::Map<String, serde_json::Value>,
    ) -> Result<PreparedRequest, GatewayError> {
        let value = serde_json::Value::Object(frame);
        let request = parse_request_value(&value).map_err(|e| GatewayError::BadRequest {
            param: if e.path.is_empty() {
                None
            } else {
                Some(e.path.clone())
            },
            message: format!("invalid request: {e}"),
        })?;
        let route = self.route(path, headers, request.model.as_deref());
        Ok(PreparedRequest {
            backend: route.backend,
            upstream_model: route.upstream_model,
            request,
            body: ClientBody::Frame(match value {
                serde_json::Value::Object(frame) => frame,
                _ => serde_json::Map::new(),
            }),
        })
    }

    fn route(&self, path: &str, headers: &HeaderMap, model: Option<&str>) -> crate::routing::Route {
        let lookup = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        self.router.resolve(path, model, &lookup)
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
                retry_after: None,
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
            (None, true) => Ok(GatewayResponse::stream(mock_stream(&chat, ctx, log))),
            (None, false) => {
                let resp = chat_chunks_to_response(crate::mock::mock_chunks(&chat), ctx);
                log.finish(&resp, 200);
                Ok(GatewayResponse::json(resp))
            }
            (Some(client), true) => Ok(GatewayResponse::stream(
                self.upstream_stream(
                    client.clone(),
                    prepared.backend,
                    &chat,
                    prepared.body.len_hint(),
                    ctx,
                    log,
                )
                .await,
            )),
            (Some(client), false) => {
                self.upstream_json(
                    client,
                    prepared.backend,
                    &chat,
                    prepared.body.len_hint(),
                    ctx,
                    log,
                )
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

    async fn upstream_json(
        &self,
        client: &UpstreamClient,
        backend: usize,
        chat: &ChatRequest,
        size_hint: usize,
        ctx: StreamContext,
        log: RequestLog,
    ) -> Result<GatewayResponse, GatewayError> {
        let body = serialize(chat, size_hint)?;
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
                retry_after: None,
            };
            log.error(&e);
            return Err(e);
        }
        log.finish(&resp, 200);
        Ok(GatewayResponse::json(resp))
    }

    async fn upstream_stream(
        &self,
        client: UpstreamClient,
        backend: usize,
        chat: &ChatRequest,
        size_hint: usize,
        ctx: StreamContext,
        log: RequestLog,
    ) -> EventStream {
        let mapper = self.failure_mapper(backend);
        let mut machine = ChatToResponses::new(ctx);
        let mut out: VecDeque<ResponseEvent> = machine.start().into();
        let body = match serialize(chat, size_hint) {
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
                    .get(http::header::CONTENT_TYPE)
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
                    timer: Box::pin(tokio::time::sleep(client.policy.keepalive_interval)),
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
                            return Some((StreamEvent::Typed(ev), st));
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
        StreamEvent::Typed(ev)
    }))
}

use futures_util::StreamExt as _;

fn serialize(chat: &ChatRequest, size_hint: usize) -> Result<Bytes, GatewayError> {
    let mut buf = Vec::with_capacity(size_hint + 512);
    serde_json::to_writer(&mut buf, chat)
        .map(|()| Bytes::from(buf))
        .map_err(|e| {
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
        pool_max_idle: b.pool_max_idle,
        pool_idle_timeout: b.pool_idle_timeout,
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
