//! The admin endpoints the console reads besides the admin API's keys, spend and backends:
//!
//! * `GET /admin/v1/overview` — rates, error rate, latency and time-to-first-token percentiles
//!   over the last minute, requests in flight, open upstream streams, a 5-minute series;
//! * `GET /admin/v1/requests?after=<seq>&limit=<n>` — finished requests newer than `after`,
//!   newest first (the live list polls it with the last `seq` it saw);
//! * `GET /admin/v1/requests/{request_id}?seq=<seq>` — one request, with the request sent
//!   upstream and the events returned when `log_body` kept them;
//! * `GET /admin/v1/backends/health` — per backend: breaker per model group, recent traffic,
//!   last upstream failures;
//! * `GET /admin/v1/usage/daily?days=<n>` — cost, tokens and requests per UTC day, by key and by
//!   model, from the usage records (the spend charts).
//!
//! None of them returns a key or, without `log_body`, any prompt or completion text.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use ccp_gateway::GatewayError;
use ccp_store::{UsageSummaryRow, DAY_SECS};
use serde_json::{json, Value};

use crate::{error_response, json_response, AppState};

/// Most requests one `requests` answer lists.
pub const MAX_LIMIT: usize = 500;
/// Most days `usage/daily` covers.
pub const MAX_DAYS: i64 = 366;

/// The console's endpoints: method, path under `/admin/v1`, handler. They join the admin API's
/// routes (`crate::admin::routes`), behind its authentication, in its OpenAPI document.
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/overview", get(overview)),
        (Method::GET, "/requests", get(requests)),
        (Method::GET, "/requests/{request_id}", get(request_detail)),
        (Method::GET, "/backends/health", get(backends_health)),
        (Method::GET, "/usage/daily", get(usage_daily)),
    ]
}

/// The query's parameters, refusing unknown and repeated ones (the admin API's rule).
fn params(query: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, GatewayError> {
    crate::admin::query_params(query, allowed)
}

/// The number `name` (absent: `default`), or a 400 naming it.
fn number<T: std::str::FromStr>(
    params: &[(String, String)],
    name: &str,
    default: T,
) -> Result<T, GatewayError> {
    match crate::admin::param(params, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            crate::admin::bad_param(
                name,
                format!("`{name}` must be a non-negative integer, not {v:?}"),
            )
        }),
    }
}

fn answer(result: Result<Value, GatewayError>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}

async fn overview(State(state): State<AppState>) -> Response {
    let active = state.gateway.telemetry().metrics().active_streams();
    let overview = state.gateway.usage().overview(active);
    json_response(StatusCode::OK, &overview)
}

async fn requests(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    answer((|| {
        let params = params(query.as_deref(), &["after", "limit"])?;
        let after: u64 = number(&params, "after", 0)?;
        let limit: usize = number(&params, "limit", 100)?;
        let usage = state.gateway.usage();
        let data = usage.recent_after(after, limit.clamp(1, MAX_LIMIT));
        let last_seq = data.first().map_or(after, |r| r.seq.max(after));
        Ok(json!({"object": "list", "last_seq": last_seq, "data": data}))
    })())
}

async fn request_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer((|| {
        let params = params(query.as_deref(), &["seq"])?;
        let seq = match params.iter().any(|(k, _)| k == "seq") {
            true => Some(number(&params, "seq", 0u64)?),
            false => None,
        };
        let detail = state.gateway.usage().detail(&id, seq).ok_or_else(|| {
            GatewayError::NotFound(format!(
                "no recent request `{id}`: the console keeps the last {} requests",
                ccp_gateway::usage::RING_SIZE
            ))
        })?;
        serde_json::to_value(detail).map_err(|e| GatewayError::Internal(e.to_string()))
    })())
}

async fn backends_health(State(state): State<AppState>) -> Response {
    let data = state.gateway.backend_health();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

async fn usage_daily(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let days: i64 = match params(query.as_deref(), &["days"]).and_then(|p| number(&p, "days", 14)) {
        Ok(d) => d.clamp(1, MAX_DAYS),
        Err(e) => return error_response(&e),
    };
    let store = match crate::admin::store(&state) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let now = ccp_gateway::usage::unix_ms_now() / 1000;
    let today = now - now.rem_euclid(DAY_SECS);
    let since = today - (days - 1) * DAY_SECS;
    match store.summarize_usage(since, today + DAY_SECS).await {
        Ok(rows) => json_response(StatusCode::OK, &daily(&rows, since, days)),
        Err(e) => error_response(&crate::admin::store_failed(e)),
    }
}

/// Per-day series by key and by model: `days` (as `YYYY-MM-DD`), then for each key and model
/// its cost (micro-USD), requests and tokens per day, highest total cost first.
pub fn daily(rows: &[UsageSummaryRow], since: i64, days: i64) -> Value {
    let n = usize::try_from(days).unwrap_or(0);
    let index = |day: i64| {
        usize::try_from((day - since) / DAY_SECS)
            .ok()
            .filter(|i| *i < n)
    };
    let mut by_key: BTreeMap<String, Series> = BTreeMap::new();
    let mut by_model: BTreeMap<String, Series> = BTreeMap::new();
    for r in rows {
        let Some(i) = index(r.day) else { continue };
        let key = r.key_id.clone().unwrap_or_else(|| "(none)".to_owned());
        by_key
            .entry(key)
            .or_insert_with(|| Series::new(n))
            .add(i, r);
        by_model
            .entry(r.model.clone())
            .or_insert_with(|| Series::new(n))
            .add(i, r);
    }
    let labels: Vec<String> = (0..days)
        .map(|d| {
            ccp_governance::calendar::format_rfc3339((since + d * DAY_SECS) * 1000)
                .chars()
                .take(10)
                .collect()
        })
        .collect();
    json!({
        "days": labels,
        "by_key": ranked(by_key),
        "by_model": ranked(by_model),
    })
}

struct Series {
    cost: Vec<u64>,
    requests: Vec<u64>,
    input: Vec<u64>,
    output: Vec<u64>,
}

impl Series {
    fn new(n: usize) -> Self {
        Series {
            cost: vec![0; n],
            requests: vec![0; n],
            input: vec![0; n],
            output: vec![0; n],
        }
    }

    fn add(&mut self, i: usize, r: &UsageSummaryRow) {
        self.cost[i] += r.cost_micro_usd;
        self.requests[i] += r.requests;
        self.input[i] += r.input_tokens;
        self.output[i] += r.output_tokens;
    }
}

fn ranked(map: BTreeMap<String, Series>) -> Vec<Value> {
    let mut items: Vec<(String, Series)> = map.into_iter().collect();
    let total = |s: &Series| (s.cost.iter().sum::<u64>(), s.requests.iter().sum::<u64>());
    items.sort_by_key(|b| std::cmp::Reverse(total(&b.1)));
    items
        .into_iter()
        .map(|(name, s)| {
            json!({
                "name": name,
                "cost_micro_usd": s.cost,
                "requests": s.requests,
                "input_tokens": s.input,
                "output_tokens": s.output,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: i64, key: &str, model: &str, cost: u64) -> UsageSummaryRow {
        UsageSummaryRow {
            day,
            key_id: Some(key.to_owned()),
            model: model.to_owned(),
            requests: 1,
            input_tokens: 10,
            cached_input_tokens: 0,
            output_tokens: 5,
            reasoning_tokens: 0,
            cost_micro_usd: cost,
            cache_hits: 0,
        }
    }

    #[test]
    fn daily_series_fill_every_day_and_rank_by_cost() {
        let since = 20_000 * DAY_SECS;
        let rows = [
            row(since, "vk_a", "kimi", 5),
            row(since + 2 * DAY_SECS, "vk_b", "kimi", 50),
            row(since + 9 * DAY_SECS, "vk_b", "kimi", 1_000),
        ];
        let v = daily(&rows, since, 3);
        assert_eq!(v["days"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["by_key"][0]["name"], "vk_b");
        assert_eq!(v["by_key"][0]["cost_micro_usd"], json!([0, 0, 50]));
        assert_eq!(v["by_key"][1]["cost_micro_usd"], json!([5, 0, 0]));
        assert_eq!(v["by_model"][0]["cost_micro_usd"], json!([5, 0, 50]));
    }
}
