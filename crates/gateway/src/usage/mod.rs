//! Per-request usage (issue 15): every finished LLM request becomes one usage record in the
//! store (batched: `writer.rs`) and one entry in the ring of recent requests the console lists
//! live (`recent.rs`), from the [`RequestRecord`] its telemetry scope hands over when it ends.
//!
//! A record names the caller by its identity id (`client-key-0`, a virtual key's id), never by
//! a key; its cost is the answer's tokens priced like governance prices them (the upstream
//! model's price, else the client model's; a cache hit costs nothing). Bodies are kept only
//! with `log_body`, redacted by the gateway before they reach the scope.
//!
//! Invariant: nothing here runs a query on the request's path; the sink only takes a lock and
//! pushes.

mod health;
mod recent;
mod writer;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use ccp_governance::pricing::{PriceTable, TokenUsage};
use ccp_store::{Store, UsageRecord};
use ccp_telemetry::{RecordSink, RequestRecord};
use serde::Serialize;

pub use health::{short, BackendFacts, BackendHealth, GroupState, UpstreamError};
pub use recent::{RecentRequest, RequestDetail, BODIES_KEPT, RING_SIZE, SLOTS};
pub use writer::{UsageWriter, FLUSH_EVERY};

use recent::Recent;

/// The overview's window for rates and percentiles.
pub const OVERVIEW_WINDOW_SECS: i64 = 60;

/// Where finished requests go: the ring and, with a store, the usage records.
pub struct UsageLog {
    prices: PriceTable,
    recent: Mutex<Recent>,
    writer: Option<Arc<UsageWriter>>,
    in_flight: AtomicI64,
    totals: Mutex<Totals>,
    failures: Mutex<health::Failures>,
}

impl std::fmt::Debug for UsageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageLog")
            .field("store", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}

/// Since the process started.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_micro_usd: u64,
}

/// The console's overview.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// Rates and percentiles cover the last this many seconds.
    pub window_secs: i64,
    pub requests: u64,
    pub requests_per_sec: f64,
    pub errors: u64,
    /// Errors over requests (0 when there were none).
    pub error_rate: f64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    pub ttft_p50_ms: Option<u64>,
    pub ttft_p99_ms: Option<u64>,
    /// Requests started and not finished.
    pub in_flight: i64,
    /// Upstream streams open now.
    pub active_streams: i64,
    /// Requests and errors per 10 s over the last [`SLOTS`] seconds, oldest first:
    /// `[unix_sec_of_bucket_start, requests, errors]`.
    pub series: Vec<[i64; 3]>,
    pub since_start: Totals,
    /// The newest request's sequence number.
    pub last_seq: u64,
}

fn now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    (ms / 1000, ms)
}

/// Now, Unix milliseconds.
pub fn unix_ms_now() -> i64 {
    now().1
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl UsageLog {
    /// A log pricing with `prices`; with `store`, usage records are written there (call it
    /// inside the Tokio runtime then: the writer runs in the background).
    pub fn new(prices: PriceTable, store: Option<Store>) -> Self {
        UsageLog {
            prices,
            recent: Mutex::new(Recent::new()),
            writer: store.map(UsageWriter::start),
            in_flight: AtomicI64::new(0),
            totals: Mutex::new(Totals::default()),
            failures: Mutex::new(health::Failures::default()),
        }
    }

    /// Writes pending usage records now (they are written every half second anyway).
    pub async fn flush(&self) {
        if let Some(w) = &self.writer {
            w.flush().await;
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finished requests after sequence number `after`, newest first, at most `limit`.
    pub fn recent_after(&self, after: u64, limit: usize) -> Vec<RecentRequest> {
        self.recent().after(after, limit)
    }

    /// The newest request with this id (or this sequence number) and its bodies.
    pub fn detail(&self, request_id: &str, seq: Option<u64>) -> Option<RequestDetail> {
        self.recent().detail(request_id, seq)
    }

    /// Rates, error rate, latency and time-to-first-token percentiles over the last
    /// [`OVERVIEW_WINDOW_SECS`], with `active_streams` from the metrics.
    pub fn overview(&self, active_streams: i64) -> Overview {
        let (now_sec, _) = now();
        let recent = self.recent();
        let per_second = recent.per_second(now_sec, SLOTS);
        let window = usize::try_from(OVERVIEW_WINDOW_SECS).unwrap_or(60);
        let last = &per_second[per_second.len().saturating_sub(window)..];
        let requests: u64 = last.iter().map(|s| u64::from(s.1)).sum();
        let errors: u64 = last.iter().map(|s| u64::from(s.2)).sum();
        let series = per_second
            .chunks(10)
            .map(|c| {
                let start = c.first().map_or(0, |s| s.0);
                let r: u32 = c.iter().map(|s| s.1).sum();
                let e: u32 = c.iter().map(|s| s.2).sum();
                [start, i64::from(r), i64::from(e)]
            })
            .collect();
        let mut latency: Vec<u64> = Vec::new();
        let mut ttft: Vec<u64> = Vec::new();
        for e in recent.within(now_sec, OVERVIEW_WINDOW_SECS) {
            latency.push(e.latency_ms);
            ttft.extend(e.ttft_ms);
        }
        let last_seq = recent.last_seq();
        drop(recent);
        latency.sort_unstable();
        ttft.sort_unstable();
        Overview {
            window_secs: OVERVIEW_WINDOW_SECS,
            requests,
            requests_per_sec: requests as f64 / OVERVIEW_WINDOW_SECS as f64,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            latency_p50_ms: percentile(&latency, 50),
            latency_p99_ms: percentile(&latency, 99),
            ttft_p50_ms: percentile(&ttft, 50),
            ttft_p99_ms: percentile(&ttft, 99),
            in_flight: self.in_flight.load(Ordering::Relaxed).max(0),
            active_streams,
            series,
            since_start: *self.totals.lock().unwrap_or_else(PoisonError::into_inner),
            last_seq,
        }
    }

    /// The price of `usage` with the first of `models` that has one (0 when none has).
    fn cost(&self, models: [Option<&str>; 2], usage: &TokenUsage) -> u64 {
        models
            .into_iter()
            .flatten()
            .find_map(|m| self.prices.cost_micro_usd(m, usage))
            .unwrap_or(0)
    }

    fn entry(&self, r: &RequestRecord) -> RecentRequest {
        let tokens = r.tokens.unwrap_or_default();
        let usage = TokenUsage {
            input: tokens.input,
            cached_input: tokens.cached,
            output: tokens.output,
            reasoning: tokens.reasoning,
        };
        // A cache hit was answered without the upstream: it cost nothing.
        let cost = if r.cache == Some("hit") {
            0
        } else {
            self.cost([r.model.as_deref(), r.client_model.as_deref()], &usage)
        };
        RecentRequest {
            seq: 0,
            request_id: r.request_id.clone(),
            started_ms: unix_ms(r.started_at),
            client: r.client.clone(),
            principal: r.principal.clone(),
            team: r.team.clone(),
            ingress: r.ingress.as_str(),
            transport: r.transport.as_str(),
            backend: r.backend.clone(),
            model: r.model.clone(),
            client_model: r.client_model.clone(),
            status: r.status,
            code: r.code.clone(),
            input_tokens: tokens.input,
            cached_input_tokens: tokens.cached,
            output_tokens: tokens.output,
            reasoning_tokens: tokens.reasoning,
            cost_micro_usd: cost,
            latency_ms: millis(r.latency),
            ttft_ms: r.ttft.map(millis),
            cache: r.cache,
            fallbacks: r.fallbacks(),
            has_bodies: r.bodies.is_some(),
            bodies: r.bodies.clone(),
        }
    }
}

/// The usage row of a finished request (ended at `now_sec`).
fn usage_row(e: &RecentRequest, now_sec: i64) -> UsageRecord {
    UsageRecord {
        request_id: e.request_id.clone(),
        created_at: now_sec,
        key_id: Some(e.client.clone()),
        principal: e.principal.clone(),
        team: e.team.clone(),
        backend: e.backend.clone().unwrap_or_default(),
        model: e
            .model
            .clone()
            .or_else(|| e.client_model.clone())
            .unwrap_or_default(),
        input_tokens: e.input_tokens,
        cached_input_tokens: e.cached_input_tokens,
        output_tokens: e.output_tokens,
        reasoning_tokens: e.reasoning_tokens,
        cost_micro_usd: e.cost_micro_usd,
        latency_ms: e.latency_ms,
        status: if e.code == "ok" {
            "completed".to_owned()
        } else {
            e.code.clone()
        },
        cache: e.cache.unwrap_or("none").to_owned(),
        fallback: u64::from(e.fallbacks),
    }
}

/// The `p`th percentile (nearest rank) of sorted `values`.
fn percentile(values: &[u64], p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let rank = (p * values.len()).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

impl RecordSink for UsageLog {
    fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self, record: RequestRecord) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let (now_sec, _) = now();
        let entry = self.entry(&record);
        {
            let mut t = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            t.requests += 1;
            t.errors += u64::from(entry.is_error());
            t.input_tokens += entry.input_tokens;
            t.output_tokens += entry.output_tokens;
            t.cost_micro_usd += entry.cost_micro_usd;
        }
        if let Some(w) = &self.writer {
            w.add(usage_row(&entry, now_sec));
        }
        self.recent().push(entry, now_sec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
