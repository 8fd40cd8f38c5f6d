//! `GET /admin/v1/usage?key=…&from=…&to=…&limit=…`: the store's usage records (one per
//! request), newest first, optionally of one key, finished in `[from, to)`.
//!
//! The gateway writes one record per finished request, in batches every half second
//! (`ccp_gateway::usage`), so the newest half second may not be listed yet.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccp_gateway::GatewayError;
use ccp_store::{UsageQuery, UsageRecord};
use serde_json::{json, Value};

use super::{bad_param, param, parse_time, query_params, rfc3339, usd};
use crate::{error_response, json_response, AppState};

/// Records returned when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most records one answer holds.
pub const MAX_LIMIT: u32 = 1_000;

/// The handler.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    match run(&state, query.as_deref()).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error_response(&e),
    }
}

async fn run(state: &AppState, query: Option<&str>) -> Result<Value, GatewayError> {
    let params = query_params(query, &["key", "from", "to", "limit"])?;
    let since = param(&params, "from")
        .map(|t| parse_time("from", t))
        .transpose()?
        .unwrap_or(0);
    let until = param(&params, "to")
        .map(|t| parse_time("to", t))
        .transpose()?
        .unwrap_or(i64::MAX);
    if until <= since {
        return Err(bad_param("to", "`to` must be after `from`".into()));
    }
    let limit = match param(&params, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad_param(
                    "limit",
                    format!("`limit` must be a whole number from 1 to {MAX_LIMIT}, not {text:?}"),
                ))
            }
        },
    };
    let key_id = param(&params, "key")
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let store = super::store(state)?;
    // One more than asked for says whether there are more.
    let mut rows = store
        .list_usage(&UsageQuery {
            since,
            until,
            key_id,
            limit: limit + 1,
        })
        .await
        .map_err(super::store_failed)?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let data: Vec<Value> = rows.iter().map(record_view).collect();
    Ok(json!({"object": "list", "data": data, "has_more": has_more}))
}

fn record_view(r: &UsageRecord) -> Value {
    json!({
        "request_id": r.request_id,
        "created_at": rfc3339(r.created_at),
        "key": r.key_id,
        "principal": r.principal,
        "team": r.team,
        "backend": r.backend,
        "model": r.model,
        "input_tokens": r.input_tokens,
        "cached_input_tokens": r.cached_input_tokens,
        "output_tokens": r.output_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "cost_usd": usd(r.cost_micro_usd),
        "cost_micro_usd": r.cost_micro_usd,
        "latency_ms": r.latency_ms,
        "status": r.status,
        "cache": r.cache,
        "fallback": r.fallback,
    })
}
