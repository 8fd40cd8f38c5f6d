//! `GET /admin/v1/backends`: each configured backend — name, kind, provider profile, upstream
//! URL (without credentials), the models it serves, how requests reach it, and the model groups
//! it belongs to. This is the configuration only: live health (breakers, recent failures) is
//! `GET /admin/v1/backends/health` (`crate::console::api`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ccp_gateway::config::{Backend, Config};
use serde_json::{json, Value};

use crate::{json_response, AppState};

/// The handler.
pub async fn list(State(state): State<AppState>) -> Response {
    let config = state.gateway.config();
    let data: Vec<Value> = config
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| backend_view(config, i, b))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

fn backend_view(config: &Config, index: usize, b: &Backend) -> Value {
    let rules = &b.match_rules;
    let mut models = vec![b.model.clone()];
    models.extend(b.models.iter().filter(|m| **m != b.model).cloned());
    let groups: Vec<&str> = config
        .model_groups
        .iter()
        .filter(|g| g.backends.contains(&index))
        .map(|g| g.model.as_str())
        .collect();
    json!({
        "name": b.name,
        "kind": b.protocol.as_str(),
        "provider": b.profile.id().as_str(),
        "url": b.endpoint_url().map(|u| without_credentials(&u)),
        "models": models,
        "has_api_key": b.api_key.is_some(),
        "match_rules": {
            "path_prefix": rules.path_prefix,
            "models": rules.models,
            "header": rules.header.as_ref().map(|h| h.name.as_str()),
            "default": rules.default,
        },
        "model_groups": groups,
        "context_window": b.context_window,
        "max_retries": b.max_retries,
    })
}

/// `url` without any userinfo (`https://user:secret@host/…` → `https://host/…`) or query.
pub fn without_credentials(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_and_query() {
        assert_eq!(
            without_credentials("https://user:s3cret@api.example.com/v1/chat/completions?k=v"),
            "https://api.example.com/v1/chat/completions"
        );
        assert_eq!(
            without_credentials("https://token@api.example.com"),
            "https://api.example.com"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:9/v1/responses"),
            "http://127.0.0.1:9/v1/responses"
        );
    }
}
