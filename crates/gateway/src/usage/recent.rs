//! The recent requests the console lists live: a ring of the last [`RING_SIZE`] finished
//! requests, each numbered by a sequence number that only grows (the console asks for what came
//! after the last one it saw), and per-second counters of the last [`SLOTS`] seconds for the
//! overview's rates.
//!
//! Bodies (kept only with `log_body`) stay with the newest [`BODIES_KEPT`] entries; older entries
//! drop them, so the ring's memory stays bounded.

use std::collections::VecDeque;

use ccp_telemetry::{Bodies, BodiesSnapshot};
use serde::Serialize;

/// Finished requests kept for the live list.
pub const RING_SIZE: usize = 500;
/// Entries that keep their bodies.
pub const BODIES_KEPT: usize = 50;
/// Seconds of per-second counters (the overview's chart spans them).
pub const SLOTS: usize = 300;

/// One finished request as the console shows it. No key, no prompt or completion text.
#[derive(Debug, Clone, Serialize)]
pub struct RecentRequest {
    pub seq: u64,
    pub request_id: String,
    /// When it arrived (Unix milliseconds).
    pub started_ms: i64,
    /// The caller's identity id.
    pub client: String,
    pub principal: Option<String>,
    pub team: Option<String>,
    pub ingress: &'static str,
    pub transport: &'static str,
    pub backend: Option<String>,
    /// The model as sent upstream.
    pub model: Option<String>,
    /// The model the client asked for.
    pub client_model: Option<String>,
    pub status: u16,
    pub code: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub cache: Option<&'static str>,
    pub fallbacks: u32,
    /// Whether bodies are kept for it (see [`RequestDetail`]).
    pub has_bodies: bool,
    #[serde(skip)]
    pub(crate) bodies: Option<Bodies>,
}

impl RecentRequest {
    /// Whether it counts as an error in the overview: any 4xx or 5xx answer but a client that
    /// hung up (499).
    pub fn is_error(&self) -> bool {
        self.status >= 400 && self.status != 499
    }
}

/// A request with its bodies.
#[derive(Debug, Clone, Serialize)]
pub struct RequestDetail {
    #[serde(flatten)]
    pub request: RecentRequest,
    /// The request as sent upstream (redacted), when `log_body` kept it.
    pub upstream_request: Option<String>,
    /// The events returned (redacted), when `log_body` kept them.
    pub events: Vec<String>,
    /// Bodies were cut to stay within their bounds.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    sec: i64,
    requests: u32,
    errors: u32,
}

/// The ring and the per-second counters.
pub(crate) struct Recent {
    ring: VecDeque<RecentRequest>,
    next_seq: u64,
    slots: Vec<Slot>,
}

impl Recent {
    pub(crate) fn new() -> Self {
        Recent {
            ring: VecDeque::with_capacity(RING_SIZE),
            next_seq: 1,
            slots: vec![Slot::default(); SLOTS],
        }
    }

    /// Adds a finished request (its `seq` is assigned here) that ended at `now_sec`.
    pub(crate) fn push(&mut self, mut entry: RecentRequest, now_sec: i64) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        let slot = &mut self.slots[slot_index(now_sec)];
        if slot.sec != now_sec {
            *slot = Slot {
                sec: now_sec,
                ..Slot::default()
            };
        }
        slot.requests += 1;
        slot.errors += u32::from(entry.is_error());
        if self.ring.len() == RING_SIZE {
            self.ring.pop_front();
        }
        self.ring.push_back(entry);
        if let Some(old) = self.ring.len().checked_sub(BODIES_KEPT + 1) {
            if let Some(e) = self.ring.get_mut(old) {
                e.bodies = None;
                e.has_bodies = false;
            }
        }
    }

    /// Requests with a sequence number above `after`, newest first, at most `limit`.
    pub(crate) fn after(&self, after: u64, limit: usize) -> Vec<RecentRequest> {
        self.ring
            .iter()
            .rev()
            .take_while(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect()
    }

    /// The newest request with this id (or with this sequence number, when given).
    pub(crate) fn detail(&self, request_id: &str, seq: Option<u64>) -> Option<RequestDetail> {
        let entry = self
            .ring
            .iter()
            .rev()
            .find(|e| e.request_id == request_id && seq.is_none_or(|s| e.seq == s))?;
        let bodies: BodiesSnapshot = entry
            .bodies
            .as_ref()
            .map(Bodies::snapshot)
            .unwrap_or_default();
        Some(RequestDetail {
            request: entry.clone(),
            upstream_request: bodies.upstream_request,
            events: bodies.events,
            truncated: bodies.truncated,
        })
    }

    /// Entries that ended in the last `window` seconds before `now_sec` (approximated by
    /// start plus latency).
    pub(crate) fn within(&self, now_sec: i64, window: i64) -> impl Iterator<Item = &RecentRequest> {
        let since_ms = (now_sec - window) * 1000;
        self.ring
            .iter()
            .rev()
            .filter(move |e| e.started_ms + i64::try_from(e.latency_ms).unwrap_or(0) >= since_ms)
    }

    /// Requests and errors per second for the seconds `(now_sec - n, now_sec]`, oldest first.
    pub(crate) fn per_second(&self, now_sec: i64, n: usize) -> Vec<(i64, u32, u32)> {
        let n = n.min(SLOTS);
        (0..n as i64)
            .rev()
            .map(|back| {
                let sec = now_sec - back;
                let slot = self.slots[slot_index(sec)];
                if slot.sec == sec {
                    (sec, slot.requests, slot.errors)
                } else {
                    (sec, 0, 0)
                }
            })
            .collect()
    }

    /// The newest sequence number handed out (0: none yet).
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }
}

fn slot_index(sec: i64) -> usize {
    usize::try_from(sec.rem_euclid(SLOTS as i64)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(id: &str, status: u16) -> RecentRequest {
        RecentRequest {
            seq: 0,
            request_id: id.to_owned(),
            started_ms: 1_000_000,
            client: "client-key-0".into(),
            principal: None,
            team: None,
            ingress: "responses",
            transport: "http",
            backend: Some("main".into()),
            model: Some("m".into()),
            client_model: Some("m".into()),
            status,
            code: "ok".into(),
            input_tokens: 1,
            cached_input_tokens: 0,
            output_tokens: 1,
            reasoning_tokens: 0,
            cost_micro_usd: 0,
            latency_ms: 10,
            ttft_ms: None,
            cache: None,
            fallbacks: 0,
            has_bodies: true,
            bodies: Some(Bodies::default()),
        }
    }

    #[test]
    fn the_ring_is_bounded_numbered_and_drops_old_bodies() {
        let mut recent = Recent::new();
        for i in 0..(RING_SIZE + 10) {
            recent.push(entry(&format!("req_{i}"), 200), 1_000);
        }
        assert_eq!(recent.last_seq(), (RING_SIZE + 10) as u64);
        let newest = recent.after(0, 5);
        assert_eq!(newest.len(), 5);
        assert_eq!(newest[0].request_id, format!("req_{}", RING_SIZE + 9));
        assert_eq!(recent.after(recent.last_seq() - 2, 100).len(), 2);
        assert!(
            recent.detail("req_0", None).is_none(),
            "pushed out of the ring"
        );
        let kept = recent.ring.iter().filter(|e| e.bodies.is_some()).count();
        assert_eq!(kept, BODIES_KEPT);
        let last = format!("req_{}", RING_SIZE + 9);
        assert!(recent
            .detail(&last, None)
            .is_some_and(|d| d.request.has_bodies));
    }

    #[test]
    fn per_second_counters_forget_old_seconds() {
        let mut recent = Recent::new();
        recent.push(entry("a", 200), 100);
        recent.push(entry("b", 502), 100);
        recent.push(entry("c", 499), 101);
        let secs = recent.per_second(101, 3);
        assert_eq!(secs, vec![(99, 0, 0), (100, 2, 1), (101, 1, 0)]);
        // The same slot, SLOTS seconds later: the old counts are gone.
        recent.push(entry("d", 200), 100 + SLOTS as i64);
        let secs = recent.per_second(100 + SLOTS as i64, 1);
        assert_eq!(secs, vec![(100 + SLOTS as i64, 1, 0)]);
    }
}
