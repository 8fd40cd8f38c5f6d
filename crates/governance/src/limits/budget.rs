//! Budget types shared by the in-process and Redis counters: what a budget is, which counters a
//! request reserves on, and what admission, settlement and denial report.
//!
//! Invariants (both backends):
//! - One counter per (scope, window): `spent` (settled micro-USD), `reserved` (estimates of
//!   requests in flight) and `requests` (settled count). It lives until its window ends.
//! - Admission is atomic over all the request's scopes: it succeeds only while
//!   `spent + reserved < limit` in every one, and then adds the estimate to `reserved` in every
//!   one; otherwise nothing changes and the first exhausted scope is reported.
//! - Settlement moves the request's estimate out of `reserved` and its actual cost into `spent`
//!   (a cancelled stream settles what it used). A counter whose window already ended is left
//!   alone; the ledger still records the charge.
//! - Overshoot bound: spend can pass a limit only through requests admitted while the limit was
//!   not yet reached. With `L` the limit, `e_c` the estimate of the request whose admission
//!   crossed it and `F` the requests in flight at that moment, the settled spend is below
//!   `L + e_c + Σ_F max(0, actual − estimate)` (and below `L + e_c` when estimates are worst
//!   cases). A request never starts once the limit is reached.
//! - A warning is reported while `spent + reserved ≥ warn_at × limit`; `crossed` marks the one
//!   admission or settlement that passed the threshold (atomic, so exactly one per window).

use serde::{Deserialize, Serialize};

use crate::calendar::{format_rfc3339, Window};

/// Whose money a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// One virtual key.
    Key,
    /// Every key of one principal (a person across their keys).
    Principal,
    /// Every key of one team.
    Team,
    /// Everything through the gateway.
    Global,
}

impl ScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Key => "key",
            ScopeKind::Principal => "principal",
            ScopeKind::Team => "team",
            ScopeKind::Global => "global",
        }
    }
}

/// One configured budget (on a key, or top-level), after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetSpec {
    pub scope: ScopeKind,
    pub window: Window,
    pub limit_micro_usd: u64,
    /// The warning threshold in millionths of the limit (0.8 → 800 000).
    pub warn_at_ppm: u32,
}

/// One budget applied to one request: a spec bound to the scope's id (key id, principal, team
/// name; empty for global).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetScope {
    pub kind: ScopeKind,
    pub id: String,
    pub window: Window,
    pub limit_micro_usd: u64,
    pub warn_at_ppm: u32,
}

impl BudgetScope {
    pub fn new(spec: &BudgetSpec, id: &str) -> Self {
        BudgetScope {
            kind: spec.scope,
            id: id.to_owned(),
            window: spec.window,
            limit_micro_usd: spec.limit_micro_usd,
            warn_at_ppm: spec.warn_at_ppm,
        }
    }

    /// The counter's name (under the backend's prefix) for the window starting at `start_ms`.
    pub(crate) fn counter_name(&self, start_ms: i64) -> String {
        format!(
            "b:{}:{}:{}:{start_ms}",
            self.kind.as_str(),
            self.id,
            self.window.as_str()
        )
    }

    fn describe(&self) -> String {
        let window = match self.window {
            Window::Day => "daily",
            Window::Week => "weekly",
            Window::Month => "monthly",
        };
        match self.kind {
            ScopeKind::Global => format!("the global {window} budget"),
            kind => format!("the {window} budget of {} `{}`", kind.as_str(), self.id),
        }
    }
}

/// A scope a reservation holds, with the window it was taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedScope {
    pub scope: BudgetScope,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
}

impl ReservedScope {
    pub(crate) fn counter_name(&self) -> String {
        self.scope.counter_name(self.window_start_ms)
    }
}

/// A budget at or past its warning threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWarning {
    pub kind: ScopeKind,
    pub id: String,
    pub window: Window,
    /// `spent + reserved` in millionths of the limit.
    pub used_ppm: u64,
    /// This admission or settlement is the one that passed the threshold.
    pub crossed: bool,
}

impl BudgetWarning {
    /// The `x-ccp-budget-warning` value: `<scope>:<percent>` (`team:core:83`).
    pub fn header_value(&self) -> String {
        format!(
            "{}:{}:{}",
            self.kind.as_str(),
            self.id,
            self.used_ppm / 10_000
        )
    }
}

/// The warning for `scope` once its use went from `before` to `after`, if at or past threshold.
pub(crate) fn warning(scope: &BudgetScope, before: u64, after: u64) -> Option<BudgetWarning> {
    let limit = u128::from(scope.limit_micro_usd);
    let threshold = limit * u128::from(scope.warn_at_ppm);
    let reached = |used: u64| u128::from(used) * 1_000_000 >= threshold;
    if !reached(after) {
        return None;
    }
    let used_ppm = (u128::from(after) * 1_000_000)
        .checked_div(limit)
        .unwrap_or(u128::MAX);
    Some(BudgetWarning {
        kind: scope.kind,
        id: scope.id.clone(),
        window: scope.window,
        used_ppm: u64::try_from(used_ppm).unwrap_or(u64::MAX),
        crossed: !reached(before),
    })
}

/// An admitted request's hold on its budgets. Settle it exactly once ([`super::Counters::settle`]);
/// one dropped unsettled keeps its estimate reserved until the window ends.
/// Not `Clone`: settling consumes it, so it cannot be settled twice.
#[must_use = "a reservation must be settled, or its estimate stays reserved until the window ends"]
#[derive(Debug, PartialEq, Eq)]
pub struct Reservation {
    pub estimate_micro_usd: u64,
    pub scopes: Vec<ReservedScope>,
    /// Budgets at or past their threshold once this request was admitted.
    pub warnings: Vec<BudgetWarning>,
}

/// What a settlement charged, per scope (what the durable ledger records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub actual_micro_usd: u64,
    pub scopes: Vec<ReservedScope>,
    /// Budgets at or past their threshold after this settlement.
    pub warnings: Vec<BudgetWarning>,
}

/// A refused admission: the first scope whose budget is used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetDenied {
    pub scope: BudgetScope,
    pub spent_micro_usd: u64,
    pub reserved_micro_usd: u64,
    /// When the window ends and the budget is available again (Unix milliseconds).
    pub resets_at_ms: i64,
}

impl BudgetDenied {
    /// The error code at the HTTP edge (status 402).
    pub const CODE: &'static str = "budget_exceeded";

    /// What the client is told: the scope and when it resets, never the spend figures.
    pub fn message(&self) -> String {
        format!(
            "{} is used up; it resets at {}",
            self.scope.describe(),
            format_rfc3339(self.resets_at_ms)
        )
    }
}

/// One counter's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeUsage {
    pub spent_micro_usd: u64,
    pub reserved_micro_usd: u64,
    pub requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(kind: ScopeKind, id: &str) -> BudgetScope {
        BudgetScope {
            kind,
            id: id.to_owned(),
            window: Window::Month,
            limit_micro_usd: 10_000_000,
            warn_at_ppm: 800_000,
        }
    }

    #[test]
    fn warnings_cross_once() {
        let team = scope(ScopeKind::Team, "core");
        assert_eq!(warning(&team, 0, 7_999_999), None);
        let crossing = warning(&team, 7_999_999, 8_000_000).into_iter().next();
        assert_eq!(
            crossing.as_ref().map(|w| (w.used_ppm, w.crossed)),
            Some((800_000, true))
        );
        let after = warning(&team, 8_000_000, 9_000_000).into_iter().next();
        assert_eq!(after.as_ref().map(|w| w.crossed), Some(false));
        assert_eq!(
            after.map(|w| w.header_value()).as_deref(),
            Some("team:core:90")
        );
        let zero = BudgetScope {
            limit_micro_usd: 0,
            ..team
        };
        assert!(warning(&zero, 0, 0).is_some());
    }

    #[test]
    fn denial_names_scope_and_reset_without_figures() {
        let denied = BudgetDenied {
            scope: scope(ScopeKind::Team, "core"),
            spent_micro_usd: 10_000_001,
            reserved_micro_usd: 0,
            resets_at_ms: 1_798_761_600_000,
        };
        assert_eq!(
            denied.message(),
            "the monthly budget of team `core` is used up; it resets at 2027-01-01T00:00:00Z"
        );
        let global = BudgetDenied {
            scope: BudgetScope {
                window: Window::Day,
                ..scope(ScopeKind::Global, "")
            },
            ..denied
        };
        assert!(global
            .message()
            .starts_with("the global daily budget is used up"));
        assert!(!global.message().contains("10"));
    }
}
