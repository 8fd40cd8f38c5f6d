//! `GET /admin/v1/spend?group_by=key|principal|team|model|day&window=day|week|month&at=…`:
//! what was spent in one calendar window (UTC; the one holding `at`, default now), per group.
//!
//! Two sources, each a lower bound of the true spend:
//! * the spend ledger, written on every settled request — but only for the scopes a budget
//!   covers (a key's spend is there when the key, or a top-level budget, has a `key`… budget of
//!   that window; per day in total only with a top-level daily `global` budget), and never per
//!   model;
//! * the usage records, one per finished request with its cost, written by the gateway in
//!   batches (`ccp_gateway::usage`) — complete but for the last half second.
//!
//! Each row is the larger of the two for its group and says which (`source`). `model` groups
//! come from usage records only.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccp_gateway::GatewayError;
use ccp_governance::calendar::Window;
use ccp_store::UsageGroup;
use serde_json::{json, Value};

use super::{bad_param, param, parse_time, query_params, rfc3339, usd};
use crate::{error_response, json_response, AppState};

/// The handler.
pub async fn report(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    match run(&state, query.as_deref()).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}

/// One group's figures and where they came from.
struct Row {
    micro_usd: u64,
    requests: u64,
    source: &'static str,
    tokens: Option<(u64, u64)>,
}

fn parse_group(text: Option<&str>) -> Result<UsageGroup, GatewayError> {
    Ok(match text.unwrap_or("key") {
        "key" => UsageGroup::Key,
        "principal" => UsageGroup::Principal,
        "team" => UsageGroup::Team,
        "model" => UsageGroup::Model,
        "day" => UsageGroup::Day,
        other => {
            return Err(bad_param(
                "group_by",
                format!("`group_by` is one of key, principal, team, model, day — not {other:?}"),
            ))
        }
    })
}

fn parse_window(text: Option<&str>) -> Result<Window, GatewayError> {
    Ok(match text.unwrap_or("month") {
        "day" => Window::Day,
        "week" => Window::Week,
        "month" => Window::Month,
        other => {
            return Err(bad_param(
                "window",
                format!("`window` is one of day, week, month — not {other:?}"),
            ))
        }
    })
}

fn group_name(group: UsageGroup) -> &'static str {
    match group {
        UsageGroup::Key => "key",
        UsageGroup::Principal => "principal",
        UsageGroup::Team => "team",
        UsageGroup::Model => "model",
        UsageGroup::Day => "day",
    }
}

/// A UTC day's first second as its date.
fn day_label(secs: i64) -> String {
    rfc3339(secs).chars().take(10).collect()
}

async fn run(state: &AppState, query: Option<&str>) -> Result<Value, GatewayError> {
    let params = query_params(query, &["group_by", "window", "at"])?;
    let group = parse_group(param(&params, "group_by"))?;
    let window = parse_window(param(&params, "window"))?;
    let at = match param(&params, "at") {
        Some(t) => parse_time("at", t)?,
        None => super::now_secs(),
    };
    let bounds = window.bounds(at.saturating_mul(1_000), 0);
    let (from, to) = (bounds.start_ms / 1_000, bounds.end_ms / 1_000);
    let store = super::store(state)?;

    let mut rows: BTreeMap<Option<String>, Row> = BTreeMap::new();
    let totals = store
        .usage_totals(group, from, to)
        .await
        .map_err(super::store_failed)?;
    for t in totals {
        let label = match group {
            UsageGroup::Day => t.group.and_then(|s| s.parse::<i64>().ok()).map(day_label),
            _ => t.group,
        };
        rows.insert(
            label,
            Row {
                micro_usd: t.cost_micro_usd,
                requests: t.requests,
                source: "usage_records",
                tokens: Some((t.input_tokens, t.output_tokens)),
            },
        );
    }
    let ledger = match group {
        UsageGroup::Key => Some(("key", window.as_str())),
        UsageGroup::Principal => Some(("principal", window.as_str())),
        UsageGroup::Team => Some(("team", window.as_str())),
        UsageGroup::Day => Some(("global", "day")),
        UsageGroup::Model => None,
    };
    if let Some((scope_kind, window_kind)) = ledger {
        let ledger_rows = store
            .list_spend_windows(scope_kind, window_kind, from, to)
            .await
            .map_err(super::store_failed)?;
        for r in ledger_rows {
            let label = match group {
                UsageGroup::Day => day_label(r.window_start),
                _ => r.scope_id,
            };
            let entry = rows.entry(Some(label));
            let larger = |existing: &Row| r.spent_micro_usd > existing.micro_usd;
            let from_ledger = Row {
                micro_usd: r.spent_micro_usd,
                requests: r.request_count,
                source: "ledger",
                tokens: None,
            };
            match entry {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(from_ledger);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    if larger(o.get()) {
                        o.insert(from_ledger);
                    }
                }
            }
        }
    }

    let names = if group == UsageGroup::Key {
        key_names(state).await
    } else {
        BTreeMap::new()
    };
    let mut data: Vec<(Option<String>, Row)> = rows.into_iter().collect();
    if group != UsageGroup::Day {
        data.sort_by(|a, b| b.1.micro_usd.cmp(&a.1.micro_usd).then(a.0.cmp(&b.0)));
    }
    let total: u64 = data.iter().map(|(_, r)| r.micro_usd).sum();
    let data: Vec<Value> = data
        .into_iter()
        .map(|(label, r)| {
            let name = label.as_ref().and_then(|id| names.get(id)).cloned();
            let mut v = json!({
                "group": label,
                "spend_usd": usd(r.micro_usd),
                "spend_micro_usd": r.micro_usd,
                "requests": r.requests,
                "source": r.source,
            });
            if let Some((input, output)) = r.tokens {
                v["input_tokens"] = json!(input);
                v["output_tokens"] = json!(output);
            }
            if let Some(name) = name {
                v["name"] = json!(name);
            }
            v
        })
        .collect();
    Ok(json!({
        "object": "list",
        "group_by": group_name(group),
        "window": window.as_str(),
        "from": rfc3339(from),
        "to": rfc3339(to),
        "total_usd": usd(total),
        "data": data,
    }))
}

/// Key id → name, for labelling `group_by=key` rows (unknown ids stay unnamed).
async fn key_names(state: &AppState) -> BTreeMap<String, String> {
    let keys = state
        .gateway
        .governor()
        .list_keys()
        .await
        .unwrap_or_default();
    keys.iter()
        .filter_map(|k| Some((k["id"].as_str()?.to_owned(), k["name"].as_str()?.to_owned())))
        .collect()
}
