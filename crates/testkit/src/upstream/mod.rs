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
mod validate;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::serve::{json_response, parse_body, Journal, Server, MAX_BODY_BYTES};

pub use crate::serve::{Problem, RecordedRequest, Rule, SseItem, SseScript};
pub use reply::{
    chunk, error_body, split_text, usage_chunk, Reply, MOCK_COMPLETION_ID, MOCK_MODEL,
    MOCK_PROMPT_TOKENS,
};
pub(crate) use reply::{split_in_three, MOCK_CREATED};
pub use rules::{Strictness, CHAT_FIELDS, REASONING_REQUIRED_MESSAGE, RESPONSES_ONLY_FIELDS};
pub use validate::{check_auth, check_chat_request};

#[derive(Debug)]
struct Inner {
    rules: Strictness,
    replies: VecDeque<Reply>,
    models: Vec<String>,
}

/// What the handlers share: the script state and the journal.
type Shared = crate::serve::Shared<Inner>;

/// The scripted strict mock Chat Completions server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockUpstream {
    shared: Shared,
    server: Server,
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(rules: Strictness) -> MockUpstream {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                rules,
                replies: VecDeque::new(),
                models: vec![MOCK_MODEL.to_owned()],
            })),
            journal: Journal::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = Server::start("mock upstream", app).await;
        MockUpstream { shared, server }
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
        self.server.origin()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
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
        self.shared.journal.requests()
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
        self.shared.journal.assert_no_violations("mock upstream");
    }

    /// Waits until at least `count` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        self.shared.journal.wait_for_requests(count, timeout).await
    }

    /// Waits until the response body of request `index` is dropped; returns when, or `None` on
    /// timeout. Use it to check that a client disconnect reached the upstream connection.
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
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let journal = shared.journal.clone();
    let index = journal.record(&parts, bytes, body.clone());

    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let rules = shared.lock().rules.clone();
    if let Some(problem) = check_auth(&rules, auth) {
        journal.violate(index, std::slice::from_ref(&problem));
        let body = error_body(
            "invalid_request_error",
            "invalid_api_key",
            &problem.message,
            None,
        );
        return journal.finish(index, json_response(401, &body, &[]));
    }

    if method == Method::GET && path.ends_with("/models") {
        let models = shared.lock().models.clone();
        let data: Vec<Value> = models
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "mock"}))
            .collect();
        let body = json!({"object": "list", "data": data});
        return journal.finish(index, json_response(200, &body, &[]));
    }

    if method != Method::POST || !path.ends_with("/chat/completions") {
        let problem = Problem::new(
            Rule::UnexpectedRequest,
            None,
            format!("the mock upstream does not serve {method} {path}"),
        );
        journal.violate(index, std::slice::from_ref(&problem));
        let body = error_body("invalid_request_error", "not_found", &problem.message, None);
        return journal.finish(index, json_response(404, &body, &[]));
    }

    let problems = check_chat_request(&rules, &body);
    if let Some(first) = problems.first() {
        journal.violate(index, &problems);
        let body = error_body(
            "invalid_request_error",
            "invalid_request_error",
            &first.message,
            first.param.as_deref(),
        );
        return journal.finish(index, json_response(400, &body, &[]));
    }

    let next = shared.lock().replies.pop_front();
    let Some(reply) = next else {
        let problem = Problem::new(
            Rule::NoScriptedReply,
            None,
            "no scripted reply left".to_owned(),
        );
        journal.violate(index, std::slice::from_ref(&problem));
        let message =
            format!("mock upstream: no scripted reply left for {method} {path} (request #{index})");
        let body = error_body("server_error", "no_scripted_reply", &message, None);
        return journal.finish(index, json_response(500, &body, &[]));
    };
    serve_reply(&journal, index, reply).await
}

/// Serves one scripted [`Reply`] as request `index`'s answer (shared with the Responses mock).
pub(crate) async fn serve_reply(journal: &Journal, index: usize, reply: Reply) -> Response {
    match reply {
        Reply::Json(status, body, headers) => {
            journal.finish(index, json_response(status, &body, &headers))
        }
        Reply::Raw(status, content_type, body) => {
            let headers = vec![("content-type".to_owned(), content_type)];
            journal.finish(index, (status, headers, Bytes::from(body)))
        }
        Reply::Sse(script) => {
            let headers = vec![
                ("content-type".to_owned(), "text/event-stream".to_owned()),
                ("cache-control".to_owned(), "no-cache".to_owned()),
            ];
            journal.serve_sse(index, &script, headers).await
        }
    }
}
