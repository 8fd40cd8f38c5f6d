//! The governance tables (virtual keys, spend ledger, usage records) on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

use ccp_store::{
    SpendDelta, Store, StoreError, UsageGroup, UsageQuery, UsageRecord, UsageSummaryRow,
    UsageTotal, VirtualKeyRecord, DAY_SECS,
};
use common::{with_postgres, with_sqlite};
use serde_json::json;

both!(
    virtual_keys_round_trip,
    virtual_key_revocation_is_one_way,
    spend_ledger_sums_additions,
    spend_ledger_concurrent_additions_all_land,
    usage_records_round_trip,
    spend_windows_list_every_scope_of_a_kind,
    usage_totals_group_and_sum,
    usage_batches_and_daily_summary,
);

fn key(id: &str, hash: &str) -> VirtualKeyRecord {
    VirtualKeyRecord {
        id: id.to_owned(),
        key_hash: hash.to_owned(),
        name: format!("{id} name"),
        principal: Some("alice".to_owned()),
        team: None,
        policy: json!({"models_allowed": ["kimi-*"], "rate_limits": {"rpm": 60}}),
        metadata: json!({"ticket": "OPS-1"}),
        expires_at: Some(2_000_000_000),
        revoked_at: None,
        created_at: 1_000,
    }
}

async fn virtual_keys_round_trip(store: Store) {
    let a = key("vk_a", "aa11");
    let mut b = key("vk_b", "bb22");
    b.principal = None;
    b.team = Some("core".to_owned());
    b.expires_at = None;
    b.created_at = 2_000;
    store.put_virtual_key(&a).await.unwrap();
    store.put_virtual_key(&b).await.unwrap();

    assert_eq!(
        store.virtual_key_by_hash("aa11").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.virtual_key("vk_b").await.unwrap(), Some(b.clone()));
    assert_eq!(store.virtual_key_by_hash("cc33").await.unwrap(), None);
    assert_eq!(
        store.list_virtual_keys().await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    // Neither the id nor the hash may be reused.
    assert!(matches!(
        store.put_virtual_key(&key("vk_a", "dd44")).await,
        Err(StoreError::Database(_))
    ));
    assert!(matches!(
        store.put_virtual_key(&key("vk_c", "aa11")).await,
        Err(StoreError::Database(_))
    ));

    assert!(store.delete_virtual_key("vk_a").await.unwrap());
    assert!(!store.delete_virtual_key("vk_a").await.unwrap());
    assert_eq!(store.list_virtual_keys().await.unwrap(), vec![b]);
}

async fn virtual_key_revocation_is_one_way(store: Store) {
    store.put_virtual_key(&key("vk_r", "ee55")).await.unwrap();
    assert!(store.revoke_virtual_key("vk_r", 5_000).await.unwrap());
    assert!(!store.revoke_virtual_key("vk_r", 6_000).await.unwrap());
    assert!(!store.revoke_virtual_key("vk_missing", 6_000).await.unwrap());
    let stored = store.virtual_key_by_hash("ee55").await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(5_000));
}

fn delta(kind: &str, id: &str, window: &str, start: i64, micro_usd: u64) -> SpendDelta {
    SpendDelta {
        scope_kind: kind.to_owned(),
        scope_id: id.to_owned(),
        window_kind: window.to_owned(),
        window_start: start,
        micro_usd,
        requests: 1,
    }
}

async fn spend_ledger_sums_additions(store: Store) {
    store
        .add_spend(&[
            delta("key", "vk_a", "day", 86_400, 1_500),
            delta("team", "core", "month", 0, 1_500),
        ])
        .await
        .unwrap();
    store
        .add_spend(&[delta("key", "vk_a", "day", 86_400, 2_501)])
        .await
        .unwrap();
    store
        .add_spend(&[delta("key", "vk_a", "day", 2 * 86_400, 7)])
        .await
        .unwrap();

    let row = store
        .spend("key", "vk_a", "day", 86_400)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.spent_micro_usd, row.request_count), (4_001, 2));
    assert_eq!(
        store.spend("key", "vk_a", "week", 86_400).await.unwrap(),
        None
    );
    let rows = store.list_spend("key", "vk_a").await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.window_start, r.spent_micro_usd))
            .collect::<Vec<_>>(),
        vec![(86_400, 4_001), (2 * 86_400, 7)]
    );
    let team = store.list_spend("team", "core").await.unwrap();
    assert_eq!(team.len(), 1);
    assert_eq!(team[0].spent_micro_usd, 1_500);

    // An unknown scope kind violates the table's check, and the whole batch is rolled back.
    assert!(store
        .add_spend(&[
            delta("key", "vk_a", "day", 86_400, 1),
            delta("planet", "earth", "day", 0, 1),
        ])
        .await
        .is_err());
    let row = store
        .spend("key", "vk_a", "day", 86_400)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.spent_micro_usd, 4_001);
}

async fn spend_ledger_concurrent_additions_all_land(store: Store) {
    let tasks: Vec<_> = (1..=40u64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .add_spend(&[delta("global", "", "month", 0, n)])
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let row = store
        .spend("global", "", "month", 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.spent_micro_usd, (1..=40u64).sum::<u64>());
    assert_eq!(row.request_count, 40);
}

fn usage(request_id: &str, at: i64, key_id: Option<&str>) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_owned(),
        created_at: at,
        key_id: key_id.map(str::to_owned),
        principal: Some("alice".to_owned()),
        team: Some("core".to_owned()),
        backend: "kimi".to_owned(),
        model: "kimi-k2".to_owned(),
        input_tokens: 1_200,
        cached_input_tokens: 1_000,
        output_tokens: 300,
        reasoning_tokens: 120,
        cost_micro_usd: 1_021,
        latency_ms: 2_345,
        status: "completed".to_owned(),
        cache: "bypass".to_owned(),
        fallback: 1,
    }
}

async fn usage_records_round_trip(store: Store) {
    let first = usage("req_1", 100, Some("vk_a"));
    let second = usage("req_2", 200, Some("vk_b"));
    let third = usage("req_3", 300, None);
    for record in [&first, &second, &third] {
        store.insert_usage(record).await.unwrap();
    }
    let all = UsageQuery {
        since: 0,
        until: i64::MAX,
        key_id: None,
        limit: 10,
    };
    assert_eq!(
        store.list_usage(&all).await.unwrap(),
        vec![third.clone(), second.clone(), first.clone()]
    );
    let of_a = UsageQuery {
        key_id: Some("vk_a".to_owned()),
        ..all.clone()
    };
    assert_eq!(store.list_usage(&of_a).await.unwrap(), vec![first]);
    let window = UsageQuery {
        since: 200,
        until: 300,
        ..all.clone()
    };
    assert_eq!(
        store.list_usage(&window).await.unwrap(),
        vec![second.clone()]
    );
    let one = UsageQuery { limit: 1, ..all };
    assert_eq!(store.list_usage(&one).await.unwrap(), vec![third]);
}

async fn usage_batches_and_daily_summary(store: Store) {
    let day0 = 20_000 * DAY_SECS;
    let mut batch = vec![
        usage("req_1", day0 + 10, Some("vk_a")),
        usage("req_2", day0 + 20, Some("vk_a")),
        usage("req_3", day0 + DAY_SECS + 5, Some("vk_a")),
        usage("req_4", day0 + 30, None),
    ];
    batch[1].cache = "hit".to_owned();
    batch[1].cost_micro_usd = 0;
    batch[3].model = "glm-4.6".to_owned();
    store.insert_usage_batch(&batch).await.unwrap();
    store.insert_usage_batch(&[]).await.unwrap();
    let all = UsageQuery {
        since: 0,
        until: i64::MAX,
        key_id: None,
        limit: 10,
    };
    assert_eq!(store.list_usage(&all).await.unwrap().len(), 4);
    let rows = store
        .summarize_usage(day0, day0 + 2 * DAY_SECS)
        .await
        .unwrap();
    let row = |day: i64, key: Option<&str>, model: &str, requests: u64, cost: u64, hits: u64| {
        UsageSummaryRow {
            day,
            key_id: key.map(str::to_owned),
            model: model.to_owned(),
            requests,
            input_tokens: 1_200 * requests,
            cached_input_tokens: 1_000 * requests,
            output_tokens: 300 * requests,
            reasoning_tokens: 120 * requests,
            cost_micro_usd: cost,
            cache_hits: hits,
        }
    };
    let mut expected = vec![
        row(day0, Some("vk_a"), "kimi-k2", 2, 1_021, 1),
        row(day0, None, "glm-4.6", 1, 1_021, 0),
        row(day0 + DAY_SECS, Some("vk_a"), "kimi-k2", 1, 1_021, 0),
    ];
    // NULL sorts first in SQLite and last in PostgreSQL: compare without relying on it.
    let mut got = rows.clone();
    let order = |r: &UsageSummaryRow| (r.day, r.key_id.clone(), r.model.clone());
    got.sort_by_key(order);
    expected.sort_by_key(order);
    assert_eq!(got, expected);
    let later = store
        .summarize_usage(day0 + DAY_SECS, i64::MAX)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
}

async fn spend_windows_list_every_scope_of_a_kind(store: Store) {
    store
        .add_spend(&[
            delta("key", "vk_b", "month", 1_000, 20),
            delta("key", "vk_a", "month", 1_000, 10),
            delta("key", "vk_a", "day", 1_000, 10),
            delta("key", "vk_a", "month", 5_000, 99),
            delta("team", "core", "month", 1_000, 30),
        ])
        .await
        .unwrap();
    let rows = store
        .list_spend_windows("key", "month", 1_000, 5_000)
        .await
        .unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.scope_id.as_str(), r.spent_micro_usd))
            .collect::<Vec<_>>(),
        vec![("vk_a", 10), ("vk_b", 20)]
    );
    let later = store
        .list_spend_windows("key", "month", 1_001, i64::MAX)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].spent_micro_usd, 99);
    assert!(store
        .list_spend_windows("principal", "month", 0, i64::MAX)
        .await
        .unwrap()
        .is_empty());
}

async fn usage_totals_group_and_sum(store: Store) {
    let mut rows = vec![
        usage("req_1", 86_400 + 5, Some("vk_a")),
        usage("req_2", 86_400 + 50, Some("vk_a")),
        usage("req_3", 2 * 86_400 + 1, Some("vk_b")),
        usage("req_4", 2 * 86_400 + 2, None),
    ];
    rows[1].model = "glm-5".to_owned();
    rows[1].cost_micro_usd = 9;
    for r in &rows {
        store.insert_usage(r).await.unwrap();
    }
    let total = |group: Option<&str>, requests: u64, cost: u64| UsageTotal {
        group: group.map(str::to_owned),
        requests,
        cost_micro_usd: cost,
        input_tokens: 1_200 * requests,
        output_tokens: 300 * requests,
    };
    let by_key = store
        .usage_totals(UsageGroup::Key, 0, i64::MAX)
        .await
        .unwrap();
    // NULL sorts first in SQLite and last in PostgreSQL: compare as a set.
    let mut by_key_sorted = by_key.clone();
    by_key_sorted.sort_by(|a, b| a.group.cmp(&b.group));
    assert_eq!(
        by_key_sorted,
        vec![
            total(None, 1, 1_021),
            total(Some("vk_a"), 2, 1_030),
            total(Some("vk_b"), 1, 1_021)
        ]
    );
    let by_model = store
        .usage_totals(UsageGroup::Model, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        by_model,
        vec![total(Some("glm-5"), 1, 9), total(Some("kimi-k2"), 3, 3_063)]
    );
    let by_day = store
        .usage_totals(UsageGroup::Day, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        by_day,
        vec![
            total(Some("172800"), 2, 2_042),
            total(Some("86400"), 2, 1_030)
        ]
    );
    // The range bounds rows by when they finished.
    let day_two = store
        .usage_totals(UsageGroup::Team, 2 * 86_400, 3 * 86_400)
        .await
        .unwrap();
    assert_eq!(day_two, vec![total(Some("core"), 2, 2_042)]);
}
