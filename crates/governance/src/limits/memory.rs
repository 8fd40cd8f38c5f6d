//! The in-process counters: one mutex over all buckets and budget counters, so each admission
//! and settlement is atomic exactly as the Redis scripts are. Correct for one process only;
//! replicas need [`super::redis`]. Expired entries are dropped as the clock passes them, like
//! Redis expiry.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::broadcast;

use crate::limits::budget::{ReservedScope, ScopeUsage};
use crate::limits::rate::{self, RateCharge, RateDenied, TokenTicket};

#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    usage: ScopeUsage,
    expires_at_ms: i64,
}

#[derive(Debug, Default)]
struct State {
    /// Bucket name → (TAT µs, expiry µs).
    buckets: HashMap<String, (i64, i64)>,
    budgets: HashMap<String, Cell>,
    /// The clock value of the last sweep of expired entries (ms).
    swept_at_ms: i64,
}

/// How often expired entries are swept (ms of clock time).
const SWEEP_EVERY_MS: i64 = 60_000;

impl State {
    fn sweep(&mut self, now_ms: i64) {
        if now_ms - self.swept_at_ms < SWEEP_EVERY_MS {
            return;
        }
        self.swept_at_ms = now_ms;
        self.buckets
            .retain(|_, (_, expiry)| *expiry > now_ms * 1_000);
        self.budgets.retain(|_, cell| cell.expires_at_ms > now_ms);
    }

    fn tat(&self, name: &str, now_us: i64) -> Option<i64> {
        self.buckets
            .get(name)
            .filter(|(_, expiry)| *expiry > now_us)
            .map(|(tat, _)| *tat)
    }

    fn budget(&self, name: &str, now_ms: i64) -> Option<&Cell> {
        self.budgets.get(name).filter(|c| c.expires_at_ms > now_ms)
    }
}

#[derive(Debug)]
pub(crate) struct MemoryCounters {
    state: Mutex<State>,
    revoked: RwLock<HashSet<String>>,
    notices: broadcast::Sender<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent under a panic (every update is a plain assignment), so a
    // poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryCounters {
    pub fn new() -> Self {
        MemoryCounters {
            state: Mutex::new(State::default()),
            revoked: RwLock::new(HashSet::new()),
            notices: broadcast::channel(1_024).0,
        }
    }

    pub fn admit(&self, charges: &[RateCharge], now_us: i64) -> Result<Vec<i64>, RateDenied> {
        let mut state = lock(&self.state);
        state.sweep(now_us / 1_000);
        let mut tats = Vec::with_capacity(charges.len());
        for charge in charges {
            let (increment, check) = charge.gcra_args();
            let tat = state.tat(&charge.bucket(), now_us);
            match rate::gcra_step(tat, now_us, increment, check) {
                Ok(tat) => tats.push(tat),
                Err(wait) => return Err(RateDenied::new(charge, wait)),
            }
        }
        for (charge, &tat) in charges.iter().zip(&tats) {
            state
                .buckets
                .insert(charge.bucket(), (tat, expiry_us(tat, now_us)));
        }
        Ok(tats)
    }

    pub fn settle_tokens(&self, ticket: &TokenTicket, actual: u64, now_us: i64) {
        let mut state = lock(&self.state);
        for bucket in &ticket.buckets {
            let Some(base) = state.tat(&bucket.name, now_us).map(|t| t.max(now_us)) else {
                if actual > bucket.estimate {
                    let tat = now_us + bucket.delta_us(actual);
                    state
                        .buckets
                        .insert(bucket.name.clone(), (tat, expiry_us(tat, now_us)));
                }
                continue;
            };
            let tat = base + bucket.delta_us(actual);
            if tat > now_us {
                state
                    .buckets
                    .insert(bucket.name.clone(), (tat, expiry_us(tat, now_us)));
            } else {
                state.buckets.remove(&bucket.name);
            }
        }
    }

    /// Reserves `estimate` on every scope, or reports the first exhausted one. Returns each
    /// scope's `spent + reserved` before the reservation.
    pub fn reserve(
        &self,
        scopes: &[ReservedScope],
        estimate: u64,
        now_ms: i64,
    ) -> Result<Vec<ScopeUsage>, (usize, ScopeUsage)> {
        let mut state = lock(&self.state);
        state.sweep(now_ms);
        let mut before = Vec::with_capacity(scopes.len());
        for (index, scope) in scopes.iter().enumerate() {
            let usage = state
                .budget(&scope.counter_name(), now_ms)
                .map(|c| c.usage)
                .unwrap_or_default();
            if usage
                .spent_micro_usd
                .saturating_add(usage.reserved_micro_usd)
                >= scope.scope.limit_micro_usd
            {
                return Err((index, usage));
            }
            before.push(usage);
        }
        for (scope, usage) in scopes.iter().zip(&before) {
            let mut cell = Cell {
                usage: *usage,
                expires_at_ms: scope.window_end_ms,
            };
            cell.usage.reserved_micro_usd = cell.usage.reserved_micro_usd.saturating_add(estimate);
            state.budgets.insert(scope.counter_name(), cell);
        }
        Ok(before)
    }

    /// Settles on every scope whose window is still open; returns each scope's usage after
    /// (`None` for a closed window).
    pub fn settle(
        &self,
        scopes: &[ReservedScope],
        estimate: u64,
        actual: u64,
        now_ms: i64,
    ) -> Vec<Option<ScopeUsage>> {
        let mut state = lock(&self.state);
        scopes
            .iter()
            .map(|scope| {
                let name = scope.counter_name();
                let mut cell = *state.budget(&name, now_ms)?;
                let usage = &mut cell.usage;
                usage.reserved_micro_usd = usage.reserved_micro_usd.saturating_sub(estimate);
                usage.spent_micro_usd = usage.spent_micro_usd.saturating_add(actual);
                usage.requests += 1;
                state.budgets.insert(name, cell);
                Some(cell.usage)
            })
            .collect()
    }

    pub fn usage(&self, scope: &ReservedScope, now_ms: i64) -> ScopeUsage {
        let state = lock(&self.state);
        state
            .budget(&scope.counter_name(), now_ms)
            .map(|c| c.usage)
            .unwrap_or_default()
    }

    pub fn seed_spent(&self, scope: &ReservedScope, spent: u64, now_ms: i64) {
        let mut state = lock(&self.state);
        let name = scope.counter_name();
        let mut cell = state.budget(&name, now_ms).copied().unwrap_or(Cell {
            usage: ScopeUsage::default(),
            expires_at_ms: scope.window_end_ms,
        });
        cell.usage.spent_micro_usd = cell.usage.spent_micro_usd.max(spent);
        state.budgets.insert(name, cell);
    }

    pub fn revoke(&self, key_id: &str) {
        let fresh = self
            .revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id.to_owned());
        if fresh {
            // No receiver is fine: nobody is watching.
            let _ = self.notices.send(key_id.to_owned());
        }
    }

    pub fn is_revoked(&self, key_id: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key_id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.notices.subscribe()
    }
}

/// When a bucket with this TAT is full again (and can be forgotten), µs, like the Redis `PX`.
fn expiry_us(tat: i64, now_us: i64) -> i64 {
    now_us + ((tat - now_us) / 1_000 + 1) * 1_000
}
