//! `ResponsesUpstream`: a scripted, strict OpenAI Responses API server for tests, also able to
//! play Azure OpenAI and the ChatGPT Codex backend.
//!
//! It listens on `127.0.0.1:0` on the current tokio runtime and answers `POST …/responses` (any
//! prefix: `/v1/responses`, `/openai/v1/responses`, `/backend-api/codex/responses`) from a FIFO
//! queue of [`ResponsesReply`]s. Every request is recorded ([`RecordedRequest`], raw bytes
//! included) and checked against [`ResponsesStrictness`]; a broken rule is answered with the
//! real server's status and body ([`Rejection`]) and recorded as a violation, so a test ends with
//! [`ResponsesUpstream::assert_no_violations`].
//!
//! A [`ResponseStream`] script is streamed as complete Responses events to `"stream": true`
//! requests and collapsed into the JSON `Response` object otherwise.
//!
//! Invariants (as for [`MockUpstream`](crate::MockUpstream)): a rejected request consumes no
//! scripted reply; an empty queue answers 500 and records `no_scripted_reply`; every answer's
//! body carries the drop guard that stamps `dropped_at` / `completed`. A served response whose
//! request did not say `"store": false` is remembered for `previous_response_id`.

mod chatgpt;
mod events;
mod rules;
mod script;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::serve::{
    json_response, parse_body, Journal, Problem, RecordedRequest, Rule, Server, SseItem, SseScript,
    MAX_BODY_BYTES,
};
use crate::upstream::{error_body, serve_reply};

pub use chatgpt::{ChatGptTokens, TokenState};
pub use events::MOCK_RESPONSE_ID;
pub use rules::{
    check_credentials, check_responses_request, openai_error, Dialect, Rejection, ResponsesAuth,
    ResponsesStrictness, CHATGPT_UNSUPPORTED_FIELDS, RESPONSES_CREATE_FIELDS,
};
pub(crate) use script::unix_now;
pub use script::{
    codex_rate_limits_event, Ending, OutputSpec, Quirks, ResponseStream, ResponsesReply,
    ScriptedUsage,
};

#[derive(Debug)]
struct Inner {
    rules: ResponsesStrictness,
    replies: VecDeque<ResponsesReply>,
    /// Served (stored) response id → call ids in its context.
    stored: HashMap<String, Vec<String>>,
}

/// What the handlers share: the script state and the journal.
type Shared = crate::serve::Shared<Inner>;

/// The scripted strict Responses server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct ResponsesUpstream {
    shared: Shared,
    server: Server,
}

impl ResponsesUpstream {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(rules: ResponsesStrictness) -> ResponsesUpstream {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                rules,
                replies: VecDeque::new(),
                stored: HashMap::new(),
            })),
            journal: Journal::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = Server::start("responses upstream", app).await;
        ResponsesUpstream { shared, server }
    }

    /// The OpenAI API with `Authorization: Bearer <key>` ([`ResponsesStrictness::openai`]).
    pub async fn openai(key: &str) -> ResponsesUpstream {
        Self::start(ResponsesStrictness::openai(key)).await
    }

    /// Azure OpenAI with `api-key: <key>` and a required `api-version`
    /// ([`ResponsesStrictness::azure`]).
    pub async fn azure(key: &str) -> ResponsesUpstream {
        Self::start(ResponsesStrictness::azure(key)).await
    }

    /// The ChatGPT Codex backend accepting the tokens in `tokens`
    /// ([`ResponsesStrictness::chatgpt`]).
    pub async fn chatgpt(tokens: &ChatGptTokens) -> ResponsesUpstream {
        Self::start(ResponsesStrictness::chatgpt(tokens)).await
    }

    /// `http://127.0.0.1:PORT/v1` (the OpenAI base URL).
    pub fn url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// `http://127.0.0.1:PORT/backend-api/codex` (the ChatGPT backend base URL).
    pub fn chatgpt_url(&self) -> String {
        format!("{}/backend-api/codex", self.origin())
    }

    /// `http://127.0.0.1:PORT` (append any prefix, e.g. `/openai/v1`).
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Queues one scripted reply (FIFO).
    pub fn push(&self, reply: impl Into<ResponsesReply>) {
        self.shared.lock().replies.push_back(reply.into());
    }

    /// Queues several replies in order.
    pub fn push_all<I, R>(&self, replies: I)
    where
        I: IntoIterator<Item = R>,
        R: Into<ResponsesReply>,
    {
        let mut inner = self.shared.lock();
        inner.replies.extend(replies.into_iter().map(Into::into));
    }

    /// Scripted replies not consumed yet.
    pub fn pending_replies(&self) -> usize {
        self.shared.lock().replies.len()
    }

    /// Replaces the rules for subsequent requests.
    pub fn set_rules(&self, rules: ResponsesStrictness) {
        self.shared.lock().rules = rules;
    }

    /// The ChatGPT token set, in ChatGPT auth mode.
    pub fn tokens(&self) -> Option<ChatGptTokens> {
        match &self.shared.lock().rules.auth {
            ResponsesAuth::ChatGpt(tokens) => Some(tokens.clone()),
            _ => None,
        }
    }

    /// Ids of the responses remembered for `previous_response_id`, in no particular order.
    pub fn stored_response_ids(&self) -> Vec<String> {
        self.shared.lock().stored.keys().cloned().collect()
    }

    /// Snapshot of every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal.requests()
    }

    /// Snapshot of the `POST …/responses` requests only.
    pub fn responses_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_responses)
            .collect()
    }

    /// Request `index`, if it arrived.
    pub fn request(&self, index: usize) -> Option<RecordedRequest> {
        self.shared.journal.request(index)
    }

    /// The `Authorization` header of every request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.requests()
            .iter()
            .map(|r| r.authorization().map(str::to_owned))
            .collect()
    }

    /// Every violation so far, each prefixed with its rule id (`"unknown_field: …"`).
    pub fn violations(&self) -> Vec<String> {
        self.shared.journal.violations()
    }

    /// The rules broken so far, in order (one entry per violation).
    pub fn violation_rules(&self) -> Vec<Rule> {
        self.shared.journal.violation_rules()
    }

    /// Panics listing every violation, if there is any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        self.shared
            .journal
            .assert_no_violations("responses upstream");
    }

    /// Waits until at least `count` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        self.shared.journal.wait_for_requests(count, timeout).await
    }

    /// Waits until the response body of request `index` is dropped; returns when, or `None` on
    /// timeout.
    pub async fn wait_for_drop(&self, index: usize, timeout: Duration) -> Option<Instant> {
        self.shared.journal.wait_for_drop(index, timeout).await
    }
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let body = parse_body(&bytes);
    let journal = shared.journal.clone();
    let index = journal.record(&parts, bytes, body.clone());
    let rules = shared.lock().rules.clone();

    if let Some(rejection) = check_credentials(&rules, &parts.headers, parts.uri.query()) {
        return reject(&journal, index, &[rejection]);
    }
    let path = parts.uri.path();
    if parts.method != Method::POST || !path.ends_with("/responses") {
        let rejection = rules::unexpected(rules.dialect, parts.method.as_str(), path);
        return reject(&journal, index, &[rejection]);
    }
    let stored = shared.lock().stored.clone();
    let rejections = check_responses_request(&rules, &body, &stored);
    if !rejections.is_empty() {
        return reject(&journal, index, &rejections);
    }

    let next = shared.lock().replies.pop_front();
    let Some(reply) = next else {
        let problem = Problem::new(
            Rule::NoScriptedReply,
            None,
            "no scripted reply left".to_owned(),
        );
        journal.violate(index, std::slice::from_ref(&problem));
        let message = format!(
            "responses upstream: no scripted reply left for POST {path} (request #{index})"
        );
        let body = error_body("server_error", "no_scripted_reply", &message, None);
        return journal.finish(index, json_response(500, &body, &[]));
    };
    let streaming = body.get("stream") == Some(&Value::Bool(true));
    match reply {
        ResponsesReply::Plain(reply) => serve_reply(&journal, index, reply).await,
        ResponsesReply::Stream(script) => {
            serve_model(&shared, index, script, &body, streaming).await
        }
        ResponsesReply::Object(script) => serve_model(&shared, index, script, &body, false).await,
    }
}

/// Answers the first rejection and records all of them.
fn reject(journal: &Journal, index: usize, rejections: &[Rejection]) -> Response {
    let problems: Vec<Problem> = rejections.iter().map(|r| r.problem.clone()).collect();
    journal.violate(index, &problems);
    let (status, body) = rejections
        .first()
        .map_or((500, Value::Null), |r| (r.status, r.body.clone()));
    journal.finish(index, json_response(status, &body, &[]))
}

/// Serves a model answer as a stream or as the JSON object.
async fn serve_model(
    shared: &Shared,
    index: usize,
    mut script: ResponseStream,
    request: &Value,
    streaming: bool,
) -> Response {
    let id = script
        .id
        .get_or_insert_with(|| format!("resp_mock_{index}"))
        .clone();
    let compiled = script.compile(request);
    remember(shared, &id, request, &compiled.object);
    let journal = &shared.journal;
    let transport = &script.transport;
    let mut headers = vec![("x-request-id".to_owned(), format!("req_mock_{index}"))];

    if streaming {
        match &script.quirks.content_type {
            None => headers.push(("content-type".to_owned(), "text/event-stream".to_owned())),
            Some(Some(content_type)) => {
                headers.push(("content-type".to_owned(), content_type.clone()));
            }
            Some(None) => {}
        }
        headers.push(("cache-control".to_owned(), "no-cache".to_owned()));
        let mut frames = transport.clone();
        frames.items = compiled
            .events
            .iter()
            .map(|event| SseItem::Event {
                event: event["type"].as_str().unwrap_or("message").to_owned(),
                data: event.to_string(),
            })
            .collect();
        if let Some(n) = script.stop_after {
            frames.items.truncate(n);
        }
        return journal.serve_sse(index, &frames, headers).await;
    }

    headers.push(("content-type".to_owned(), "application/json".to_owned()));
    if transport.drop_after.is_some() || script.stop_after.is_some() {
        // A non-streaming answer has nothing to cut mid-way: the connection dies after headers.
        let mut failing = SseScript::new(Vec::<String>::new())
            .no_done()
            .drop_after(0)
            .status(transport.status)
            .header_delay(transport.header_delay);
        failing.headers = transport.headers.clone();
        return journal.serve_sse(index, &failing, headers).await;
    }
    let mut answer = json_response(transport.status, &compiled.object, &headers);
    for (name, value) in &transport.headers {
        answer.1.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        answer.1.push((name.clone(), value.clone()));
    }
    journal
        .finish_after(index, transport.header_delay, answer)
        .await
}

/// Keeps the call ids of a stored response for later `previous_response_id` requests.
fn remember(shared: &Shared, id: &str, request: &Value, object: &Value) {
    if request.get("store") == Some(&json!(false)) {
        return;
    }
    let mut inner = shared.lock();
    let inherited = request
        .get("previous_response_id")
        .and_then(Value::as_str)
        .and_then(|previous| inner.stored.get(previous).cloned())
        .unwrap_or_default();
    let output = object["output"].as_array().map_or(&[][..], Vec::as_slice);
    let calls = rules::context_call_ids(request, &inherited, output);
    inner.stored.insert(id.to_owned(), calls);
}
