//! The request record (issue 15): what one request came to — who asked, where it went, how it
//! ended, its tokens, latency and time to first token — collected on its
//! [`RequestScope`](crate::RequestScope) and handed once, when the scope finishes, to the
//! [`RecordSink`] the edge gave it (the gateway's usage records and the console's live list).
//!
//! Invariants: a record never holds a key (the caller is named by its identity id, principal
//! and team); bodies (the request as sent upstream, the events returned) are kept only when the
//! edge asked for them at start (`log_body`), arrive already redacted, and are bounded
//! ([`Bodies::MAX_BYTES`], [`Bodies::MAX_EVENTS`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::metrics::Tokens;
use crate::scope::{Ingress, Transport};

/// Where finished requests go.
pub trait RecordSink: Send + Sync {
    /// A request started (it is in flight until [`RecordSink::finished`]).
    fn started(&self);
    /// A request ended; called exactly once per started request.
    fn finished(&self, record: RequestRecord);
}

/// What the edge gives a scope that should produce a record.
#[derive(Clone)]
pub struct RecordStart {
    pub sink: Arc<dyn RecordSink>,
    /// The virtual key's principal and team, when the caller presented one.
    pub principal: Option<String>,
    pub team: Option<String>,
    /// Keep the upstream request and the returned events (`log_body`).
    pub bodies: bool,
}

impl std::fmt::Debug for RecordStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStart")
            .field("bodies", &self.bodies)
            .finish_non_exhaustive()
    }
}

/// One finished request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: String,
    /// The caller's identity id (`client-key-0`, `vk_…`, `cfg:name`, `anonymous`).
    pub client: String,
    pub principal: Option<String>,
    pub team: Option<String>,
    pub ingress: Ingress,
    pub transport: Transport,
    pub started_at: SystemTime,
    /// From arrival to the end of the answer (a stream's last event).
    pub latency: Duration,
    /// From arrival to the first output chunk (streams only).
    pub ttft: Option<Duration>,
    /// The backend that answered (the last one routed to); `None` when never routed.
    pub backend: Option<String>,
    /// The model as sent upstream.
    pub model: Option<String>,
    /// The model the client asked for.
    pub client_model: Option<String>,
    /// The HTTP status the answer had or, for a stream that failed, would have had.
    pub status: u16,
    /// `ok`, or the error code.
    pub code: String,
    pub tokens: Option<Tokens>,
    /// Backends tried (a model group's fallbacks are this minus one).
    pub backends_tried: u32,
    /// The response cache's verdict (`hit`, `miss`, `bypass`), when a cache is configured.
    pub cache: Option<&'static str>,
    /// The bodies, when kept.
    pub bodies: Option<Bodies>,
}

impl RequestRecord {
    /// Fallbacks taken before the backend that answered.
    pub fn fallbacks(&self) -> u32 {
        self.backends_tried.saturating_sub(1)
    }
}

/// The request as sent upstream and the events returned, shared between the scope (which fills
/// it while the answer streams, also after the record was handed over) and whoever keeps the
/// record.
#[derive(Clone, Default)]
pub struct Bodies(Arc<Mutex<Kept>>);

#[derive(Default)]
struct Kept {
    upstream_request: Option<String>,
    events: Vec<String>,
    bytes: usize,
    truncated: bool,
    /// An event was cut: later ones are left out (a cut event followed by whole ones would
    /// read as if nothing were missing).
    events_full: bool,
}

/// A copy of [`Bodies`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodiesSnapshot {
    pub upstream_request: Option<String>,
    pub events: Vec<String>,
    /// Something was left out to stay within the bounds.
    pub truncated: bool,
}

impl std::fmt::Debug for Bodies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bodies(..)")
    }
}

impl Bodies {
    /// At most this many bytes are kept per request (the upstream request and the events).
    pub const MAX_BYTES: usize = 512 * 1024;
    /// At most this many events are kept per request.
    pub const MAX_EVENTS: usize = 2_000;

    fn with<R>(&self, f: impl FnOnce(&mut Kept) -> R) -> R {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut kept)
    }

    /// The request as sent upstream (the last attempt's replaces an earlier one's).
    pub fn set_upstream_request(&self, text: &str) {
        self.with(|k| {
            let old = k.upstream_request.take().map_or(0, |s| s.len());
            k.bytes = k.bytes.saturating_sub(old);
            let room = Self::MAX_BYTES.saturating_sub(k.bytes);
            let text = cut(text, room, &mut k.truncated);
            k.bytes += text.len();
            k.upstream_request = Some(text);
        });
    }

    /// One returned event (or a whole JSON answer).
    pub fn push_event(&self, text: &str) {
        self.with(|k| {
            let room = Self::MAX_BYTES.saturating_sub(k.bytes);
            if k.events_full || k.events.len() >= Self::MAX_EVENTS || room == 0 {
                k.truncated = true;
                return;
            }
            k.events_full = text.len() > room;
            let text = cut(text, room, &mut k.truncated);
            k.bytes += text.len();
            k.events.push(text);
        });
    }

    /// What is kept now.
    pub fn snapshot(&self) -> BodiesSnapshot {
        self.with(|k| BodiesSnapshot {
            upstream_request: k.upstream_request.clone(),
            events: k.events.clone(),
            truncated: k.truncated,
        })
    }
}

/// `text`, cut to at most `room` bytes on a character boundary (noting when it was cut).
fn cut(text: &str, room: usize, truncated: &mut bool) -> String {
    if text.len() <= room {
        return text.to_owned();
    }
    *truncated = true;
    let mut end = room;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stay_within_their_bounds() {
        let bodies = Bodies::default();
        bodies.set_upstream_request("first attempt");
        bodies.set_upstream_request("second attempt");
        bodies.push_event("event one");
        let snap = bodies.snapshot();
        assert_eq!(snap.upstream_request.as_deref(), Some("second attempt"));
        assert_eq!(snap.events, vec!["event one".to_owned()]);
        assert!(!snap.truncated);

        let big = "é".repeat(Bodies::MAX_BYTES);
        bodies.push_event(&big);
        bodies.push_event("after the cap");
        let snap = bodies.snapshot();
        assert!(snap.truncated);
        assert_eq!(
            snap.events.len(),
            2,
            "the big event is cut, the next one left out"
        );
        let total: usize = snap.events.iter().map(String::len).sum::<usize>()
            + snap.upstream_request.map_or(0, |s| s.len());
        assert!(total <= Bodies::MAX_BYTES, "{total}");
    }
}
