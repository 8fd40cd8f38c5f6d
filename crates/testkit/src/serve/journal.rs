//! What a mock saw: every request ([`RecordedRequest`]) and every violation, behind one lock that
//! the server, the body drop guards and the test all share.
//!
//! Invariants: request `index` is its position in arrival order and never changes; a violation
//! is stored twice, in the mock-wide list (with its [`Rule`]) and on its request, as the same
//! text `"<rule>: <message> [<METHOD> <path> (request #<index>)]"`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::request::Parts;
use serde_json::Value;

use super::body::BodyGuard;
use super::rule::{Problem, Rule};

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Position in the mock's `requests()`.
    pub index: usize,
    /// `GET` / `POST` / ….
    pub method: String,
    /// Exact path, e.g. `/v1/chat/completions` or `/plan/v3/chat/completions`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers with lowercased names (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body bytes exactly as received (after HTTP framing, before any decoding).
    pub raw_body: Bytes,
    /// The JSON body (`Value::Null` when empty; a string when it was not valid JSON).
    pub body: Value,
    /// The HTTP status the mock answered with (0 while the answer is still pending).
    pub status: u16,
    /// Violations this request caused (same strings as in the mock's `violations()`).
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

    /// A query parameter by exact name (first occurrence, not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        query_param(self.query.as_deref(), name)
    }

    /// `body.messages` (empty when absent).
    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `body.input` when it is a list (empty otherwise).
    pub fn input_items(&self) -> &[Value] {
        self.body
            .get("input")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Whether this was a chat completions call.
    pub fn is_chat(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/chat/completions")
    }

    /// Whether this was a Responses create call.
    pub fn is_responses(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/responses")
    }

    fn label(&self) -> String {
        format!("{} {} (request #{})", self.method, self.path, self.index)
    }
}

/// A query parameter by exact name (first occurrence, not percent-decoded; `""` when it has no
/// `=`).
pub(crate) fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((key, value)) if key == name => Some(value),
            None if pair == name => Some(""),
            _ => None,
        })
}

#[derive(Debug, Default)]
struct Records {
    requests: Vec<RecordedRequest>,
    violations: Vec<(Rule, String)>,
}

/// The shared record of one mock server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Journal(Arc<Mutex<Records>>);

impl Journal {
    fn lock(&self) -> MutexGuard<'_, Records> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request that just arrived; returns its index.
    pub(crate) fn record(&self, parts: &Parts, raw_body: Bytes, body: Value) -> usize {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let mut records = self.lock();
        let index = records.requests.len();
        records.requests.push(RecordedRequest {
            index,
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            raw_body,
            body,
            status: 0,
            violations: Vec::new(),
            received_at: Instant::now(),
            dropped_at: None,
            completed: false,
        });
        index
    }

    /// Records `problems` as violations of request `index`.
    pub(crate) fn violate(&self, index: usize, problems: &[Problem]) {
        let mut records = self.lock();
        let label = records
            .requests
            .get(index)
            .map_or_else(|| format!("request #{index}"), RecordedRequest::label);
        for problem in problems {
            let text = format!("{}: {} [{label}]", problem.rule, problem.message);
            records.violations.push((problem.rule, text.clone()));
            if let Some(request) = records.requests.get_mut(index) {
                request.violations.push(text);
            }
        }
    }

    pub(crate) fn set_status(&self, index: usize, status: u16) {
        if let Some(request) = self.lock().requests.get_mut(index) {
            request.status = status;
        }
    }

    /// A guard that stamps `dropped_at`/`completed` of request `index` when the body goes away.
    pub(crate) fn guard(&self, index: usize) -> BodyGuard {
        let journal = self.clone();
        BodyGuard::new(index, move |i, completed| {
            if let Some(request) = journal.lock().requests.get_mut(i) {
                request.dropped_at = Some(Instant::now());
                request.completed = completed;
            }
        })
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn request(&self, index: usize) -> Option<RecordedRequest> {
        self.lock().requests.get(index).cloned()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.lock()
            .violations
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn violation_rules(&self) -> Vec<Rule> {
        self.lock().violations.iter().map(|(r, _)| *r).collect()
    }

    /// Panics listing every violation, naming the mock (`who`).
    #[track_caller]
    pub(crate) fn assert_no_violations(&self, who: &str) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "{who} recorded {} violation(s):\n  - {}",
            violations.len(),
            violations.join("\n  - ")
        );
    }

    pub(crate) async fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.lock().requests.len() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn wait_for_drop(&self, index: usize, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let dropped = self.lock().requests.get(index).and_then(|r| r.dropped_at);
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
