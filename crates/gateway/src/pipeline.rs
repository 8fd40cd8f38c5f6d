//! The request pipeline: parse → route → call the backend's upstream → answer, as one JSON
//! object or as a stream of Responses events. It knows no upstream protocol: each kind lives in
//! `crate::upstream` behind [`Upstream`]. A Chat Completions client comes in through
//! [`Gateway::prepare_chat`] / [`Gateway::execute_chat`]: routed and governed the same way, then
//! handed to [`Upstream`]'s Chat entry, which decides per kind (relay or convert).
//!
//! A request whose model a model group serves goes through the group (`crate::groups`), one
//! backend per attempt (`serve.rs`, this module's child); the answer then names the backend that
//! gave it ([`Answer::headers`]).
//!
//! Streaming answers are a `Stream` polled by the HTTP body: dropping the body (client hung up)
//! drops the upstream response at once, which closes the upstream connection. Upstream failures
//! before the stream starts are retried by the transport; after that they end the stream with
//! `response.failed`, never with a truncated `response.completed`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ccp_telemetry::{RequestScope, Telemetry};
use ccp_types::events::{ResponseObject, StreamEvent};
use ccp_types::responses::{parse_request, parse_request_value, ResponsesRequest};
use futures_util::Stream;
use http::HeaderMap;

use crate::access_log::RequestLog;
use crate::cache::ResponseCache;
use crate::config::Config;
use crate::error::GatewayError;
use crate::govern::Governor;
use crate::groups::{Clock, FailureNote, Groups};
use crate::identity::ClientIdentity;
use crate::observe::ModelNames;
use crate::redact::Redactor;
use crate::routing::Router;
use crate::state::ResponseState;
use crate::upstream::stream::FailureMapper;
use crate::upstream::Upstream;
use crate::usage::UsageLog;

mod answer;
mod health;
mod record;
mod serve;
mod state_input;

pub use crate::upstream::new_response_id;
pub use ccp_convert::chat_ingress::stream::ChatFrame;

/// A Chat Completions stream: chunks (or an error frame), then [`ChatFrame::Done`].
pub type ChatStream = Pin<Box<dyn Stream<Item = ChatFrame> + Send>>;

/// What the edge sends back to a Chat Completions client.
pub struct ChatResponse {
    pub headers: http::HeaderMap,
    pub body: ChatBody,
}

/// The body of a successful Chat Completions answer.
pub enum ChatBody {
    /// A `chat.completion` as JSON text (relayed, or built from a Responses answer).
    Json(Bytes),
    /// `chat.completion.chunk`s.
    Stream(ChatStream),
}

/// A routed Chat Completions request. The body stays JSON: a Chat backend gets it shaped by
/// its profile, any other kind gets it converted to a Responses request.
#[derive(Debug, Clone)]
pub struct PreparedChat {
    pub backend: usize,
    /// The model group serving the request (index into `Config::model_groups`), if any.
    pub group: Option<usize>,
    pub upstream_model: String,
    /// The client's body.
    pub body: serde_json::Value,
    /// Its size in bytes, to size the upstream body's buffer.
    pub body_len: usize,
    /// The request's spans and metrics (the edge sets it; inert by default).
    pub telemetry: RequestScope,
}

impl PreparedChat {
    /// The model the client asked for.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(serde_json::Value::as_str)
    }

    /// The client asked for a stream.
    pub fn stream(&self) -> bool {
        self.body
            .get("stream")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

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

    /// Size in bytes, walking a frame's values (for token estimates; not on the hot path).
    pub fn approx_len(&self) -> usize {
        match self {
            ClientBody::Bytes(b) => b.len(),
            ClientBody::Frame(map) => map.values().map(approx_json_len).sum(),
        }
    }
}

/// A routed, parsed request ready to execute.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub backend: usize,
    /// The model group serving the request (index into `Config::model_groups`), if any.
    pub group: Option<usize>,
    pub upstream_model: String,
    pub request: ResponsesRequest,
    /// The client's body as it came. Its size also sizes the upstream body's buffer.
    pub body: ClientBody,
    /// How many leading input items came from the store (`previous_response_id`), so an error
    /// about one names that, not an index the client never sent.
    pub context_items: usize,
    /// The request's spans and metrics (the edge sets it; inert by default).
    pub telemetry: RequestScope,
}

/// An answer with the facts of how it was served, which go with errors too.
pub struct Answer<T> {
    /// For a model group: `x-ccp-backend` (the backend that gave the answer),
    /// `x-ccp-upstream-model`, `x-ccp-attempts` and `x-ccp-fallback-count`. Empty otherwise
    /// (the edge names the routed backend).
    pub headers: HeaderMap,
    pub result: Result<T, GatewayError>,
}

impl<T> Answer<T> {
    fn plain(result: Result<T, GatewayError>) -> Self {
        Answer {
            headers: HeaderMap::new(),
            result,
        }
    }
}

/// The gateway: immutable after construction, shared by all connections.
pub struct Gateway {
    config: Arc<Config>,
    router: Router,
    upstreams: Vec<Upstream>,
    /// One failure mapper per backend, built once: requests share it instead of copying the
    /// backend's name, URL and profile each time.
    mappers: Vec<Arc<FailureMapper>>,
    redactor: Redactor,
    /// Stored responses and the reasoning sealer (`crate::state`).
    state: Arc<ResponseState>,
    /// Virtual keys, aliases, budgets, rate limits (`crate::govern`).
    governor: Arc<Governor>,
    /// The response cache, when the config has a `cache` block (`crate::cache`).
    cache: Option<Arc<ResponseCache>>,
    /// The model groups' breakers and strategy state.
    groups: Groups,
    /// Per backend, the origin written into the reasoning state it produces (its kind and
    /// endpoint, `crate::state::replay`).
    origins: Vec<String>,
    /// Metrics, and traces when configured (see [`Gateway::with_telemetry`]).
    telemetry: Telemetry,
    /// The model names metric labels may carry.
    model_names: ModelNames,
    /// Finished requests: usage records and the console's live list (`crate::usage`).
    usage: Arc<UsageLog>,
}

impl Gateway {
    /// Builds the upstream of every backend, with no store (see [`Gateway::with_state`]).
    pub fn new(config: Config) -> Result<Self, GatewayError> {
        let mut upstreams = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let upstream = Upstream::build(b)
                .map_err(|e| GatewayError::Internal(format!("backend `{}`: {e}", b.name)))?;
            upstreams.push(upstream);
        }
        let router = Router::new(&config);
        let redactor = Redactor::new(secret_values(&config));
        let mappers = config
            .backends
            .iter()
            .map(|backend| {
                Arc::new(FailureMapper {
                    backend: backend.name.clone(),
                    url: backend
                        .endpoint_url()
                        .map(|u| u.split('?').next().unwrap_or_default().to_owned()),
                    profile: backend.profile.clone(),
                    redactor: redactor.clone(),
                })
            })
            .collect();
        let state = Arc::new(ResponseState::without_store()?);
        let governor = Arc::new(Governor::without_store(&config.governance)?);
        let cache = ResponseCache::from_config(&config)?.map(Arc::new);
        let groups = Groups::new(
            &config.model_groups,
            &config.backends,
            crate::groups::monotonic_clock(),
        );
        let origins = config
            .backends
            .iter()
            .map(|b| {
                let url = b.endpoint_url().unwrap_or_default();
                let url = url.split('?').next().unwrap_or_default();
                format!("{} {url}", b.protocol.as_str())
            })
            .collect();
        let model_names = ModelNames::new(&config);
        let usage = Arc::new(UsageLog::new(config.governance.prices.clone(), None));
        Ok(Gateway {
            config: Arc::new(config),
            router,
            upstreams,
            mappers,
            redactor,
            state,
            governor,
            cache,
            groups,
            origins,
            telemetry: Telemetry::metrics_only(),
            model_names,
            usage,
        })
    }

    /// Runs the model groups' cooldowns on `clock` instead of the real one (tests move it by
    /// hand).
    pub fn with_group_clock(mut self, clock: Clock) -> Self {
        self.groups.set_clock(clock);
        self
    }

    /// The gateway with `config`'s store opened (created and migrated on first start) and its
    /// retention running in the background.
    pub async fn open(config: Config) -> Result<Self, GatewayError> {
        let state = ResponseState::open(&config.storage)
            .await
            .map_err(GatewayError::Internal)?;
        let governor = match state.store() {
            Some(store) => Governor::open(&config.governance, store)
                .await
                .map_err(GatewayError::Internal)?,
            None => Governor::without_store(&config.governance)?,
        };
        let governor = Arc::new(governor);
        governor.spawn_revocation_listener();
        let mut gateway = Gateway::new(config)?.with_state(state);
        gateway.usage = Arc::new(UsageLog::new(
            governor.prices().clone(),
            governor.store().cloned(),
        ));
        gateway.governor = governor;
        Ok(gateway)
    }

    /// Governance: keys, aliases, budgets, rate limits.
    pub fn governor(&self) -> &Arc<Governor> {
        &self.governor
    }

    /// Uses `state` for stored responses (and starts its background retention).
    pub fn with_state(mut self, state: ResponseState) -> Self {
        let state = Arc::new(state);
        state.spawn_retention();
        self.state = state;
        self
    }

    /// Uses `cache` as the response cache (`None`: no cache), e.g. one with a test clock.
    pub fn with_response_cache(mut self, cache: Option<ResponseCache>) -> Self {
        self.cache = cache.map(Arc::new);
        self
    }

    /// Uses `telemetry` for metrics and traces (by default: metrics only, no spans).
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The metrics and traces.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Stored responses.
    pub fn state(&self) -> &ResponseState {
        &self.state
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
        identity: &ClientIdentity,
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
        let route = self.route(identity, path, headers, request.model.as_deref())?;
        Ok(PreparedRequest {
            backend: route.backend,
            group: route.group,
            upstream_model: route.upstream_model,
            request,
            body: ClientBody::Bytes(body),
            context_items: 0,
            telemetry: RequestScope::default(),
        })
    }

    /// Parses and routes the fields of a WebSocket `response.create` frame (WebSocket-only
    /// fields already removed, `input` already expanded into the full history).
    pub fn prepare_frame(
        &self,
        identity: &ClientIdentity,
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
        let route = self.route(identity, path, headers, request.model.as_deref())?;
        Ok(PreparedRequest {
            backend: route.backend,
            group: route.group,
            upstream_model: route.upstream_model,
            request,
            body: ClientBody::Frame(match value {
                serde_json::Value::Object(frame) => frame,
                _ => serde_json::Map::new(),
            }),
            context_items: 0,
            telemetry: RequestScope::default(),
        })
    }

    /// Parses and routes a Chat Completions body that arrived on `path` (prefix included).
    pub fn prepare_chat(
        &self,
        identity: &ClientIdentity,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<PreparedChat, GatewayError> {
        let bad = |param: Option<&str>, message: String| GatewayError::BadRequest {
            param: param.map(str::to_owned),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| bad(None, format!("invalid request body: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(bad(
                None,
                "invalid request body: expected a JSON object".into(),
            ));
        };
        if !obj.contains_key("messages") {
            let message = if obj.contains_key("input") {
                "`input` belongs to the Responses API; this endpoint is Chat Completions and \
                 expects `messages`. Send the body to POST /v1/responses, or send the \
                 conversation as `messages`."
            } else {
                "`messages` is required: a list such as [{\"role\": \"user\", \"content\": \"hi\"}]"
            };
            return Err(bad(Some("messages"), message.to_owned()));
        }
        let model = obj.get("model").and_then(serde_json::Value::as_str);
        let route = self.route(identity, path, headers, model)?;
        Ok(PreparedChat {
            backend: route.backend,
            group: route.group,
            upstream_model: route.upstream_model,
            body: value,
            body_len: body.len(),
            telemetry: RequestScope::default(),
        })
    }

    /// Routes by path, the model (after aliases; refused when the caller's key may not use it)
    /// and headers.
    fn route(
        &self,
        identity: &ClientIdentity,
        path: &str,
        headers: &HeaderMap,
        model: Option<&str>,
    ) -> Result<crate::routing::Route, GatewayError> {
        let resolved = match model {
            Some(m) => Some(self.governor.resolve_model(identity, m)?),
            None => None,
        };
        let model = resolved.as_deref();
        let lookup = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let route = self.router.resolve(path, model, &lookup);
        if let Some(model) = model.filter(|_| self.config.strict_models) {
            let backend = &self.config.backends[route.backend];
            let served = matches!(
                route.matched_by,
                crate::routing::MatchedBy::Model | crate::routing::MatchedBy::ModelGroup
            ) || backend.serves_model(model);
            if !served {
                return Err(GatewayError::ModelNotFound {
                    model: model.to_owned(),
                    served: self
                        .router
                        .served_models()
                        .into_iter()
                        .map(|(m, _)| m)
                        .collect(),
                });
            }
        }
        Ok(route)
    }

    /// Runs a prepared request on its backend's upstream, or its model group's backends (whose
    /// headers then come with the answer).
    pub async fn execute(
        &self,
        prepared: PreparedRequest,
    ) -> Result<GatewayResponse, GatewayError> {
        let (served, headers) = self.serve(prepared).await;
        served.result.map(|mut response| {
            response.headers.extend(headers);
            response
        })
    }

    /// What every call needs besides the request: the access log and the failure mapper (and
    /// the route on the request's telemetry); an error when the backend's key is missing.
    fn call_setup(
        &self,
        scope: &RequestScope,
        (backend, client_model, upstream_model): (usize, &str, &str),
        stream: bool,
        input_messages: Option<String>,
        note: Option<Arc<FailureNote>>,
    ) -> Result<(RequestLog, Arc<FailureMapper>), GatewayError> {
        let started = Instant::now();
        let mapper = self.mappers[backend].clone();
        let backend = &self.config.backends[backend];
        scope.route(crate::observe::route(
            backend,
            &self.model_names,
            upstream_model,
            stream,
            input_messages,
        ));
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
        let log = RequestLog {
            backend: backend.name.clone(),
            model: client_model.to_owned(),
            upstream_model: upstream_model.to_owned(),
            started,
            log_body: self.config.log_body,
            redactor: self.redactor.clone(),
            note,
            scope: scope.clone(),
            usage: self.usage.clone(),
        };
        Ok((log, mapper))
    }
}

/// About how many bytes `v` takes as JSON (strings and structure, without escaping).
pub fn approx_json_len(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::String(s) => s.len() + 2,
        serde_json::Value::Array(a) => a.iter().map(approx_json_len).sum::<usize>() + 2,
        serde_json::Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + 3 + approx_json_len(v))
                .sum::<usize>()
                + 2
        }
        _ => 8,
    }
}

fn extend_headers(headers: &mut HeaderMap, extra: &[(String, String)]) {
    for (name, value) in extra {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// Every secret value in the config (upstream and client keys), for redaction.
pub fn secret_values(config: &Config) -> Vec<String> {
    let upstream = config
        .backends
        .iter()
        .filter_map(|b| b.api_key.as_ref().map(|k| k.expose().to_owned()));
    let client = config.client_keys.iter().map(|k| k.expose().to_owned());
    let storage = config.storage.password();
    let governance = config.governance.secrets();
    let redis = config.redis_password();
    upstream
        .chain(client)
        .chain(storage)
        .chain(governance)
        .chain(redis)
        .chain(config.telemetry.secret_values())
        .collect()
}

/// The configured client keys.
pub fn client_key_values(config: &Config) -> Vec<&str> {
    config.client_keys.iter().map(|k| k.expose()).collect()
}
