//! The stream shell every streaming upstream kind shares: it reads the upstream body, feeds SSE
//! events to the kind's [`Decoder`] (which turns them into Responses events), and owns the
//! timers and the failure path.
//!
//! The stream is polled by the client's HTTP body (or WebSocket writer): dropping it drops the
//! upstream response and closes that connection at once. Timers: the total timeout counts from
//! the client's request, the idle timeout from the last upstream *data* event (SSE comments do
//! not count), and keep-alive `response.in_progress` events go out whenever the client has seen
//! nothing for `keepalive_interval`. After the stream started, a failure becomes the decoder's
//! terminal failure event, then the stream ends: never a truncated success.

use std::collections::VecDeque;
use std::time::Instant;

use ccp_providers::profile::ResolvedProfile;
use ccp_providers::sse::{SseDecoder, SseEvent, SseItem};
use ccp_types::events::StreamEvent;

use crate::access_log::RequestLog;
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::EventStream;
use crate::redact::Redactor;
use crate::upstream::transport::{UpstreamPolicy, UpstreamResponse};

/// Maps upstream failures for one backend through the one classifier (its provider profile,
/// then the fallback); messages are redacted.
#[derive(Clone)]
pub(crate) struct FailureMapper {
    pub(crate) backend: String,
    /// The upstream endpoint without its query, named when the upstream answers 404 (a wrong
    /// `url` is the usual cause).
    pub(crate) url: Option<String>,
    pub(crate) profile: ResolvedProfile,
    pub(crate) redactor: Redactor,
}

impl FailureMapper {
    /// Maps a failure and writes it to the access log.
    pub(crate) fn fail(&self, log: &RequestLog, failure: &UpstreamFailure) -> GatewayError {
        let e = self.map(failure);
        log.failed(&e, failure);
        e
    }

    pub(crate) fn map(&self, failure: &UpstreamFailure) -> GatewayError {
        match crate::error::map_failure(&self.backend, &self.profile, failure) {
            GatewayError::Upstream {
                status,
                code,
                mut message,
                retry_after,
            } => {
                if let (404, Some(url)) = (status, &self.url) {
                    message.push_str(&format!(
                        " — the proxy called POST {url}; check the backend's url"
                    ));
                }
                GatewayError::Upstream {
                    status,
                    code,
                    message: self.redactor.redact(&message).into_owned(),
                    retry_after,
                }
            }
            other => other,
        }
    }
}

/// What a decoder says after an upstream event.
pub(crate) enum Step {
    /// Keep reading.
    Continue,
    /// The answer is complete (the decoder queued its terminal event).
    Done,
    /// The upstream failed; the shell maps it and asks the decoder for the failure event.
    Fail(UpstreamFailure),
}

/// What a stream hands the client: Responses events, or Chat frames for the Chat passthrough.
pub(crate) trait ShellItem: Send + 'static {
    /// True for the item that ends the stream.
    fn is_terminal(&self) -> bool;
    /// Writes the access-log line for a terminal item.
    fn log_terminal(&self, log: &RequestLog);
    /// True for an item carrying model output (timed for time-to-first-token and between
    /// tokens).
    fn is_output_chunk(&self) -> bool;
}

impl ShellItem for StreamEvent {
    fn is_terminal(&self) -> bool {
        StreamEvent::is_terminal(self)
    }

    fn log_terminal(&self, log: &RequestLog) {
        log.finish_stream_event(self);
    }

    fn is_output_chunk(&self) -> bool {
        self.kind().ends_with(".delta")
    }
}

/// One upstream protocol's stream conversion: SSE events in, client items (Responses events,
/// or Chat frames) out.
pub(crate) trait Decoder: Send + 'static {
    /// What the client gets.
    type Item: ShellItem;
    /// One SSE event from the upstream.
    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<Self::Item>) -> Step;
    /// A whole non-SSE body answered to a streaming request (some servers ignore `stream`).
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<Self::Item>) -> Step;
    /// The upstream body ended without a terminal event.
    fn on_end(&mut self, out: &mut VecDeque<Self::Item>);
    /// A keep-alive item for the client, when the decoder can build one now.
    fn keepalive(&mut self) -> Option<Self::Item>;
    /// The terminal failure items for `error`.
    fn fail(&mut self, error: &GatewayError, out: &mut VecDeque<Self::Item>);
    /// True once the decoder has queued its terminal event.
    fn is_finished(&self) -> bool;
}

/// State of one upstream stream being converted.
struct ShellState<D: Decoder> {
    decoder: D,
    out: VecDeque<D::Item>,
    resp: UpstreamResponse,
    sse: SseDecoder,
    /// Some when the upstream answered a non-SSE body to a streaming request (collected whole).
    whole_body: Option<Vec<u8>>,
    mapper: std::sync::Arc<FailureMapper>,
    policy: UpstreamPolicy,
    /// When the client's request arrived: the total timeout counts from here.
    started: Instant,
    /// When the upstream last sent a data event (comments do not count): the idle timeout.
    last_event: Instant,
    /// When an event last went to the client: keep-alives are due `keepalive_interval` after.
    last_sent: Instant,
    /// Wakes the stream for the nearest of the total, idle and keep-alive deadlines.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    done: bool,
    log: Option<RequestLog>,
    /// The request's telemetry: output chunks are timed on it.
    scope: ccp_telemetry::RequestScope,
    /// Counts this stream in `ccp_active_streams` while it lives.
    _open: ccp_telemetry::scope::StreamGuard,
}

/// The upstream's content type starts with `prefix`.
pub(crate) fn content_type_is(resp: &UpstreamResponse, prefix: &str) -> bool {
    resp.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(prefix))
}

/// Wraps an upstream response whose status was 2xx into an event stream. `queued` holds events
/// to send first (e.g. `response.created` built by the proxy). `whole_body`: the answer is one
/// JSON body, not SSE (each kind decides from the content type it trusts).
pub(crate) fn relay<D: Decoder>(
    decoder: D,
    queued: VecDeque<D::Item>,
    resp: UpstreamResponse,
    mapper: std::sync::Arc<FailureMapper>,
    policy: UpstreamPolicy,
    log: RequestLog,
    whole_body: bool,
) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = D::Item> + Send>> {
    let whole_body = whole_body.then(Vec::new);
    let state = ShellState {
        decoder,
        out: queued,
        resp,
        sse: SseDecoder::default(),
        whole_body,
        mapper,
        policy,
        started: log.started,
        last_event: Instant::now(),
        last_sent: Instant::now(),
        timer: Box::pin(tokio::time::sleep(policy.keepalive_interval)),
        done: false,
        scope: log.scope.clone(),
        _open: log.scope.stream_opened(),
        log: Some(log),
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.out.pop_front() {
                st.last_sent = Instant::now();
                if ev.is_output_chunk() {
                    st.scope.output_chunk();
                }
                if ev.is_terminal() {
                    if let Some(log) = st.log.take() {
                        ev.log_terminal(&log);
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

/// An already complete list of events as a stream (the mock, or a failure before the upstream
/// answered); the terminal event is logged.
pub(crate) fn finished_stream(out: VecDeque<StreamEvent>, log: RequestLog) -> EventStream {
    use futures_util::StreamExt as _;
    let mut log = Some(log);
    Box::pin(futures_util::stream::iter(out).map(move |ev| {
        if ev.is_terminal() {
            if let Some(l) = log.take() {
                l.finish_stream_event(&ev);
            }
        }
        ev
    }))
}

impl<D: Decoder> ShellState<D> {
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
            if now >= keepalive_deadline && !self.decoder.is_finished() {
                // Codex's idle timer is reset only by parsed events, not SSE comments, so
                // upstream silence (or comment-only keep-alives) is bridged with events.
                self.last_sent = now;
                if let Some(ev) = self.decoder.keepalive() {
                    self.out.push_back(ev);
                    return;
                }
            }
            // Recomputed: a decoder with nothing to send yet pushed the keep-alive back.
            let keepalive_deadline = self.last_sent + self.policy.keepalive_interval;
            let next = tokio::time::Instant::from_std(
                total_deadline.min(idle_deadline).min(keepalive_deadline),
            );
            // One long-lived timer, re-armed only when it fired or would fire too late: a fresh
            // timer per read would register with (and wake) the timer driver for every chunk.
            // Deadlines only move later as data arrives, so a stale early wake-up just loops.
            if self.timer.is_elapsed() || self.timer.deadline() > next {
                self.timer.as_mut().reset(next);
            }
            let read = tokio::select! {
                biased;
                read = self.resp.chunk() => Some(read),
                () = &mut self.timer => None,
            };
            match read {
                None => {}
                Some(Err(e)) => {
                    self.fail(UpstreamFailure::Disconnected(e.to_string()));
                    return;
                }
                Some(Ok(None)) => {
                    self.end_of_body();
                    return;
                }
                Some(Ok(Some(bytes))) => {
                    if let Some(buf) = &mut self.whole_body {
                        self.last_event = Instant::now();
                        buf.extend_from_slice(&bytes);
                        continue;
                    }
                    for item in self.sse.push(&bytes) {
                        let SseItem::Event(ev) = item else { continue };
                        self.last_event = Instant::now();
                        let step = self.decoder.on_event(ev, &mut self.out);
                        if self.apply(step) {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Applies a decoder step; true when the stream is over.
    fn apply(&mut self, step: Step) -> bool {
        match step {
            Step::Continue => false,
            Step::Done => {
                self.done = true;
                true
            }
            Step::Fail(f) => {
                self.fail(f);
                true
            }
        }
    }

    fn end_of_body(&mut self) {
        if let Some(buf) = self.whole_body.take() {
            let step = self.decoder.on_whole_body(&buf, &mut self.out);
            self.apply(step);
            self.done = true;
            return;
        }
        for item in self.sse.finish() {
            let SseItem::Event(ev) = item else { continue };
            let step = self.decoder.on_event(ev, &mut self.out);
            if self.apply(step) {
                return;
            }
        }
        // EOF without a terminal event: the decoder decides (usually a truncated answer).
        self.decoder.on_end(&mut self.out);
        self.done = true;
    }

    fn fail(&mut self, f: UpstreamFailure) {
        let e = self.mapper.map(&f);
        if let Some(log) = &self.log {
            log.failed(&e, &f);
        }
        self.decoder.fail(&e, &mut self.out);
        self.done = true;
    }
}
