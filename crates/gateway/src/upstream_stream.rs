//! One upstream stream being converted to Responses events, and the mapping of its failures.
//!
//! The stream is polled by the client's HTTP body (or WebSocket writer): dropping it drops the
//! upstream response and closes that connection at once. Timers: the total timeout counts from
//! the client's request, the idle timeout from the last upstream *data* event (SSE comments do
//! not count), and keep-alive `response.in_progress` events go out whenever the client has seen
//! nothing for `keepalive_interval`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ccp_convert::stream::ChatToResponses;
use ccp_providers::sse::{is_error_payload, parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::chat::{ChatChunk, ChatCompletion};
use ccp_types::events::ResponseEvent;

use crate::access_log::RequestLog;
use crate::config::Config;
use crate::error::{GatewayError, UpstreamFailure};
use crate::redact::Redactor;
use crate::upstream::UpstreamPolicy;

/// Maps upstream failures for one backend: its provider profile classifies the provider's own
/// error bodies first, the generic mapping handles the rest; messages are redacted.
pub(crate) struct FailureMapper {
    pub(crate) config: Arc<Config>,
    pub(crate) backend: usize,
    pub(crate) redactor: Redactor,
}

impl FailureMapper {
    pub(crate) fn map(&self, failure: &UpstreamFailure) -> GatewayError {
        let backend = &self.config.backends[self.backend];
        match crate::error::map_failure(&backend.name, &backend.profile, failure) {
            GatewayError::Upstream {
                status,
                code,
                message,
                retry_after,
            } => GatewayError::Upstream {
                status,
                code,
                message: self.redactor.redact(&message).into_owned(),
                retry_after,
            },
            other => other,
        }
    }
}

/// State of one upstream stream being converted.
pub(crate) struct UpstreamStream {
    pub(crate) machine: ChatToResponses,
    pub(crate) out: VecDeque<ResponseEvent>,
    pub(crate) resp: crate::upstream::UpstreamResponse,
    pub(crate) decoder: SseDecoder,
    /// Some when the upstream answered JSON to a streaming request (collected whole).
    pub(crate) json_fallback: Option<Vec<u8>>,
    pub(crate) mapper: FailureMapper,
    pub(crate) policy: UpstreamPolicy,
    /// When the client's request arrived: the total timeout counts from here.
    pub(crate) started: Instant,
    /// When the upstream last sent a data event (comments do not count): the idle timeout.
    pub(crate) last_event: Instant,
    /// When an event last went to the client: keep-alives are due `keepalive_interval` after.
    pub(crate) last_sent: Instant,
    /// Wakes the stream for the nearest of the total, idle and keep-alive deadlines.
    pub(crate) timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    pub(crate) done: bool,
    pub(crate) log: Option<RequestLog>,
}

impl UpstreamStream {
    /// Reads until at least one event is queued or the stream is done.
    pub(crate) async fn fill(&mut self) {
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

/// A whole JSON answer: a chat completion, or one of the error payloads providers send with 200.
pub(crate) fn parse_completion(bytes: &[u8]) -> Result<ChatCompletion, UpstreamFailure> {
    // Fast path: a plain completion parses straight into the typed struct; anything that carries
    // an error marker goes through the generic payload check below.
    if let Ok(c) = serde_json::from_slice::<ChatCompletion>(bytes) {
        let object_ok = match &c.object {
            None => true,
            Some(v) => v.as_str().is_some_and(|o| o != "error"),
        };
        if c.error.is_none() && object_ok && c.base_resp.is_none() && !c.choices.is_empty() {
            return Ok(c);
        }
    }
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
