//! Two Redis-backed counter instances with separate connections (two replicas of the gateway)
//! share one rate limit, one budget and the revocations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use ccp_governance::calendar::Window;
use ccp_governance::clock::{ManualClock, SystemClock};
use ccp_governance::limits::budget::{BudgetScope, ScopeKind};
use ccp_governance::limits::rate::{RateCharge, RateDimension, RateScope};
use ccp_governance::limits::{Counters, LimitError, RateError, ReserveError};
use common::{at, Backend};

async fn two_replicas() -> (Backend, Counters, Counters, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at("2026-03-04T12:00:00Z")));
    let (backend, a) = Backend::redis(clock.clone()).await;
    let b = backend.replica(clock.clone()).await;
    (backend, a, b, clock)
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_one_rate_limit() {
    let (backend, a, b, clock) = two_replicas().await;
    let charge = [RateCharge {
        scope: RateScope::Key("vk_shared".to_owned()),
        dimension: RateDimension::Requests,
        limit_per_minute: 10,
        amount: 1,
    }];
    // 30 requests spread over both replicas at once: exactly 10 pass.
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let counters = if n % 2 == 0 { a.clone() } else { b.clone() };
            let charge = charge.clone();
            tokio::spawn(async move { counters.admit_rate(&charge).await })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => passed += 1,
            Err(RateError::Limited(denied)) => assert_eq!(denied.retry_after_secs, 6),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(passed, 10);
    // Six seconds later one more fits, on either replica, and only one.
    clock.advance(6_000);
    assert!(b.admit_rate(&charge).await.is_ok());
    assert!(a.admit_rate(&charge).await.is_err());
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_one_budget() {
    let (backend, a, b, _) = two_replicas().await;
    let team = BudgetScope {
        kind: ScopeKind::Team,
        id: "core".to_owned(),
        window: Window::Month,
        limit_micro_usd: 1_000,
        warn_at_ppm: 800_000,
    };
    let on_a = a.reserve(std::slice::from_ref(&team), 700).await.unwrap();
    let on_b = b.reserve(std::slice::from_ref(&team), 200).await.unwrap();
    // B sees A's reservation: 900 of 1 000 held, past the 80 % warning.
    assert!(on_b.warnings[0].crossed);
    a.settle(on_a, 800).await.unwrap();
    b.settle(on_b, 200).await.unwrap();
    let Err(ReserveError::Denied(denied)) = b.reserve(std::slice::from_ref(&team), 1).await else {
        panic!("A and B together spent the budget");
    };
    assert_eq!(denied.spent_micro_usd, 1_000);
    assert_eq!(denied.resets_at_ms, at("2026-04-01T00:00:00Z"));
    assert!(a.reserve(std::slice::from_ref(&team), 1).await.is_err());
    let seen_by_a = a.usage(&team).await.unwrap();
    assert_eq!((seen_by_a.spent_micro_usd, seen_by_a.requests), (1_000, 2));
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_reaches_the_other_replica_within_a_second() {
    let (backend, a, b, _) = two_replicas().await;
    let mut notices = b.revocations();
    assert!(!b.is_revoked("vk_leaked"));
    let started = tokio::time::Instant::now();
    a.revoke("vk_leaked").await.unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(1), notices.recv())
        .await
        .expect("replica B heard of the revocation within 1 s")
        .unwrap();
    assert_eq!(notice, "vk_leaked");
    assert!(b.is_revoked("vk_leaked"));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!b.is_revoked("vk_other"));
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_redis_is_an_error() {
    // Nothing listens on port 1; connecting fails instead of hanging or falling back silently.
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        Counters::redis("redis://127.0.0.1:1", "x:", Arc::new(SystemClock), 0),
    )
    .await
    .expect("connecting gives up");
    assert!(matches!(outcome, Err(LimitError::Unavailable(_))));
}
