//! Budgets end to end: counters (in-process or Redis) settling into the spend ledger of a real
//! database (SQLite or PostgreSQL), keys stored by hash, and prices that add up exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use ccp_governance::calendar::Window;
use ccp_governance::clock::ManualClock;
use ccp_governance::config::validate_virtual_keys;
use ccp_governance::keys::secret::{generate_key, generate_key_id, KeyHasher};
use ccp_governance::keys::{KeyPolicy, VirtualKey};
use ccp_governance::ledger::{record_settlement, seed_from_ledger};
use ccp_governance::limits::budget::{BudgetScope, ScopeKind};
use ccp_governance::limits::{Counters, ReserveError};
use ccp_governance::pricing::{PriceTable, TokenUsage};
use ccp_store::{Store, UsageQuery, UsageRecord};
use common::store::{with_postgres, with_sqlite};
use common::Backend;
use secrecy::ExposeSecret;

/// `name(Backend, Counters, Arc<ManualClock>, Store)` on each backend × database.
macro_rules! on_backends_and_databases {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            const START: &str = "2026-03-04T12:00:00Z";
            #[tokio::test(flavor = "multi_thread")]
            async fn memory_sqlite() {
                crate::common::store::with_sqlite(|store| crate::common::run(false, START, |b, c, k| super::$name(b, c, k, store))).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn memory_postgres() {
                crate::common::store::with_postgres(|store| crate::common::run(false, START, |b, c, k| super::$name(b, c, k, store))).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn redis_sqlite() {
                crate::common::store::with_sqlite(|store| crate::common::run(true, START, |b, c, k| super::$name(b, c, k, store))).await;
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn redis_postgres() {
                crate::common::store::with_postgres(|store| crate::common::run(true, START, |b, c, k| super::$name(b, c, k, store))).await;
            }
        })*
    };
}

on_backends_and_databases!(
    concurrent_reservations_settle_into_the_ledger,
    ledger_seeds_fresh_counters
);

fn scope(kind: ScopeKind, id: &str, limit: u64) -> BudgetScope {
    BudgetScope {
        kind,
        id: id.to_owned(),
        window: Window::Day,
        limit_micro_usd: limit,
        warn_at_ppm: 800_000,
    }
}

/// One simulated request: its estimate and actual cost, or `None` when refused.
async fn one_request(
    counters: Counters,
    store: Store,
    scopes: Vec<BudgetScope>,
    n: u64,
) -> Option<(u64, u64)> {
    let prices = PriceTable::builtin();
    let input = 1_000 + n * 13 % 2_000;
    let usage = TokenUsage {
        input,
        cached_input: input * (n % 3) / 4,
        output: n * 7 % 500,
        reasoning: n % 50,
    };
    // Worst case (no cache, 500 output tokens); every fourth request under-estimates by half.
    let worst = TokenUsage {
        input,
        cached_input: 0,
        output: 500,
        reasoning: 0,
    };
    let mut estimate = prices.cost_micro_usd("kimi-k2", &worst).unwrap();
    if n.is_multiple_of(4) {
        estimate /= 2;
    }
    let reservation = match counters.reserve(&scopes, estimate).await {
        Ok(r) => r,
        Err(ReserveError::Denied(_)) => return None,
        Err(e) => panic!("{e}"),
    };
    tokio::task::yield_now().await;
    let actual = prices.cost_micro_usd("kimi-k2", &usage).unwrap();
    let settlement = counters.settle(reservation, actual).await.unwrap();
    record_settlement(&store, &settlement).await.unwrap();
    store
        .insert_usage(&UsageRecord {
            request_id: format!("req_{n}"),
            created_at: 1_772_625_600,
            key_id: Some("vk_c".to_owned()),
            principal: None,
            team: Some("core".to_owned()),
            backend: "kimi".to_owned(),
            model: "kimi-k2".to_owned(),
            input_tokens: usage.input,
            cached_input_tokens: usage.cached_input,
            output_tokens: usage.output,
            reasoning_tokens: usage.reasoning,
            cost_micro_usd: actual,
            latency_ms: 1,
            status: "completed".to_owned(),
            cache: "bypass".to_owned(),
            fallback: 0,
        })
        .await
        .unwrap();
    Some((estimate, actual))
}

async fn concurrent_reservations_settle_into_the_ledger(
    backend: Backend,
    counters: Counters,
    clock: Arc<ManualClock>,
    store: Store,
) {
    const LIMIT: u64 = 20_000;
    let scopes = vec![
        scope(ScopeKind::Key, "vk_c", LIMIT),
        scope(ScopeKind::Team, "core", 1_000_000_000),
        scope(ScopeKind::Global, "", 1_000_000_000),
    ];
    // With Redis, half the requests go through a second replica. First 200 at once; then waves
    // of 20 until a whole wave is refused, which happens only once nothing is reserved and the
    // spend alone reached the limit.
    let other = backend.replica(clock).await;
    let mut admitted = Vec::new();
    let mut n = 0u64;
    for wave in 0..100 {
        let size = if wave == 0 { 200 } else { 20 };
        let tasks: Vec<_> = (n..n + size)
            .map(|n| {
                let counters = if n % 2 == 0 {
                    counters.clone()
                } else {
                    other.clone()
                };
                tokio::spawn(one_request(counters, store.clone(), scopes.clone(), n))
            })
            .collect();
        n += size;
        let before = admitted.len();
        for task in tasks {
            admitted.extend(task.await.unwrap());
        }
        if wave > 0 && admitted.len() == before {
            break;
        }
    }
    let count = admitted.len() as u64;
    assert!(
        count > 0 && count < n,
        "{count} of {n} admitted: the budget must bind"
    );
    let spent: u64 = admitted.iter().map(|(_, actual)| actual).sum();
    let max_estimate = admitted.iter().map(|(e, _)| *e).max().unwrap();
    let beyond: u64 = admitted.iter().map(|(e, a)| a.saturating_sub(*e)).sum();
    assert!(
        spent >= LIMIT,
        "a whole wave was refused below the limit: {spent}"
    );
    assert!(
        spent < LIMIT + max_estimate + beyond,
        "overshoot {} past the bound {max_estimate} + {beyond}",
        spent - LIMIT
    );
    for s in &scopes {
        let usage = counters.usage(s).await.unwrap();
        assert_eq!(
            (
                usage.spent_micro_usd,
                usage.reserved_micro_usd,
                usage.requests
            ),
            (spent, 0, count),
            "{:?}",
            s.kind
        );
        let held = counters.current_window(s);
        let row = store
            .spend(s.kind.as_str(), &s.id, "day", held.window_start_ms / 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((row.spent_micro_usd, row.request_count), (spent, count));
    }
    let usage = store
        .list_usage(&UsageQuery {
            since: 0,
            until: i64::MAX,
            key_id: Some("vk_c".to_owned()),
            limit: 1_000,
        })
        .await
        .unwrap();
    assert_eq!(usage.len() as u64, count);
    assert_eq!(usage.iter().map(|u| u.cost_micro_usd).sum::<u64>(), spent);
}

async fn ledger_seeds_fresh_counters(
    backend: Backend,
    counters: Counters,
    clock: Arc<ManualClock>,
    store: Store,
) {
    let key = scope(ScopeKind::Key, "vk_seed", 1_000);
    let held = counters
        .reserve(std::slice::from_ref(&key), 10)
        .await
        .unwrap();
    let settlement = counters.settle(held, 950).await.unwrap();
    record_settlement(&store, &settlement).await.unwrap();
    // Counters that lost their state (a restart; another prefix for Redis) start at zero…
    let fresh = match backend {
        Backend::Memory(_) => Counters::in_process(clock.clone(), 0),
        Backend::Redis { .. } => Backend::redis(clock.clone()).await.1,
    };
    assert_eq!(fresh.usage(&key).await.unwrap().spent_micro_usd, 0);
    // …until seeded from the ledger.
    seed_from_ledger(&fresh, &store, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(fresh.usage(&key).await.unwrap().spent_micro_usd, 950);
    let held = fresh
        .reserve(std::slice::from_ref(&key), 100)
        .await
        .unwrap();
    assert!(fresh.reserve(std::slice::from_ref(&key), 1).await.is_err());
    fresh.settle(held, 0).await.unwrap();
}

/// Prices in integers: a hand-computed cost, and a ledger that holds exactly the sum of 1 000
/// per-request costs, each rounded up once.
#[tokio::test(flavor = "multi_thread")]
async fn pricing_is_exact_in_integers() {
    let prices = PriceTable::builtin();
    let usage = TokenUsage {
        input: 1_234_567,
        cached_input: 234_567,
        output: 89_012,
        reasoning: 12_000,
    };
    // 1 000 000 × 0.60 + 234 567 × 0.15 + 89 012 × 2.50 = 600 000 + 35 185.05 + 222 530
    // = 857 715.05 µUSD, rounded up once: 857 716.
    assert_eq!(prices.cost_micro_usd("kimi-k2", &usage), Some(857_716));
    let small = TokenUsage {
        input: 3,
        cached_input: 0,
        output: 1,
        reasoning: 0,
    };
    // 3 × 0.28 + 1 × 0.42 = 1.26 → 2 µUSD per request.
    let each = prices.cost_micro_usd("deepseek-chat", &small).unwrap();
    assert_eq!(each, 2);
    let run = |store: Store| async move {
        let clock = Arc::new(ManualClock::new(common::at("2026-03-04T12:00:00Z")));
        let counters = Counters::in_process(clock, 0);
        let global = scope(ScopeKind::Global, "", u64::MAX);
        for _ in 0..1_000 {
            let held = counters
                .reserve(std::slice::from_ref(&global), 5)
                .await
                .unwrap();
            let settled = counters.settle(held, each).await.unwrap();
            record_settlement(&store, &settled).await.unwrap();
        }
        let start = counters.current_window(&global).window_start_ms / 1_000;
        let row = store
            .spend("global", "", "day", start)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((row.spent_micro_usd, row.request_count), (2_000, 1_000));
    };
    with_sqlite(run).await;
    with_postgres(run).await;
}

async fn keys_persist_by_hash(store: Store) {
    let hasher = KeyHasher::from_store(&store).await.unwrap();
    // Another replica reading the same store hashes the same way.
    let again = KeyHasher::from_store(&store).await.unwrap();
    let secret = generate_key().unwrap();
    let hash = hasher.hash(secret.expose_secret());
    assert_eq!(again.hash(secret.expose_secret()), hash);
    let key = VirtualKey {
        id: generate_key_id().unwrap(),
        name: "ci".to_owned(),
        principal: Some("bot".to_owned()),
        team: Some("infra".to_owned()),
        policy: KeyPolicy {
            models_allowed: Some(vec!["glm-*".to_owned()]),
            ..KeyPolicy::default()
        },
        expires_at: None,
        metadata: serde_json::Map::new(),
        revoked_at: None,
        created_at: 1_772_625_600,
    };
    store
        .put_virtual_key(&key.to_record(&hash).unwrap())
        .await
        .unwrap();
    let found = store
        .virtual_key_by_hash(&again.hash(secret.expose_secret()))
        .await
        .unwrap();
    let found = VirtualKey::from_record(found.unwrap()).unwrap();
    assert_eq!(found, key);
    assert!(hasher.verify(secret.expose_secret(), &hash));
    // The secret itself is nowhere in the row.
    let record = store.virtual_key(&key.id).await.unwrap().unwrap();
    assert!(!format!("{record:?}").contains(secret.expose_secret()));
    // Configured keys hash with the same hasher.
    let configs: Vec<ccp_governance::config::VirtualKeyConfig> =
        serde_json::from_value(serde_json::json!([
            {"name": "cfg", "key": "sk-ccp-configured-0123456789"}
        ]))
        .unwrap();
    let configured = validate_virtual_keys(&configs, &again).unwrap();
    assert_eq!(
        configured[0].key_hash,
        hasher.hash("sk-ccp-configured-0123456789")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_persist_by_hash_sqlite() {
    with_sqlite(keys_persist_by_hash).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_persist_by_hash_postgres() {
    with_postgres(keys_persist_by_hash).await;
}
