//! The counters' semantics, the same tests on the in-process and the Redis backend, on an
//! injected clock (windows and buckets move by setting it, never by sleeping).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use ccp_governance::calendar::Window;
use ccp_governance::clock::ManualClock;
use ccp_governance::limits::budget::{BudgetScope, ScopeKind};
use ccp_governance::limits::rate::{RateCharge, RateDimension, RateScope};
use ccp_governance::limits::{Counters, RateError, ReserveError};
use common::{at, Backend};

on_both_backends!(
    rate_burst_then_retry_after,
    rate_buckets_are_charged_all_or_none,
    rate_tokens_corrected_at_settlement,
    budget_reserve_settle_deny,
    budget_scopes_are_reserved_all_or_none,
    budget_window_rollover,
    budget_warning_crosses_once,
    budget_seeded_spend_counts,
    revocation_is_seen_and_announced,
);

fn requests(scope: RateScope, limit: u64) -> RateCharge {
    RateCharge {
        scope,
        dimension: RateDimension::Requests,
        limit_per_minute: limit,
        amount: 1,
    }
}

fn key_scope(id: &str) -> RateScope {
    RateScope::Key(id.to_owned())
}

fn budget(kind: ScopeKind, id: &str, window: Window, limit: u64) -> BudgetScope {
    BudgetScope {
        kind,
        id: id.to_owned(),
        window,
        limit_micro_usd: limit,
        warn_at_ppm: 800_000,
    }
}

async fn rate_burst_then_retry_after(_: Backend, counters: Counters, clock: Arc<ManualClock>) {
    let charge = [requests(key_scope("vk_a"), 5)];
    for n in 0..5u64 {
        let admitted = counters.admit_rate(&charge).await.unwrap();
        assert_eq!(admitted.statuses[0].remaining, 4 - n);
    }
    let Err(RateError::Limited(denied)) = counters.admit_rate(&charge).await else {
        panic!("the sixth request in a minute must be refused");
    };
    // One request frees up every 12 s.
    assert_eq!(denied.retry_after_secs, 12);
    let headers = denied.headers();
    assert!(headers.contains(&("retry-after".to_owned(), "12".to_owned())));
    assert!(headers.contains(&("x-ratelimit-remaining-requests".to_owned(), "0".to_owned())));
    assert!(headers.contains(&("x-ratelimit-limit-requests".to_owned(), "5".to_owned())));
    clock.advance(11_999);
    assert!(counters.admit_rate(&charge).await.is_err());
    clock.advance(1);
    let admitted = counters.admit_rate(&charge).await.unwrap();
    let headers = admitted.headers();
    assert!(headers.contains(&("x-ratelimit-remaining-requests".to_owned(), "0".to_owned())));
    assert!(headers.contains(&("x-ratelimit-reset-requests".to_owned(), "1m0s".to_owned())));
    // Another key has its own bucket.
    assert!(counters
        .admit_rate(&[requests(key_scope("vk_b"), 5)])
        .await
        .is_ok());
}

async fn rate_buckets_are_charged_all_or_none(_: Backend, counters: Counters, _: Arc<ManualClock>) {
    let model = RateScope::Model("kimi-k2".to_owned());
    let both = [requests(key_scope("vk_a"), 10), requests(model.clone(), 2)];
    counters.admit_rate(&both).await.unwrap();
    counters.admit_rate(&both).await.unwrap();
    let Err(RateError::Limited(denied)) = counters.admit_rate(&both).await else {
        panic!("the model allows two requests a minute");
    };
    assert_eq!(denied.scope, model);
    // The refused request did not use the key's bucket: 10 − 2 − 1 = 7 remain after one more.
    let admitted = counters
        .admit_rate(&[requests(key_scope("vk_a"), 10)])
        .await
        .unwrap();
    assert_eq!(admitted.statuses[0].remaining, 7);
}

async fn rate_tokens_corrected_at_settlement(_: Backend, counters: Counters, _: Arc<ManualClock>) {
    let tokens = |amount| {
        [RateCharge {
            scope: key_scope("vk_t"),
            dimension: RateDimension::Tokens,
            limit_per_minute: 1_000,
            amount,
        }]
    };
    let first = counters.admit_rate(&tokens(800)).await.unwrap();
    assert_eq!(first.statuses[0].remaining, 200);
    assert!(counters.admit_rate(&tokens(800)).await.is_err());
    // The request used 100 tokens, not 800: 700 come back.
    counters.settle_tokens(&first.ticket, 100).await.unwrap();
    let second = counters.admit_rate(&tokens(800)).await.unwrap();
    assert_eq!(second.statuses[0].remaining, 100);
    // Under-estimated (1 300 used of 800): the bucket goes into debt.
    counters.settle_tokens(&second.ticket, 1_300).await.unwrap();
    let Err(RateError::Limited(denied)) = counters.admit_rate(&tokens(1)).await else {
        panic!("a bucket in debt admits nothing");
    };
    // 100 + 1 300 = 1 400 tokens in the last minute at 1 000/min: the bucket is 84 s ahead, and
    // one more token (60 ms) fits after 24.06 s, rounded up to whole seconds.
    assert_eq!(denied.retry_after_secs, 25);
}

async fn budget_reserve_settle_deny(_: Backend, counters: Counters, _: Arc<ManualClock>) {
    let key = budget(ScopeKind::Key, "vk_a", Window::Day, 1_000);
    let r1 = counters
        .reserve(std::slice::from_ref(&key), 600)
        .await
        .unwrap();
    // 600 < 1 000: still admitted, though its estimate passes the limit.
    let r2 = counters
        .reserve(std::slice::from_ref(&key), 600)
        .await
        .unwrap();
    let Err(ReserveError::Denied(denied)) = counters.reserve(std::slice::from_ref(&key), 1).await
    else {
        panic!("spent + reserved = 1 200 ≥ 1 000 must refuse");
    };
    assert_eq!(denied.scope, key);
    assert_eq!(
        (denied.spent_micro_usd, denied.reserved_micro_usd),
        (0, 1_200)
    );
    assert_eq!(denied.resets_at_ms, at("2026-03-05T00:00:00Z"));
    assert_eq!(
        denied.message(),
        "the daily budget of key `vk_a` is used up; it resets at 2026-03-05T00:00:00Z"
    );
    let s1 = counters.settle(r1, 100).await.unwrap();
    assert_eq!(s1.actual_micro_usd, 100);
    // A cancelled stream settles what it used.
    counters.settle(r2, 250).await.unwrap();
    let usage = counters.usage(&key).await.unwrap();
    assert_eq!(
        (
            usage.spent_micro_usd,
            usage.reserved_micro_usd,
            usage.requests
        ),
        (350, 0, 2)
    );
    let r3 = counters
        .reserve(std::slice::from_ref(&key), 600)
        .await
        .unwrap();
    counters.settle(r3, 700).await.unwrap();
    assert_eq!(counters.usage(&key).await.unwrap().spent_micro_usd, 1_050);
    assert!(counters
        .reserve(std::slice::from_ref(&key), 1)
        .await
        .is_err());
    // A zero budget admits nothing.
    let zero = budget(ScopeKind::Key, "vk_zero", Window::Day, 0);
    assert!(matches!(
        counters.reserve(&[zero], 0).await,
        Err(ReserveError::Denied(_))
    ));
}

async fn budget_scopes_are_reserved_all_or_none(
    _: Backend,
    counters: Counters,
    _: Arc<ManualClock>,
) {
    let key = budget(ScopeKind::Key, "vk_a", Window::Month, 1_000_000);
    let team = budget(ScopeKind::Team, "core", Window::Week, 500);
    let global = budget(ScopeKind::Global, "", Window::Month, 10_000_000);
    let all = [key.clone(), team.clone(), global.clone()];
    let held = counters.reserve(&all, 400).await.unwrap();
    assert_eq!(held.scopes.len(), 3);
    assert_eq!(held.scopes[1].window_start_ms, at("2026-03-02T00:00:00Z"));
    counters.settle(held, 500).await.unwrap();
    let Err(ReserveError::Denied(denied)) = counters.reserve(&all, 400).await else {
        panic!("the team's weekly budget is used up");
    };
    assert_eq!(denied.scope.kind, ScopeKind::Team);
    assert_eq!(denied.resets_at_ms, at("2026-03-09T00:00:00Z"));
    // Nothing was reserved on the key or the global budget by the refused request.
    for scope in [&key, &global] {
        let usage = counters.usage(scope).await.unwrap();
        assert_eq!((usage.spent_micro_usd, usage.reserved_micro_usd), (500, 0));
    }
}

async fn budget_window_rollover(_: Backend, counters: Counters, clock: Arc<ManualClock>) {
    clock.set(at("2026-03-31T23:59:59Z"));
    let month = budget(ScopeKind::Principal, "alice", Window::Month, 1_000);
    let held = counters
        .reserve(std::slice::from_ref(&month), 900)
        .await
        .unwrap();
    let straddling = counters
        .reserve(std::slice::from_ref(&month), 50)
        .await
        .unwrap();
    counters.settle(held, 1_000).await.unwrap();
    let Err(ReserveError::Denied(denied)) = counters.reserve(std::slice::from_ref(&month), 1).await
    else {
        panic!("March is spent");
    };
    assert_eq!(denied.resets_at_ms, at("2026-04-01T00:00:00Z"));
    clock.set(denied.resets_at_ms - 1);
    assert!(counters
        .reserve(std::slice::from_ref(&month), 1)
        .await
        .is_err());
    clock.set(denied.resets_at_ms);
    let april = counters
        .reserve(std::slice::from_ref(&month), 10)
        .await
        .unwrap();
    assert_eq!(april.scopes[0].window_start_ms, at("2026-04-01T00:00:00Z"));
    // A request reserved in March and settled in April is charged to March (closed: the ledger
    // records it, the counter is left alone), never to April.
    let late = counters.settle(straddling, 50).await.unwrap();
    assert_eq!(late.scopes[0].window_start_ms, at("2026-03-01T00:00:00Z"));
    let usage = counters.usage(&month).await.unwrap();
    assert_eq!(
        (
            usage.spent_micro_usd,
            usage.reserved_micro_usd,
            usage.requests
        ),
        (0, 10, 0)
    );
    counters.settle(april, 10).await.unwrap();
    // Day and week windows roll at midnight and on Monday.
    clock.set(at("2026-04-05T23:00:00Z")); // a Sunday
    let week = budget(ScopeKind::Key, "vk_w", Window::Week, 10);
    counters
        .settle(
            counters
                .reserve(std::slice::from_ref(&week), 10)
                .await
                .unwrap(),
            10,
        )
        .await
        .unwrap();
    assert!(counters
        .reserve(std::slice::from_ref(&week), 1)
        .await
        .is_err());
    clock.set(at("2026-04-06T00:00:00Z"));
    assert!(counters.reserve(&[week], 1).await.is_ok());
}

async fn budget_warning_crosses_once(_: Backend, counters: Counters, _: Arc<ManualClock>) {
    let team = budget(ScopeKind::Team, "core", Window::Day, 1_000);
    let r1 = counters
        .reserve(std::slice::from_ref(&team), 700)
        .await
        .unwrap();
    assert!(r1.warnings.is_empty());
    let r2 = counters
        .reserve(std::slice::from_ref(&team), 150)
        .await
        .unwrap();
    assert_eq!(r2.warnings.len(), 1);
    assert!(r2.warnings[0].crossed);
    assert_eq!(r2.warnings[0].used_ppm, 850_000);
    assert_eq!(r2.warnings[0].header_value(), "team:core:85");
    // Settling below the estimates falls back under the threshold: no warning.
    let s1 = counters.settle(r1, 100).await.unwrap();
    assert!(s1.warnings.is_empty(), "{:?}", s1.warnings);
    // Settling above crosses again (once more, after falling back).
    let s2 = counters.settle(r2, 750).await.unwrap();
    assert_eq!(s2.warnings.len(), 1);
    assert!(s2.warnings[0].crossed);
    let r3 = counters
        .reserve(std::slice::from_ref(&team), 10)
        .await
        .unwrap();
    assert!(!r3.warnings[0].crossed);
    counters.settle(r3, 10).await.unwrap();
}

async fn budget_seeded_spend_counts(_: Backend, counters: Counters, _: Arc<ManualClock>) {
    let key = budget(ScopeKind::Key, "vk_s", Window::Month, 1_000);
    counters.seed_spent(&key, 900).await.unwrap();
    // Seeding never lowers what is there.
    counters.seed_spent(&key, 100).await.unwrap();
    assert_eq!(counters.usage(&key).await.unwrap().spent_micro_usd, 900);
    let held = counters
        .reserve(std::slice::from_ref(&key), 200)
        .await
        .unwrap();
    assert!(counters
        .reserve(std::slice::from_ref(&key), 1)
        .await
        .is_err());
    counters.settle(held, 0).await.unwrap();
    assert!(counters.reserve(&[key], 1).await.is_ok());
}

async fn revocation_is_seen_and_announced(
    backend: Backend,
    counters: Counters,
    clock: Arc<ManualClock>,
) {
    let mut notices = counters.revocations();
    assert!(!counters.is_revoked("vk_gone"));
    counters.revoke("vk_gone").await.unwrap();
    // The replica that revoked knows at once.
    assert!(counters.is_revoked("vk_gone"));
    assert!(!counters.is_revoked("vk_other"));
    let notice = tokio::time::timeout(std::time::Duration::from_secs(1), notices.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice, "vk_gone");
    // A replica started later learns of earlier revocations at start.
    let later = backend.replica(clock).await;
    assert!(later.is_revoked("vk_gone"));
}
