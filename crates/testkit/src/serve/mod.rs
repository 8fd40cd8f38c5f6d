//! The anatomy every mock server here shares, so each mock only states its protocol.
//!
//! * [`Journal`]: recorded requests (raw bytes and parsed JSON), violations, waiting helpers.
//! * [`SseScript`]: a scripted SSE answer (frames, timing, abrupt close), served by
//!   `body::sse_body`; fully buffered answers go through [`Journal::finish`] so `dropped_at`
//!   means the same thing for every reply kind.
//! * [`Rule`] / [`Problem`]: the violation vocabulary.
//! * [`Server`]: a listener on `127.0.0.1:0` served on the current tokio runtime, stopped when
//!   dropped.

mod body;
mod journal;
mod rule;
mod sse;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) use body::{once_body, sse_body};
pub use journal::RecordedRequest;
pub(crate) use journal::{query_param, Journal};
pub use rule::{Problem, Rule};
pub use sse::{SseItem, SseScript};

/// Request bodies above this size are refused (Codex histories are large but not this large).
/// A mock's script state and its request journal, shared with its handlers.
#[derive(Debug)]
pub(crate) struct Shared<I> {
    pub(crate) inner: std::sync::Arc<std::sync::Mutex<I>>,
    pub(crate) journal: Journal,
}

// Not derived: `I` itself need not be `Clone`.
impl<I> Clone for Shared<I> {
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
            journal: self.journal.clone(),
        }
    }
}

impl<I> Shared<I> {
    /// The script state; a panicked handler's poison is ignored (the state stays usable).
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, I> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A running server task; dropping it stops accepting connections.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves `app` on the current tokio runtime. `who` names the mock
    /// in the panic message if binding fails.
    pub(crate) async fn start(who: &str, app: Router) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{who}: bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{who}: local_addr: {e}"));
        let task = tokio::spawn(async move {
            // Errors here only happen when the runtime shuts down; nothing to report to.
            let _ = axum::serve(listener, app).await;
        });
        Server { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The JSON value of a request body: `Null` when empty, the text as a JSON string when it is not
/// valid JSON (so a test still sees what arrived).
pub(crate) fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A fully buffered answer: status, headers (names as given), body.
pub(crate) type Buffered = (u16, Vec<(String, String)>, Bytes);

/// `application/json` answer with extra headers.
pub(crate) fn json_response(status: u16, body: &Value, extra: &[(String, String)]) -> Buffered {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(extra.iter().cloned());
    (status, headers, Bytes::from(body.to_string()))
}

/// An HTTP response; headers that are not valid HTTP are skipped (tests script them by hand).
pub(crate) fn build(status: u16, headers: &[(String, String)], body: Body) -> Response {
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

impl Journal {
    /// Records the status of a buffered answer and wraps its body in a drop guard.
    pub(crate) fn finish(&self, index: usize, (status, headers, body): Buffered) -> Response {
        self.set_status(index, status);
        let guard = self.guard(index);
        build(status, &headers, Body::from_stream(once_body(body, guard)))
    }

    /// [`Journal::finish`] after a pause before the headers (a client giving up meanwhile is
    /// recorded as a drop).
    pub(crate) async fn finish_after(
        &self,
        index: usize,
        delay: Duration,
        (status, headers, body): Buffered,
    ) -> Response {
        let guard = self.guard(index);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.set_status(index, status);
        build(status, &headers, Body::from_stream(once_body(body, guard)))
    }

    /// Serves `script` as request `index`'s answer: headers after its header delay, then the
    /// timed frames. `headers` are sent before the script's own (which may override them).
    pub(crate) async fn serve_sse(
        &self,
        index: usize,
        script: &SseScript,
        headers: Vec<(String, String)>,
    ) -> Response {
        // Created before the header delay so a client giving up while waiting for headers is
        // observed too (hyper drops this handler future).
        let guard = self.guard(index);
        if !script.header_delay.is_zero() {
            tokio::time::sleep(script.header_delay).await;
        }
        self.set_status(index, script.status);
        let mut headers = headers;
        for (name, value) in &script.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        build(
            script.status,
            &headers,
            Body::from_stream(sse_body(script, guard)),
        )
    }
}
