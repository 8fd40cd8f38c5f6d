//! Rate limits per minute (requests and tokens), by GCRA, the same arithmetic in both backends.
//!
//! GCRA keeps one number per bucket, its theoretical arrival time (TAT, Unix microseconds). With
//! `limit` units per `P` = 60 s, one unit costs `P / limit`; a charge of `n` units is admitted
//! when `max(TAT, now) + cost(min(n, limit)) − now ≤ P`, and then moves TAT to
//! `max(TAT, now) + cost(n)`. So a bucket allows a burst of `limit` units and refills at a steady
//! rate, with no window-boundary bursts (a fixed window allows twice the limit across a boundary).
//! A charge larger than the whole limit is admitted only into a full bucket, and then leaves it
//! in debt. A refused charge changes nothing; several buckets are charged all or none.
//!
//! Tokens are charged an estimate at admission and corrected at settlement
//! ([`TokenTicket`]): the TAT moves by `cost(actual − estimate)`, refunding an over-estimate and
//! charging an under-estimate (which may delay later requests: a bucket can go into debt).

use crate::limits::budget::ScopeKind;

/// The bucket period: limits are per minute.
pub(crate) const PERIOD_US: i64 = 60_000_000;

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateDimension {
    Requests,
    Tokens,
}

impl RateDimension {
    pub fn as_str(self) -> &'static str {
        match self {
            RateDimension::Requests => "requests",
            RateDimension::Tokens => "tokens",
        }
    }
}

/// Whose bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateScope {
    /// One virtual key, all models.
    Key(String),
    /// One model, all keys.
    Model(String),
    /// One virtual key on one model.
    KeyModel { key: String, model: String },
}

impl RateScope {
    fn name(&self) -> String {
        match self {
            RateScope::Key(key) => format!("key:{key}"),
            RateScope::Model(model) => format!("model:{model}"),
            RateScope::KeyModel { key, model } => format!("key-model:{key}:{model}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            RateScope::Key(key) => format!("{} `{key}`", ScopeKind::Key.as_str()),
            RateScope::Model(model) => format!("model `{model}`"),
            RateScope::KeyModel { key, model } => format!("key `{key}` on model `{model}`"),
        }
    }
}

/// One bucket to charge: `amount` units against `limit_per_minute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCharge {
    pub scope: RateScope,
    pub dimension: RateDimension,
    pub limit_per_minute: u64,
    pub amount: u64,
}

impl RateCharge {
    pub(crate) fn bucket(&self) -> String {
        format!("r:{}:{}", self.scope.name(), self.dimension.as_str())
    }

    /// Microseconds of bucket time `units` cost (exact to 1 µs per charge).
    fn cost_us(&self, units: u64) -> i64 {
        cost_us(self.limit_per_minute, units)
    }

    /// (increment, check) for the GCRA step.
    pub(crate) fn gcra_args(&self) -> (i64, i64) {
        (
            self.cost_us(self.amount),
            self.cost_us(self.amount.min(self.limit_per_minute)),
        )
    }
}

fn cost_us(limit: u64, units: u64) -> i64 {
    let cost = i128::from(units) * i128::from(PERIOD_US) / i128::from(limit.max(1));
    i64::try_from(cost).unwrap_or(i64::MAX / 4)
}

/// One GCRA step: the bucket's new TAT, or how long (µs) until the charge would fit.
pub(crate) fn gcra_step(
    tat: Option<i64>,
    now_us: i64,
    increment: i64,
    check: i64,
) -> Result<i64, i64> {
    let base = tat.unwrap_or(now_us).max(now_us);
    if base + check - now_us > PERIOD_US {
        Err(base + check - PERIOD_US - now_us)
    } else {
        Ok(base + increment)
    }
}

/// A bucket's state after an admitted charge (for the `x-ratelimit-*` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateStatus {
    pub scope: RateScope,
    pub dimension: RateDimension,
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again, milliseconds.
    pub reset_ms: u64,
}

pub(crate) fn status(charge: &RateCharge, new_tat: i64, now_us: i64) -> RateStatus {
    let used = (new_tat - now_us).max(0);
    let free = i128::from((PERIOD_US - used).max(0));
    let remaining = free * i128::from(charge.limit_per_minute) / i128::from(PERIOD_US);
    RateStatus {
        scope: charge.scope.clone(),
        dimension: charge.dimension,
        limit: charge.limit_per_minute,
        remaining: u64::try_from(remaining).unwrap_or(0),
        reset_ms: u64::try_from(used.div_euclid(1_000) + i64::from(used % 1_000 != 0)).unwrap_or(0),
    }
}

/// The token estimates a request was admitted with, to correct at settlement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenTicket {
    pub(crate) buckets: Vec<TicketBucket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TicketBucket {
    pub name: String,
    pub limit: u64,
    pub estimate: u64,
}

impl TicketBucket {
    /// TAT correction (µs) once `actual` tokens are known.
    pub(crate) fn delta_us(&self, actual: u64) -> i64 {
        if actual >= self.estimate {
            cost_us(self.limit, actual - self.estimate)
        } else {
            -cost_us(self.limit, self.estimate - actual)
        }
    }
}

/// An admitted request's rate-limit state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateAdmission {
    pub statuses: Vec<RateStatus>,
    pub ticket: TokenTicket,
}

pub(crate) fn admission(charges: &[RateCharge], tats: &[i64], now_us: i64) -> RateAdmission {
    let statuses = charges
        .iter()
        .zip(tats)
        .map(|(charge, &tat)| status(charge, tat, now_us))
        .collect();
    let buckets = charges
        .iter()
        .filter(|c| c.dimension == RateDimension::Tokens)
        .map(|c| TicketBucket {
            name: c.bucket(),
            limit: c.limit_per_minute,
            estimate: c.amount,
        })
        .collect();
    RateAdmission {
        statuses,
        ticket: TokenTicket { buckets },
    }
}

/// `6m0s`, `12s`, `250ms`: the duration form of OpenAI's `x-ratelimit-reset-*`.
pub fn format_reset(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms.div_ceil(1_000);
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

fn header_triple(
    dim: RateDimension,
    limit: u64,
    remaining: u64,
    reset_ms: u64,
) -> [(String, String); 3] {
    let d = dim.as_str();
    [
        (format!("x-ratelimit-limit-{d}"), limit.to_string()),
        (format!("x-ratelimit-remaining-{d}"), remaining.to_string()),
        (format!("x-ratelimit-reset-{d}"), format_reset(reset_ms)),
    ]
}

impl RateAdmission {
    /// OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, from the tightest
    /// bucket of each dimension (fewest remaining); a dimension with no bucket is left out.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for dim in [RateDimension::Requests, RateDimension::Tokens] {
            if let Some(tightest) = self
                .statuses
                .iter()
                .filter(|s| s.dimension == dim)
                .min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset_ms)))
            {
                out.extend(header_triple(
                    dim,
                    tightest.limit,
                    tightest.remaining,
                    tightest.reset_ms,
                ));
            }
        }
        out
    }
}

/// A refused admission: the first bucket the charge did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDenied {
    pub scope: RateScope,
    pub dimension: RateDimension,
    pub limit: u64,
    /// Whole seconds until the charge would fit (at least 1): `Retry-After`.
    pub retry_after_secs: u64,
}

impl RateDenied {
    /// The error code at the HTTP edge (status 429).
    pub const CODE: &'static str = "rate_limit_exceeded";

    pub(crate) fn new(charge: &RateCharge, wait_us: i64) -> Self {
        let wait_us = u64::try_from(wait_us).unwrap_or(0);
        RateDenied {
            scope: charge.scope.clone(),
            dimension: charge.dimension,
            limit: charge.limit_per_minute,
            retry_after_secs: wait_us.div_ceil(1_000_000).max(1),
        }
    }

    /// What the client is told; "try again in Ns" is what Codex reads its retry delay from.
    pub fn message(&self) -> String {
        format!(
            "{} is limited to {} {} per minute; please try again in {}s.",
            self.scope.describe(),
            self.limit,
            self.dimension.as_str(),
            self.retry_after_secs
        )
    }

    /// `retry-after` and the refused dimension's `x-ratelimit-*` (nothing remaining).
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = vec![("retry-after".to_owned(), self.retry_after_secs.to_string())];
        out.extend(header_triple(
            self.dimension,
            self.limit,
            0,
            self.retry_after_secs * 1_000,
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(limit: u64, amount: u64) -> RateCharge {
        RateCharge {
            scope: RateScope::Key("vk_a".to_owned()),
            dimension: RateDimension::Requests,
            limit_per_minute: limit,
            amount,
        }
    }

    /// Runs charges through one bucket at `now`, returning the TAT.
    fn run(c: &RateCharge, tat: Option<i64>, now: i64, times: usize) -> Result<i64, i64> {
        let (inc, check) = c.gcra_args();
        let mut tat = tat;
        for _ in 0..times {
            tat = Some(gcra_step(tat, now, inc, check)?);
        }
        tat.ok_or(0)
    }

    #[test]
    fn burst_then_steady_refill() {
        let c = charge(60, 1);
        let (inc, check) = c.gcra_args();
        let tat = run(&c, None, 0, 60).unwrap();
        assert_eq!(tat, PERIOD_US);
        // The 61st waits exactly one emission interval (1 s).
        assert_eq!(gcra_step(Some(tat), 0, inc, check), Err(1_000_000));
        // One second later it fits, and only one does.
        let tat = gcra_step(Some(tat), 1_000_000, inc, check).unwrap();
        assert!(gcra_step(Some(tat), 1_000_000, inc, check).is_err());
        let st = status(&c, tat, 1_000_000);
        assert_eq!((st.remaining, st.reset_ms), (0, 60_000));
        let fresh = status(&c, inc, 0);
        assert_eq!((fresh.remaining, fresh.reset_ms), (59, 1_000));
    }

    #[test]
    fn oversized_charge_needs_a_full_bucket_and_leaves_debt() {
        let c = RateCharge {
            dimension: RateDimension::Tokens,
            ..charge(1_000, 5_000)
        };
        let (inc, check) = c.gcra_args();
        let tat = gcra_step(None, 0, inc, check).unwrap();
        assert_eq!(tat, 5 * PERIOD_US);
        // In debt for four minutes: even one token waits.
        let one = RateCharge {
            amount: 1,
            ..c.clone()
        };
        let (inc1, check1) = one.gcra_args();
        assert_eq!(
            gcra_step(Some(tat), 0, inc1, check1),
            Err(4 * PERIOD_US + 60_000)
        );
    }

    #[test]
    fn ticket_corrections() {
        let bucket = TicketBucket {
            name: "b".to_owned(),
            limit: 60_000,
            estimate: 1_000,
        };
        assert_eq!(bucket.delta_us(1_000), 0);
        assert_eq!(bucket.delta_us(400), -600_000);
        assert_eq!(bucket.delta_us(1_500), 500_000);
    }

    #[test]
    fn headers_and_messages() {
        assert_eq!(format_reset(250), "250ms");
        assert_eq!(format_reset(1_001), "2s");
        assert_eq!(format_reset(360_000), "6m0s");
        let admission = RateAdmission {
            statuses: vec![
                status(&charge(100, 1), 50 * 600_000, 0),
                status(&charge(10, 1), 6_000_000, 0),
            ],
            ticket: TokenTicket::default(),
        };
        let headers = admission.headers();
        assert_eq!(
            headers,
            vec![
                ("x-ratelimit-limit-requests".to_owned(), "10".to_owned()),
                ("x-ratelimit-remaining-requests".to_owned(), "9".to_owned()),
                ("x-ratelimit-reset-requests".to_owned(), "6s".to_owned()),
            ]
        );
        let denied = RateDenied::new(&charge(60, 1), 1_500_000);
        assert_eq!(denied.retry_after_secs, 2);
        assert_eq!(
            denied.message(),
            "key `vk_a` is limited to 60 requests per minute; please try again in 2s."
        );
        assert_eq!(
            denied.headers()[0],
            ("retry-after".to_owned(), "2".to_owned())
        );
        assert_eq!(RateDenied::new(&charge(60, 1), 1).retry_after_secs, 1);
    }
}
