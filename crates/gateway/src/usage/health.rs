//! Backend health for the console: each backend's recent traffic (from the ring of recent
//! requests), its last upstream failures (every failed attempt, a model group's fallbacks
//! included, kept in a small ring of their own), and its breaker in each model group it serves.
//!
//! An upstream failure keeps its status, code and the error's message as the access log writes
//! it (every configured secret redacted, cut to [`MESSAGE_CHARS`]).

use std::collections::VecDeque;

use serde::Serialize;

use super::{RecentRequest, UsageLog};

/// Upstream failures kept (over all backends).
pub const ERRORS_KEPT: usize = 200;
/// Failures listed per backend.
pub const ERRORS_PER_BACKEND: usize = 10;
/// Longest message kept.
pub const MESSAGE_CHARS: usize = 300;
/// Recent traffic covers this many seconds.
pub const TRAFFIC_WINDOW_SECS: i64 = 300;

/// One failed upstream attempt.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamError {
    pub at_ms: i64,
    pub backend: String,
    pub request_id: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// A backend's breaker in one model group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupState {
    /// The group's `model`.
    pub model: String,
    /// `closed`, `cooling_down`, `probing` or `probe_due`.
    pub state: &'static str,
    pub cooldown_left_secs: Option<f64>,
    pub failed_secs_ago: Option<f64>,
}

/// One backend's health.
#[derive(Debug, Clone, Serialize)]
pub struct BackendHealth {
    pub name: String,
    pub kind: &'static str,
    /// `ok`, `cooling_down` (in some group), `failing` (most recent requests failed), `idle`
    /// (no recent request) or `no_key` (its API key variable is unset).
    pub status: &'static str,
    pub groups: Vec<GroupState>,
    /// Over the last [`TRAFFIC_WINDOW_SECS`] (as far as the ring of recent requests reaches).
    pub requests: u64,
    pub errors: u64,
    pub latency_p50_ms: Option<u64>,
    pub recent_errors: Vec<UpstreamError>,
}

/// The last [`ERRORS_KEPT`] upstream failures.
#[derive(Default)]
pub(crate) struct Failures(VecDeque<UpstreamError>);

impl Failures {
    pub(crate) fn push(&mut self, e: UpstreamError) {
        if self.0.len() == ERRORS_KEPT {
            self.0.pop_front();
        }
        self.0.push_back(e);
    }

    fn of(&self, backend: &str) -> Vec<UpstreamError> {
        self.0
            .iter()
            .rev()
            .filter(|e| e.backend == backend)
            .take(ERRORS_PER_BACKEND)
            .cloned()
            .collect()
    }
}

/// `text` cut to at most [`MESSAGE_CHARS`] characters.
pub fn short(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What [`UsageLog::backend_health`] needs to know of one configured backend.
#[derive(Debug, Clone)]
pub struct BackendFacts {
    pub name: String,
    pub kind: &'static str,
    pub key_missing: bool,
    pub groups: Vec<GroupState>,
}

impl UsageLog {
    /// Notes a failed upstream attempt.
    pub fn upstream_error(&self, e: UpstreamError) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(e);
    }

    /// The health of each backend in `facts`.
    pub fn backend_health(&self, facts: Vec<BackendFacts>) -> Vec<BackendHealth> {
        let (now_sec, _) = super::now();
        let recent: Vec<RecentRequest> = self
            .recent()
            .within(now_sec, TRAFFIC_WINDOW_SECS)
            .cloned()
            .collect();
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        facts
            .into_iter()
            .map(|f| {
                let mine: Vec<&RecentRequest> = recent
                    .iter()
                    .filter(|r| r.backend.as_deref() == Some(f.name.as_str()))
                    .collect();
                let errors = mine.iter().filter(|r| r.is_error()).count() as u64;
                let mut latency: Vec<u64> = mine.iter().map(|r| r.latency_ms).collect();
                latency.sort_unstable();
                // `recent` is newest first: the last few decide whether it is failing now.
                let latest_failed = mine.iter().take(3).all(|r| r.is_error());
                let status = if f.key_missing {
                    "no_key"
                } else if f.groups.iter().any(|g| g.state != "closed") {
                    "cooling_down"
                } else if mine.is_empty() {
                    "idle"
                } else if latest_failed {
                    "failing"
                } else {
                    "ok"
                };
                BackendHealth {
                    recent_errors: failures.of(&f.name),
                    name: f.name,
                    kind: f.kind,
                    status,
                    groups: f.groups,
                    requests: mine.len() as u64,
                    errors,
                    latency_p50_ms: super::percentile(&latency, 50),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_characters() {
        assert_eq!(short("short"), "short");
        let long = "é".repeat(MESSAGE_CHARS + 5);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn failures_are_bounded_and_listed_per_backend_newest_first() {
        let mut f = Failures::default();
        for i in 0..(ERRORS_KEPT + 5) {
            f.push(UpstreamError {
                at_ms: i as i64,
                backend: if i % 2 == 0 { "a" } else { "b" }.into(),
                request_id: format!("req_{i}"),
                status: 502,
                code: "bad_gateway".into(),
                message: String::new(),
            });
        }
        assert_eq!(f.0.len(), ERRORS_KEPT);
        let a = f.of("a");
        assert_eq!(a.len(), ERRORS_PER_BACKEND);
        assert!(a[0].at_ms > a[1].at_ms);
    }
}
