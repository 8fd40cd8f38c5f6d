//! `AnthropicUpstream`: a scripted, strict Anthropic Messages server for tests.
//!
//! It listens on `127.0.0.1:0` and answers `POST /v1/messages` from a FIFO queue of
//! [`AnthropicReply`]s. Every request is recorded and checked: `x-api-key` (401
//! `authentication_error`), `anthropic-version` (400), then the body ([`rules`]); a broken rule
//! is answered with the API's status and error body and recorded as a violation, so a test ends
//! with [`AnthropicUpstream::assert_no_violations`]. A rejected request consumes no reply.
//!
//! The mock remembers the thinking blocks it served before each `tool_use` id, and refuses a
//! later request whose tool turn does not start with exactly those blocks — the check a thinking
//! model's tool loop depends on.
//!
//! [`AnthropicUpstream::start_compat`] adds a provider's [`CompatRules`] (Bearer auth, no
//! `cache_control`, no images, …), to stand in for another provider's Anthropic-compatible
//! endpoint.

mod compat;
mod rules;
mod script;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;
use axum::Router;
use serde_json::Value;

use crate::serve::{
    json_response, parse_body, Journal, Problem, RecordedRequest, Rule, Server, SseItem, SseScript,
    MAX_BODY_BYTES,
};

pub use compat::CompatRules;
pub use rules::{anthropic_error, check_messages_request, MESSAGES_FIELDS};
pub use script::{block_json, AnthropicScript, AnthropicUsage, ScriptBlock};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum AnthropicReply {
    /// A model answer: SSE events for `"stream": true`, else the `Message` JSON.
    Model(AnthropicScript),
    /// An HTTP error before any byte: status, error `type`, message, `retry-after` seconds.
    Error {
        status: u16,
        kind: String,
        message: String,
        retry_after: Option<u64>,
    },
}

impl From<AnthropicScript> for AnthropicReply {
    fn from(script: AnthropicScript) -> Self {
        AnthropicReply::Model(script)
    }
}

impl AnthropicReply {
    /// An error answer.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        AnthropicReply::Error {
            status,
            kind: kind.to_owned(),
            message: message.to_owned(),
            retry_after: None,
        }
    }

    /// `rate_limit_error` 429 with `retry-after`.
    pub fn rate_limited(retry_after: u64) -> Self {
        AnthropicReply::Error {
            status: 429,
            kind: "rate_limit_error".to_owned(),
            message: "Number of request tokens has exceeded your per-minute rate limit".to_owned(),
            retry_after: Some(retry_after),
        }
    }
}

#[derive(Debug)]
struct Inner {
    key: String,
    compat: CompatRules,
    replies: VecDeque<AnthropicReply>,
    /// tool_use id → the thinking blocks served before it.
    served_thinking: HashMap<String, Vec<Value>>,
}

/// What the handlers share: the script state and the journal.
type Shared = crate::serve::Shared<Inner>;

/// The scripted strict Anthropic server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct AnthropicUpstream {
    shared: Shared,
    server: Server,
}

impl AnthropicUpstream {
    /// Binds `127.0.0.1:0`; requests must carry `x-api-key: <key>`.
    pub async fn start(key: &str) -> AnthropicUpstream {
        AnthropicUpstream::start_compat(key, CompatRules::default()).await
    }

    /// Like [`AnthropicUpstream::start`], also requiring a provider's `compat` rules.
    pub async fn start_compat(key: &str, compat: CompatRules) -> AnthropicUpstream {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                key: key.to_owned(),
                compat,
                replies: VecDeque::new(),
                served_thinking: HashMap::new(),
            })),
            journal: Journal::default(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = Server::start("anthropic upstream", app).await;
        AnthropicUpstream { shared, server }
    }

    /// `http://127.0.0.1:PORT` (the base URL; the proxy appends `/v1/messages`).
    pub fn url(&self) -> String {
        self.server.origin()
    }

    /// Queues one reply (FIFO).
    pub fn push(&self, reply: impl Into<AnthropicReply>) {
        self.shared.lock().replies.push_back(reply.into());
    }

    /// Replies not consumed yet.
    pub fn pending_replies(&self) -> usize {
        self.shared.lock().replies.len()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal.requests()
    }

    /// Every violation so far, each prefixed with its rule id.
    pub fn violations(&self) -> Vec<String> {
        self.shared.journal.violations()
    }

    /// The rules broken so far, in order.
    pub fn violation_rules(&self) -> Vec<Rule> {
        self.shared.journal.violation_rules()
    }

    /// Panics listing every violation, if there is any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        self.shared
            .journal
            .assert_no_violations("anthropic upstream");
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
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());

    let (key, compat) = {
        let inner = shared.lock();
        (inner.key.clone(), inner.compat)
    };
    let authenticated = if compat.bearer_auth {
        header("authorization") == Some(format!("Bearer {key}").as_str())
    } else {
        header("x-api-key") == Some(key.as_str())
    };
    if !authenticated {
        let which = if compat.bearer_auth {
            "authorization: Bearer"
        } else {
            "x-api-key"
        };
        let p = Problem::new(Rule::Auth, None, format!("{which} missing or wrong"));
        return reject(&journal, index, 401, "authentication_error", &p);
    }
    if header("anthropic-version").is_none_or(str::is_empty) {
        let p = Problem::new(
            Rule::AnthropicVersion,
            None,
            "anthropic-version: header is required".into(),
        );
        return reject(&journal, index, 400, "invalid_request_error", &p);
    }
    if parts.method != Method::POST || parts.uri.path() != "/v1/messages" {
        let p = Problem::new(
            Rule::UnexpectedRequest,
            None,
            format!("{} {}: not found", parts.method, parts.uri.path()),
        );
        return reject(&journal, index, 404, "not_found_error", &p);
    }
    let served = shared.lock().served_thinking.clone();
    let mut problems = check_messages_request(&body, &served);
    problems.extend(compat::check_compat(&body, compat));
    if let Some(first) = problems.first() {
        journal.violate(index, &problems);
        let err = anthropic_error("invalid_request_error", &first.message);
        return journal.finish(index, json_response(400, &err, &[]));
    }
    let next = shared.lock().replies.pop_front();
    let Some(reply) = next else {
        let p = Problem::new(Rule::NoScriptedReply, None, "no scripted reply left".into());
        return reject(&journal, index, 500, "api_error", &p);
    };
    match reply {
        AnthropicReply::Error {
            status,
            kind,
            message,
            retry_after,
        } => {
            let headers: Vec<(String, String)> = retry_after
                .map(|s| ("retry-after".to_owned(), s.to_string()))
                .into_iter()
                .collect();
            let err = anthropic_error(&kind, &message);
            journal.finish(index, json_response(status, &err, &headers))
        }
        AnthropicReply::Model(script) => {
            {
                let mut inner = shared.lock();
                for (id, blocks) in script.thinking_before_tools() {
                    inner.served_thinking.insert(id, blocks);
                }
            }
            let id = format!("msg_mock_{index}");
            let model = body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("claude");
            let headers = vec![("request-id".to_owned(), format!("req_mock_{index}"))];
            if body.get("stream") == Some(&Value::Bool(true)) {
                let mut frames = SseScript::new(Vec::<String>::new()).no_done();
                frames.items = script
                    .events(&id, model)
                    .iter()
                    .map(|e| SseItem::Event {
                        event: e["type"].as_str().unwrap_or("message").to_owned(),
                        data: e.to_string(),
                    })
                    .collect();
                let mut headers = headers;
                headers.push(("content-type".to_owned(), "text/event-stream".to_owned()));
                journal.serve_sse(index, &frames, headers).await
            } else {
                journal.finish(
                    index,
                    json_response(200, &script.message(&id, model), &headers),
                )
            }
        }
    }
}

fn reject(journal: &Journal, index: usize, status: u16, kind: &str, p: &Problem) -> Response {
    journal.violate(index, std::slice::from_ref(p));
    let err = anthropic_error(kind, &p.message);
    journal.finish(index, json_response(status, &err, &[]))
}
