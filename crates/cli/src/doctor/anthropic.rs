//! The probe of an `anthropic` backend: one minimal Messages request (`max_tokens: 1`) with the
//! kind's headers (the dialect's key header and `anthropic-version`), classified as OK, wrong
//! key, wrong path (with a hint when `url` ends in `/v1`, usually an OpenAI-style base), a
//! protocol mismatch (the server answers Chat Completions instead), model not found or rate
//! limited.

use ccp_gateway::config::Backend;
use ccp_gateway::redact::Redactor;
use ccp_providers::anthropic_dialect::AnthropicDialect;
use serde_json::{json, Value};

use super::backend::{post, Answer};
use super::kinds::{probe_request, Probed};
use super::Check;

/// Probes an Anthropic Messages backend at `messages_url`.
pub(super) async fn probe_anthropic(
    id: &str,
    backend: &Backend,
    messages_url: &str,
    client: &reqwest::Client,
    redactor: &Redactor,
    key_env: &str,
) -> Check {
    let model = &backend.model;
    let body = json!({"model": model, "max_tokens": 1,
                      "messages": [{"role": "user", "content": "ping"}]});
    let Probed { status, json, said } =
        match probe_request(id, messages_url, backend, &body, client, redactor).await {
            Ok(p) => p,
            Err(failed) => return failed,
        };
    let error_type = json
        .as_ref()
        .and_then(|j| j.pointer("/error/type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let dialect = AnthropicDialect::for_provider(backend.profile.id());
    match status {
        200..=299 if json.as_ref().and_then(|j| j.get("type")).and_then(Value::as_str) == Some("message") => {
            Check::ok(id, format!("OK — `{model}` answered at {messages_url} (Messages API, HTTP {status})"))
        }
        200..=299 => Check::fail(
            id,
            format!("{messages_url} answered HTTP {status} but not with a Messages body: {said}"),
            "point `url` at the Anthropic-compatible base (the proxy appends /v1/messages)",
        ),
        401 | 403 => Check::fail(
            id,
            format!("wrong API key — {messages_url} answered {status} (key sent as {}): {said}", dialect.auth.header_name()),
            format!("check {key_env}: it must hold a valid key for this endpoint (set `provider` if this is another provider's Anthropic-compatible endpoint, so the key goes in the header it reads)"),
        ),
        404 if error_type == "not_found_error" && said.to_ascii_lowercase().contains("model") => {
            model_not_found(id, model, status, &said)
        }
        400 | 404 if said.to_ascii_lowercase().contains(&model.to_ascii_lowercase()) && !model.is_empty() => {
            model_not_found(id, model, status, &said)
        }
        404 | 405 => chat_or_wrong_path(id, backend, messages_url, status, client, dialect).await,
        429 => Check::warn(
            id,
            format!("reachable and the key was accepted, but it is rate limited (429): {said}"),
            "wait, or check the account's rate limits and quota with the provider",
        ),
        400 | 422 => Check::warn(
            id,
            format!("reachable and the key was accepted, but the probe request was rejected ({status}): {said}"),
            "usually harmless (the probe asks for a 1-token answer); check the backend `model` if real requests fail too",
        ),
        _ => Check::fail(
            id,
            format!("{messages_url} answered HTTP {status}: {said}"),
            "the upstream reports an error (529: overloaded); check its status, the url and the key",
        ),
    }
}

fn model_not_found(id: &str, model: &str, status: u16, said: &str) -> Check {
    Check::fail(
        id,
        format!("model not found — the upstream does not know `{model}` ({status}): {said}"),
        format!("set the backend `model` to a model id this endpoint serves, not `{model}`"),
    )
}

/// After a 404 on the Messages endpoint: a Chat Completions server, or a wrong path.
async fn chat_or_wrong_path(
    id: &str,
    backend: &Backend,
    messages_url: &str,
    status: u16,
    client: &reqwest::Client,
    dialect: &AnthropicDialect,
) -> Check {
    let base = backend.url.as_deref().unwrap_or("").trim_end_matches('/');
    let chat_url = if base.ends_with("/v1") {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    };
    let ping = json!({"model": backend.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
    if let Answer::Status { status: s, .. } = post(client, &chat_url, backend, &ping).await {
        if s != 404 && s != 405 {
            return Check::fail(
                id,
                format!("protocol mismatch — {messages_url} answered {status}, but {chat_url} is served: this url speaks Chat Completions, not the Messages API"),
                format!("set \"protocol\": \"chat\" on this backend with this url, or keep \"anthropic\" and use the provider's Anthropic-compatible base (e.g. {})", dialect.base_urls.join(", ")),
            );
        }
    }
    let fix = if base.ends_with("/v1") {
        format!("`url` ends in /v1, which is usually an OpenAI-style base; the proxy appends /v1/messages to `url` (only /messages after a /v1) — use the Anthropic-compatible base, e.g. {}", dialect.base_urls.join(", "))
    } else {
        format!(
            "set `url` to the Anthropic-compatible base, the part before /v1/messages (e.g. {})",
            dialect.base_urls.join(", ")
        )
    };
    Check::fail(
        id,
        format!("wrong path — {messages_url} answered {status} (the proxy appends /v1/messages to `url`)"),
        fix,
    )
}
