//! Counters shared by every request: rate limits, budget reservations and key revocations, with
//! one API over two backends of the same semantics: [`Counters::in_process`] (one process; a
//! mutex makes each operation atomic) and [`Counters::redis`] (every replica; a Lua script makes
//! each operation atomic). The same test suite runs against both.
//!
//! - Rate limits ([`rate`]): GCRA per bucket, requests and tokens per minute, per key, model or
//!   key-and-model; tokens are charged an estimate at admission and corrected at settlement.
//! - Budgets ([`budget`]): reserve an estimate on every applicable scope at once, settle the
//!   actual cost; calendar windows (UTC plus a configurable offset); see [`budget`] for the
//!   overshoot bound.
//! - Revocations: immediate in-process; within [`redis::REVOCATION_POLL`] on other replicas.
//!
//! Time comes from the injected [`Clock`]. When Redis is unreachable, operations return
//! [`LimitError::Unavailable`] and the caller chooses to fail open or closed.

pub mod budget;
mod memory;
pub mod rate;
pub mod redis;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::clock::Clock;
use budget::{
    warning, BudgetDenied, BudgetScope, Reservation, ReservedScope, ScopeUsage, Settlement,
};
use memory::MemoryCounters;
use rate::{RateAdmission, RateCharge, RateDenied, TokenTicket};
use redis::RedisCounters;

/// The counter store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the shared counters (Redis) are unavailable: {0}")]
    Unavailable(String),
}

/// Why a budget reservation was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error("budget_exceeded: {}", .0.message())]
    Denied(BudgetDenied),
    #[error(transparent)]
    Unavailable(#[from] LimitError),
}

/// A settlement the counters could not record; the reservation comes back, to retry or to
/// write to the ledger regardless.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("settling a budget reservation: {error}")]
pub struct SettleError {
    pub reservation: Box<Reservation>,
    pub error: LimitError,
}

/// Why a rate-limit admission was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate_limit_exceeded: {}", .0.message())]
    Limited(RateDenied),
    #[error(transparent)]
    Unavailable(#[from] LimitError),
}

#[derive(Debug)]
enum Backend {
    Memory(MemoryCounters),
    Redis(RedisCounters),
}

/// The counters (cheap to clone; clones share state).
#[derive(Clone)]
pub struct Counters {
    backend: Arc<Backend>,
    clock: Arc<dyn Clock>,
    /// Where calendar windows start: seconds east of UTC.
    offset_secs: i32,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("backend", &self.backend)
            .field("offset_secs", &self.offset_secs)
            .finish_non_exhaustive()
    }
}

impl Counters {
    /// Counters for one process.
    pub fn in_process(clock: Arc<dyn Clock>, offset_secs: i32) -> Self {
        Counters {
            backend: Arc::new(Backend::Memory(MemoryCounters::new())),
            clock,
            offset_secs,
        }
    }

    /// Counters shared through the Redis at `url`, every name under `prefix` (replicas of one
    /// gateway use the same prefix). Must be called inside a tokio runtime (it starts the
    /// revocation poller, which stops when the last clone is dropped).
    pub async fn redis(
        url: &str,
        prefix: &str,
        clock: Arc<dyn Clock>,
        offset_secs: i32,
    ) -> Result<Self, LimitError> {
        Ok(Counters {
            backend: Arc::new(Backend::Redis(RedisCounters::connect(url, prefix).await?)),
            clock,
            offset_secs,
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Charges every bucket (all or none). Buckets must be distinct.
    pub async fn admit_rate(&self, charges: &[RateCharge]) -> Result<RateAdmission, RateError> {
        let now_us = self.now_ms().saturating_mul(1_000);
        let outcome = match &*self.backend {
            Backend::Memory(m) => m.admit(charges, now_us),
            Backend::Redis(r) => r.admit(charges, now_us).await?,
        };
        match outcome {
            Ok(tats) => Ok(rate::admission(charges, &tats, now_us)),
            Err(denied) => Err(RateError::Limited(denied)),
        }
    }

    /// Corrects the token buckets of an admission once the request's tokens are known.
    pub async fn settle_tokens(&self, ticket: &TokenTicket, actual: u64) -> Result<(), LimitError> {
        let now_us = self.now_ms().saturating_mul(1_000);
        match &*self.backend {
            Backend::Memory(m) => {
                m.settle_tokens(ticket, actual, now_us);
                Ok(())
            }
            Backend::Redis(r) => r.settle_tokens(ticket, actual, now_us).await,
        }
    }

    /// The window of `scope` holding the current time.
    pub fn current_window(&self, scope: &BudgetScope) -> ReservedScope {
        let bounds = scope.window.bounds(self.now_ms(), self.offset_secs);
        ReservedScope {
            scope: scope.clone(),
            window_start_ms: bounds.start_ms,
            window_end_ms: bounds.end_ms,
        }
    }

    /// Reserves `estimate_micro_usd` on every scope at once, admitted only while
    /// `spent + reserved < limit` in each (see [`budget`]).
    pub async fn reserve(
        &self,
        scopes: &[BudgetScope],
        estimate_micro_usd: u64,
    ) -> Result<Reservation, ReserveError> {
        let now_ms = self.now_ms();
        let held: Vec<ReservedScope> = scopes.iter().map(|s| self.current_window(s)).collect();
        let outcome = match &*self.backend {
            Backend::Memory(m) => m.reserve(&held, estimate_micro_usd, now_ms),
            Backend::Redis(r) => r.reserve(&held, estimate_micro_usd, now_ms).await?,
        };
        match outcome {
            Ok(before) => {
                let warnings = held
                    .iter()
                    .zip(&before)
                    .filter_map(|(h, u)| {
                        let used = u.spent_micro_usd.saturating_add(u.reserved_micro_usd);
                        warning(&h.scope, used, used.saturating_add(estimate_micro_usd))
                    })
                    .collect();
                Ok(Reservation {
                    estimate_micro_usd,
                    scopes: held,
                    warnings,
                })
            }
            Err((index, usage)) => {
                let exhausted = held.into_iter().nth(index).ok_or_else(|| {
                    LimitError::Unavailable("budget admission named no scope".to_owned())
                })?;
                Err(ReserveError::Denied(BudgetDenied {
                    scope: exhausted.scope,
                    spent_micro_usd: usage.spent_micro_usd,
                    reserved_micro_usd: usage.reserved_micro_usd,
                    resets_at_ms: exhausted.window_end_ms,
                }))
            }
        }
    }

    /// Settles a reservation with what the request actually cost (for a cancelled stream: what
    /// it used until then). The returned [`Settlement`] is what the durable ledger records.
    pub async fn settle(
        &self,
        reservation: Reservation,
        actual_micro_usd: u64,
    ) -> Result<Settlement, SettleError> {
        let now_ms = self.now_ms();
        let estimate = reservation.estimate_micro_usd;
        let outcome = match &*self.backend {
            Backend::Memory(m) => {
                Ok(m.settle(&reservation.scopes, estimate, actual_micro_usd, now_ms))
            }
            Backend::Redis(r) => {
                r.settle(&reservation.scopes, estimate, actual_micro_usd, now_ms)
                    .await
            }
        };
        let after = match outcome {
            Ok(after) => after,
            Err(error) => {
                return Err(SettleError {
                    reservation: Box::new(reservation),
                    error,
                })
            }
        };
        let scopes = reservation.scopes;
        let warnings = scopes
            .iter()
            .zip(&after)
            .filter_map(|(held, usage)| {
                let usage = usage.as_ref()?;
                let used = usage
                    .spent_micro_usd
                    .saturating_add(usage.reserved_micro_usd);
                let before = used
                    .saturating_sub(actual_micro_usd)
                    .saturating_add(estimate);
                warning(&held.scope, before, used)
            })
            .collect();
        Ok(Settlement {
            actual_micro_usd,
            scopes,
            warnings,
        })
    }

    /// The current window's counter of `scope` (for `/v1/me/usage`, admin views and tests).
    pub async fn usage(&self, scope: &BudgetScope) -> Result<ScopeUsage, LimitError> {
        let held = self.current_window(scope);
        let now_ms = self.now_ms();
        match &*self.backend {
            Backend::Memory(m) => Ok(m.usage(&held, now_ms)),
            Backend::Redis(r) => r.usage(&held, now_ms).await,
        }
    }

    /// Raises the current window's `spent` of `scope` to at least `spent_micro_usd` (from the
    /// durable ledger, after a restart emptied the counters).
    pub async fn seed_spent(
        &self,
        scope: &BudgetScope,
        spent_micro_usd: u64,
    ) -> Result<(), LimitError> {
        let held = self.current_window(scope);
        let now_ms = self.now_ms();
        match &*self.backend {
            Backend::Memory(m) => {
                m.seed_spent(&held, spent_micro_usd, now_ms);
                Ok(())
            }
            Backend::Redis(r) => r.seed_spent(&held, spent_micro_usd, now_ms).await,
        }
    }

    /// Revokes the key `key_id` on every replica sharing these counters.
    pub async fn revoke(&self, key_id: &str) -> Result<(), LimitError> {
        match &*self.backend {
            Backend::Memory(m) => {
                m.revoke(key_id);
                Ok(())
            }
            Backend::Redis(r) => r.revoke(key_id).await,
        }
    }

    /// Whether `key_id` was revoked (this replica's view: see the module docs for the delay).
    pub fn is_revoked(&self, key_id: &str) -> bool {
        match &*self.backend {
            Backend::Memory(m) => m.is_revoked(key_id),
            Backend::Redis(r) => r.is_revoked(key_id),
        }
    }

    /// Revoked key ids as this replica learns of them (to drop cached key records).
    pub fn revocations(&self) -> broadcast::Receiver<String> {
        match &*self.backend {
            Backend::Memory(m) => m.subscribe(),
            Backend::Redis(r) => r.subscribe(),
        }
    }

    /// The calendar offset (seconds east of UTC) windows use.
    pub fn offset_secs(&self) -> i32 {
        self.offset_secs
    }
}
