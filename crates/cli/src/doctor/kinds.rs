//! Probes of the upstream kinds other than chat: a `responses` backend gets one minimal
//! Responses request (and, after a 404, a Chat Completions probe that tells a Chat-only server
//! apart from a wrong path); a `codex` backend gets its Codex login checked (missing, logged
//! out, expired without a refresh token) and its host reached, without spending the plan on a
//! request.

use std::path::Path;
use std::time::SystemTime;

use ccp_gateway::codex_auth::{inspect, AccessExpiry};
use ccp_gateway::config::Backend;
use ccp_gateway::redact::Redactor;
use serde_json::{json, Value};

use super::backend::{error_message, post, Answer};
use super::{quote, Check};

/// Probes a Responses backend at `responses_url` (`{url}/responses`).
pub(super) async fn probe_responses(
    id: &str,
    backend: &Backend,
    responses_url: &str,
    client: &reqwest::Client,
    redactor: &Redactor,
    key_env: &str,
) -> Check {
    let model = &backend.model;
    let body = json!({"model": model, "input": "ping", "max_output_tokens": 16, "store": false});
    let Probed { status, json, said } =
        match probe_request(id, responses_url, backend, &body, client, redactor).await {
            Ok(p) => p,
            Err(failed) => return failed,
        };
    match status {
        200..=299 if json.as_ref().and_then(|j| j.get("object")).and_then(Value::as_str) == Some("response") => {
            Check::ok(id, format!("OK — `{model}` answered at {responses_url} (Responses API, HTTP {status})"))
        }
        200..=299 => Check::fail(
            id,
            format!("{responses_url} answered HTTP {status} but not with a Responses body: {said}"),
            "point `url` at the API base of a Responses API (the part before /responses)",
        ),
        401 | 403 => Check::fail(
            id,
            format!("wrong API key — {responses_url} answered {status}: {said}"),
            format!("check {key_env}: it must hold a valid key for this upstream (Azure OpenAI also needs \"auth_header\": \"api-key\")"),
        ),
        404 | 405 => chat_only_or_wrong_path(id, backend, responses_url, status, client).await,
        429 => Check::warn(
            id,
            format!("reachable and the key was accepted, but it is rate limited (429): {said}"),
            "wait, or check the account's quota with the provider",
        ),
        400 | 422 => Check::warn(
            id,
            format!("reachable and the key was accepted, but the probe request was rejected ({status}): {said}"),
            "usually harmless (the probe asks for a 16-token answer); check the backend `model` if real requests fail too",
        ),
        _ => Check::fail(
            id,
            format!("{responses_url} answered HTTP {status}: {said}"),
            "the upstream reports an error; check its status, the url and the key",
        ),
    }
}

/// A probe's answer: its status, its JSON (if any) and its error text, quoted and redacted.
pub(super) struct Probed {
    pub(super) status: u16,
    pub(super) json: Option<Value>,
    pub(super) said: String,
}

/// POSTs one probe request; a transport failure is already the failed check.
pub(super) async fn probe_request(
    id: &str,
    url: &str,
    backend: &Backend,
    body: &Value,
    client: &reqwest::Client,
    redactor: &Redactor,
) -> Result<Probed, Check> {
    match post(client, url, backend, body).await {
        Answer::Status { status, body, .. } => {
            let json: Option<Value> = serde_json::from_str(&body).ok();
            let said = quote(
                redactor,
                &json.as_ref().and_then(error_message).unwrap_or(body),
            );
            Ok(Probed { status, json, said })
        }
        Answer::Transport { detail, .. } => Err(Check::fail(
            id,
            format!("request to {url} failed: {}", quote(redactor, &detail)),
            "check the backend `url` (and that the server speaks https when the url says so)",
        )),
    }
}

/// After a 404 on `/responses`: a server that only serves Chat Completions, or a wrong path.
async fn chat_only_or_wrong_path(
    id: &str,
    backend: &Backend,
    responses_url: &str,
    status: u16,
    client: &reqwest::Client,
) -> Check {
    let base = responses_url
        .strip_suffix("/responses")
        .unwrap_or(responses_url);
    let chat_url = format!("{base}/chat/completions");
    let ping = json!({"model": backend.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
    if let Answer::Status { status: s, .. } = post(client, &chat_url, backend, &ping).await {
        if s != 404 && s != 405 {
            return Check::fail(
                id,
                format!("protocol mismatch — {responses_url} answered {status}, but {chat_url} is served: this upstream speaks only Chat Completions"),
                "set \"protocol\": \"chat\" on this backend (the proxy then converts Codex's requests to Chat Completions)",
            );
        }
    }
    Check::fail(
        id,
        format!("wrong path — {responses_url} answered {status} (the proxy appends /responses to `url`)"),
        "set `url` to the API base, the part before /responses (often ending in /v1)",
    )
}

/// The Codex login of a `codex` backend: `Some(failure)` when it cannot work (a missing,
/// unreadable or logged-out file, a login without a refresh token — an expired token could not
/// be refreshed — or a refresh token the token endpoint already refused).
pub(super) fn codex_login(id: &str, auth_file: &Path) -> Option<Check> {
    let status = inspect(auth_file, SystemTime::now());
    if !status.loaded {
        let problem = status
            .problem
            .unwrap_or_else(|| format!("{} holds no ChatGPT login", auth_file.display()));
        return Some(Check::fail(
            id,
            format!("no usable Codex login — {problem}"),
            format!(
                "run `codex login` (with CODEX_HOME pointing at {}), or set the backend's `auth_file`",
                auth_file
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(problem) = status.problem {
        return Some(Check::fail(
            id,
            format!(
                "the Codex login in {} cannot be used — {problem}",
                auth_file.display()
            ),
            "run `codex login` again",
        ));
    }
    None
}

/// A `codex` backend whose login is usable and whose host answers TCP.
pub(super) fn codex_reachable(id: &str, auth_file: &Path, url: &str) -> Check {
    let status = inspect(auth_file, SystemTime::now());
    let token = match status.access_token {
        Some(AccessExpiry::ExpiredSecsAgo(_)) => {
            "the access token has expired; the proxy refreshes it at the first request".to_owned()
        }
        Some(expiry) => format!("the access token {expiry}"),
        None => "the access token's expiry is unknown".to_owned(),
    };
    if !status.account_id_present {
        return Check::warn(
            id,
            format!("Codex login in {} loaded, but it names no ChatGPT account id ({token})", auth_file.display()),
            "run `codex login` again so the file records the account (the backend may refuse requests without it)",
        );
    }
    Check::ok(
        id,
        format!(
            "OK — Codex login in {} ({token}); {url} is reachable (not called: a probe would spend the plan)",
            auth_file.display()
        ),
    )
}
