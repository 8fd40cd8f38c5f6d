//! `MockUpstream`: a scripted, provider-strict Chat Completions server for tests.
//!
//! It listens on `127.0.0.1:0` on the current tokio runtime, answers `POST …/chat/completions`
//! (any prefix, e.g. `/plan/v3/chat/completions`) from a FIFO queue of [`Reply`]s and
//! `GET …/models` with a fixed list. Every request is recorded ([`RecordedRequest`]) and checked
//! against [`Strictness`]; a broken rule is answered like a strict provider would (400/401 with an
//! OpenAI-shaped error) and recorded as a violation, so a test ends with
//! [`MockUpstream::assert_no_violations`].
//!
//! Invariants: a rejected request consumes no scripted reply; a request that finds the queue
//! empty gets a 500 naming "no scripted reply left" and records a violation; each response body
//! carries a guard that stamps [`RecordedRequest::dropped_at`] when the server drops it (stream
//! finished, failed, or the client went away).

mod reply;
mod rules;
mod stream;
mod validate;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use reply::{
    chunk, error_body, split_text, usage_chunk, Reply, SseItem, SseScript, MOCK_COMPLETION_ID,
    MOCK_MODEL, MOCK_PROMPT_TOKENS,
};
pub use rules::{
    Problem, Rule, Strictness, CHAT_FIELDS, REASONING_REQUIRED_MESSAGE, RESPONSES_ONLY_FIELDS,
};
pub use validate::{check_auth, check_chat_request};

/// Request bodies above this size are refused (Codex histories are large but not this large).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Position in [`MockUpstream::requests`].
    pub index: usize,
    /// `GET` / `POST` / ….
    pub method: String,
    /// Exact path, e.g. `/v1/chat/completions` or `/plan/v3/chat/completions`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers with lowercased names (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Value::Null` when empty; a string when it was not valid JSON).
    pub body: Value,
    /// The HTTP status the mock answered with.
    pub status: u16,
    /// Violations this request caused (same strings as in [`MockUpstream::violations`]).
    pub violations: Vec<String>,
    /// When the request arrived.
    pub received_at: Instant,
    /// When the server dropped the response body: end of stream, abrupt drop, or the client
    /// disconnecting (also while a scripted header delay was pending). `None` while the answer
    /// is still being served.
    pub dropped_at: Option<Instant>,
    /// Whether the body was served to its natural end (false after a client disconnect or a
    /// scripted `drop_after`).
    pub completed: bool,
}

impl RecordedRequest {
    /// A header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The `Authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }

    /// `body.messages` (empty when absent).
    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether this was a chat completions call.
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/chat/completions")
    }
}

#[derive(Debug)]
struct Inner {
    rules: Strictness,
    replies: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    violations: Vec<(Rule, String)>,
    models: Vec<String>,
}

#[derive(Debug, Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks request `index` as finished serving; called by the body guard.
    fn body_dropped(&self, index: usize, completed: bool) {
        if let Some(request) = self.lock().requests.get_mut(index) {
            request.dropped_at = Some(Instant::now());
            request.completed = completed;
        }
    }
}

/// The scripted strict mock Chat Completions server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Shared,
    server: JoinHandle<()>,
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(rules: Strictness) -> MockUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock upstream: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock upstream: local_addr");
        let shared = Shared(Arc::new(Mutex::new(Inner {
            rules,
            replies: VecDeque::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            models: vec![MOCK_MODEL.to_owned()],
        })));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            // Errors here only happen when the runtime shuts down; nothing to report to.
            let _ = axum::serve(listener, app).await;
        });
        MockUpstream {
            addr,
            shared,
            server,
        }
    }

    /// Starts with [`Strictness::default`].
    pub async fn strict() -> MockUpstream {
        Self::start(Strictness::default()).await
    }

    /// Base URL with `/v1`, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// `http://127.0.0.1:PORT` (append any prefix, e.g. `/plan/v3`).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues one scripted reply (FIFO).
    pub fn push(&self, reply: impl Into<Reply>) {
        self.shared.lock().replies.push_back(reply.into());
    }

    /// Queues several replies in order.
    pub fn push_all<I, R>(&self, replies: I)
    where
        I: IntoIterator<Item = R>,
        R: Into<Reply>,
    {
        let mut inner = self.shared.lock();
        inner.replies.extend(replies.into_iter().map(Into::into));
    }

    /// Scripted replies not consumed yet.
    pub fn pending_replies(&self) -> usize {
        self.shared.lock().replies.len()
    }

    /// Replaces the rules for subsequent requests.
    pub fn set_rules(&self, rules: Strictness) {
        self.shared.lock().rules = rules;
    }

    /// The model ids served by `GET …/models`.
    pub fn set_models<I, S>(&self, models: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.shared.lock().models = models.into_iter().map(Into::into).collect();
    }

    /// Snapshot of every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Snapshot of the chat completions requests only.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_chat())
            .collect()
    }

    /// Request `index`, if it arrived.
    pub fn request(&self, index: usize) -> Option<RecordedRequest> {
        self.shared.lock().requests.get(index).cloned()
    }

    /// The `Authorization` header of every request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|r| r.authorization().map(str::to_owned))
            .collect()
    }

    /// Every violation so far, each prefixed with its rule id (`"unknown_field: …"`).
    pub fn violations(&self) -> Vec<String> {
        self.shared
            .lock()
            .violations
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The rules broken so far, in order (one entry per violation).
    pub fn violation_rules(&self) -> Vec<Rule> {
        self.shared
            .lock()
            .violations
            .iter()
            .map(|(r, _)| *r)
            .collect()
    }

    /// Panics listing every violation, if there is any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "mock upstream recorded {} violation(s):\n  - {}",
            violations.len(),
            violations.join("\n  - ")
        );
    }

    /// Waits until at least `count` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().requests.len() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the response body of request `index` is dropped; returns when, or `None` on
    /// timeout. Use it to check that a client disconnect reached the upstream connection.
    pub async fn wait_for_drop(&self, index: usize, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let dropped = self
                .shared
                .lock()
                .requests
                .get(index)
                .and_then(|r| r.dropped_at);
            if dropped.is_some() {
                return dropped;
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    let body = parse_body(&bytes);
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let index = record(&shared, &parts.method, &parts.uri, &parts.headers, body);
    let label = format!("{method} {path} (request #{index})");

    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let rules = shared.lock().rules.clone();
    if let Some(problem) = check_auth(&rules, auth) {
        add_violations(&shared, index, &label, std::slice::from_ref(&problem));
        let body = error_body(
            "invalid_request_error",
            "invalid_api_key",
            &problem.message,
            None,
        );
        return finish(&shared, index, json_response(401, &body, &[]));
    }

    if method == Method::GET && path.ends_with("/models") {
        let models = shared.lock().models.clone();
        let data: Vec<Value> = models
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mock"}))
            .collect();
        let body = json!({"object": "list", "data": data});
        return finish(&shared, index, json_response(200, &body, &[]));
    }

    if method != Method::POST || !path.ends_with("/chat/completions") {
        let problem = Problem::new(
            Rule::UnexpectedRequest,
            None,
            format!("the mock upstream does not serve {method} {path}"),
        );
        add_violations(&shared, index, &label, std::slice::from_ref(&problem));
        let body = error_body("invalid_request_error", "not_found", &problem.message, None);
        return finish(&shared, index, json_response(404, &body, &[]));
    }

    let problems = {
        let inner = shared.lock();
        check_chat_request(&rules, &inner.requests[index].body)
    };
    if let Some(first) = problems.first() {
        add_violations(&shared, index, &label, &problems);
        let body = error_body(
            "invalid_request_error",
            "invalid_request_error",
            &first.message,
            first.param.as_deref(),
        );
        return finish(&shared, index, json_response(400, &body, &[]));
    }

    let next = shared.lock().replies.pop_front();
    let Some(reply) = next else {
        let problem = Problem::new(
            Rule::NoScriptedReply,
            None,
            "no scripted reply left".to_owned(),
        );
        add_violations(&shared, index, &label, std::slice::from_ref(&problem));
        let message = format!("mock upstream: no scripted reply left for {label}");
        let body = error_body("server_error", "no_scripted_reply", &message, None);
        return finish(&shared, index, json_response(500, &body, &[]));
    };

    match reply {
        Reply::Json(status, body, headers) => {
            finish(&shared, index, json_response(status, &body, &headers))
        }
        Reply::Raw(status, content_type, body) => {
            let headers = [("content-type".to_owned(), content_type)];
            finish(
                &shared,
                index,
                response(status, &headers, Bytes::from(body)),
            )
        }
        Reply::Sse(script) => {
            // Created before the header delay so a client giving up while waiting for headers
            // is observed too (hyper drops this handler future).
            let guard = stream::BodyGuard::new(index, {
                let shared = shared.clone();
                move |i, completed| shared.body_dropped(i, completed)
            });
            if !script.header_delay.is_zero() {
                tokio::time::sleep(script.header_delay).await;
            }
            set_status(&shared, index, script.status);
            let mut headers = vec![
                ("content-type".to_owned(), "text/event-stream".to_owned()),
                ("cache-control".to_owned(), "no-cache".to_owned()),
            ];
            headers.extend(script.headers.iter().cloned());
            let body = Body::from_stream(stream::sse_body(&script, guard));
            build(script.status, &headers, body)
        }
    }
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn record(
    shared: &Shared,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Value,
) -> usize {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let mut inner = shared.lock();
    let index = inner.requests.len();
    inner.requests.push(RecordedRequest {
        index,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: map,
        body,
        status: 0,
        violations: Vec::new(),
        received_at: Instant::now(),
        dropped_at: None,
        completed: false,
    });
    index
}

fn add_violations(shared: &Shared, index: usize, label: &str, problems: &[Problem]) {
    let mut inner = shared.lock();
    for problem in problems {
        let text = format!("{}: {} [{label}]", problem.rule, problem.message);
        inner.violations.push((problem.rule, text.clone()));
        if let Some(request) = inner.requests.get_mut(index) {
            request.violations.push(text);
        }
    }
}

fn set_status(shared: &Shared, index: usize, status: u16) {
    if let Some(request) = shared.lock().requests.get_mut(index) {
        request.status = status;
    }
}

/// A fully buffered answer: record its status and wrap the body in a drop guard too, so
/// `dropped_at` means the same thing for every reply kind.
fn finish(shared: &Shared, index: usize, (status, headers, body): Buffered) -> Response {
    set_status(shared, index, status);
    let guard = stream::BodyGuard::new(index, {
        let shared = shared.clone();
        move |i, completed| shared.body_dropped(i, completed)
    });
    build(
        status,
        &headers,
        Body::from_stream(stream::once_body(body, guard)),
    )
}

type Buffered = (u16, Vec<(String, String)>, Bytes);

fn json_response(status: u16, body: &Value, extra: &[(String, String)]) -> Buffered {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(extra.iter().cloned());
    response(status, &headers, Bytes::from(body.to_string()))
}

fn response(status: u16, headers: &[(String, String)], body: Bytes) -> Buffered {
    (status, headers.to_vec(), body)
}

fn build(status: u16, headers: &[(String, String)], body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
