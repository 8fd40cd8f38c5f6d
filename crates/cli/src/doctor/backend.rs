//! Backend probes: for every non-mock backend, DNS → TCP → TLS → one minimal request in the
//! backend's own protocol, classified into one of the outcomes a user can act on. Chat backends
//! are probed here; `responses` and `codex` backends in [`super::kinds`].
//!
//! Invariants: at most four small requests per backend (the probe, and after a 404 a probe of
//! the other protocol and a `/v1` guess); the key goes only into the header its kind uses.

use std::time::{Duration, Instant};

use ccp_gateway::config::{AuthHeader, Backend, BackendKind, Config, Protocol};
use ccp_gateway::redact::Redactor;
use ccp_providers::anthropic_dialect::{AnthropicAuth, AnthropicDialect};
use serde_json::{json, Value};

use super::net::{self, error_chain};
use super::{quote, Check};

/// Upper bound for one probe request, whatever the backend's own timeouts say.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(30);

/// Probes every non-mock backend concurrently; results keep config order.
pub async fn probe_all(config: &Config, redactor: &Redactor) -> Vec<Check> {
    let mut tasks = Vec::new();
    for backend in config
        .backends
        .iter()
        .filter(|b| b.protocol != Protocol::Mock)
    {
        let backend = backend.clone();
        let redactor = redactor.clone();
        tasks.push(tokio::spawn(
            async move { probe(&backend, &redactor).await },
        ));
    }
    let mut out = Vec::new();
    for task in tasks {
        match task.await {
            Ok(check) => out.push(check),
            Err(e) => out.push(Check::fail(
                "backend",
                format!("a probe task failed: {e}"),
                "re-run doctor",
            )),
        }
    }
    out
}

/// What a probe request came back with.
pub(super) enum Answer {
    Status {
        status: u16,
        body: String,
        elapsed: Duration,
    },
    /// The request failed before an HTTP status arrived.
    Transport {
        connect: bool,
        timeout: bool,
        detail: String,
    },
}

/// Probes one backend.
pub async fn probe(backend: &Backend, redactor: &Redactor) -> Check {
    let id = format!("backend.{}", backend.name);
    let name = &backend.name;
    let Some(chat_url) = backend.endpoint_url() else {
        return Check::fail(
            &id,
            format!("backend `{name}` has no url"),
            "set `url` in the backend",
        );
    };
    let url = match reqwest::Url::parse(&chat_url) {
        Ok(u) => u,
        Err(e) => {
            return Check::fail(
                &id,
                format!("url `{chat_url}` does not parse: {e}"),
                "fix the backend `url`",
            )
        }
    };
    // A Codex login is checked before the network: without it nothing else matters.
    if let BackendKind::Codex { auth_file, .. } = &backend.kind {
        if let Some(failed) = super::kinds::codex_login(&id, auth_file) {
            return failed;
        }
    }
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let https = url.scheme() == "https";
    let key_env = key_env_hint(backend);
    // `${VAR:-}` marks the key optional (the shipped example has three such backends): unset,
    // the backend is simply not in use yet, which is worth a note but is no failure.
    if backend.key_missing {
        return Check::warn(
            &id,
            format!("not probed: no API key — {key_env} is unset or empty in this environment (optional in the config), so the proxy answers requests to this backend with 401"),
            format!("to use this backend, export {key_env}=<your key> in the environment that runs the proxy (and this doctor)"),
        );
    }
    // Unreachable: DNS or TCP.
    let addrs = match net::resolve(&host, port, backend.connect_timeout).await {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(
                &id,
                format!("unreachable — {e}"),
                "check the host in the backend `url`, your DNS, and any proxy/VPN",
            )
        }
    };
    if let Err(e) = net::tcp_connect(&addrs, backend.connect_timeout).await {
        return Check::fail(
            &id,
            format!("unreachable — {e}"),
            format!("check that {host}:{port} is the right host and port and that a firewall does not block it"),
        );
    }
    let timeout = backend.first_byte_timeout.min(MAX_REQUEST_TIME);
    let client = match net::client(backend.connect_timeout, timeout) {
        Ok(c) => c,
        Err(e) => return Check::fail(&id, e, "re-run doctor"),
    };
    match &backend.kind {
        BackendKind::Responses { .. } => {
            return super::kinds::probe_responses(
                &id, backend, &chat_url, &client, redactor, &key_env,
            )
            .await
        }
        BackendKind::Codex { auth_file, .. } => {
            return super::kinds::codex_reachable(&id, auth_file, &chat_url)
        }
        BackendKind::Anthropic { .. } => {
            return super::anthropic::probe_anthropic(
                &id, backend, &chat_url, &client, redactor, &key_env,
            )
            .await
        }
        _ => {}
    }
    let body = json!({"model": backend.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
    let answer = post(&client, &chat_url, backend, &body).await;
    match answer {
        Answer::Transport { connect: true, detail, .. } if https => Check::fail(
            &id,
            format!("TLS failure — TCP to {host}:{port} works but the TLS handshake failed: {}", quote(redactor, &detail)),
            "check that the port speaks https (use http:// for a plain-HTTP server) and that its certificate is valid for the host",
        ),
        Answer::Transport { timeout: true, .. } => Check::fail(
            &id,
            format!("no answer from {chat_url} within {}s", timeout.as_secs()),
            "check that the url points at a Chat Completions API; raise first_byte_timeout_secs if the upstream is just slow",
        ),
        Answer::Transport { detail, .. } => Check::fail(
            &id,
            format!("request to {chat_url} failed: {}", quote(redactor, &detail)),
            "check the backend `url`",
        ),
        Answer::Status { status, body, elapsed } => {
            classify(&id, backend, &chat_url, status, &body, elapsed, &client, redactor, &key_env).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn classify(
    id: &str,
    backend: &Backend,
    chat_url: &str,
    status: u16,
    body: &str,
    elapsed: Duration,
    client: &reqwest::Client,
    redactor: &Redactor,
    key_env: &str,
) -> Check {
    let model = &backend.model;
    let json: Option<Value> = serde_json::from_str(body).ok();
    let message = json
        .as_ref()
        .and_then(error_message)
        .unwrap_or_else(|| body.to_owned());
    let said = quote(redactor, &message);
    let code = json.as_ref().and_then(error_code).unwrap_or_default();
    match status {
        200..=299 => {
            if json.as_ref().and_then(|j| j.get("object")).and_then(Value::as_str) == Some("response") {
                protocol_mismatch(id, chat_url)
            } else if json.as_ref().is_some_and(|j| j.get("choices").is_some()) {
                Check::ok(id, format!("OK — `{model}` answered at {chat_url} (HTTP {status}, {} ms)", elapsed.as_millis()))
            } else {
                Check::fail(
                    id,
                    format!("{chat_url} answered HTTP {status} but not with a Chat Completions body: {said}"),
                    "point `url` at the API base of an OpenAI-compatible Chat Completions endpoint (the part before /chat/completions)",
                )
            }
        }
        401 | 403 => Check::fail(
            id,
            format!("wrong API key — {chat_url} answered {status}: {said}"),
            format!("check {key_env}: it must hold a valid key for this provider (and the key must be allowed to use `{model}`)"),
        ),
        404 | 400 | 422 if mentions_model(status, &code, &message, model) => model_not_found(id, model, status, &said),
        404 | 405 => wrong_path_or_protocol(id, backend, chat_url, status, client).await,
        429 => Check::warn(
            id,
            format!("reachable and the key was accepted, but it is rate limited (429): {said}"),
            "wait, or check the account's quota/balance with the provider",
        ),
        400 | 422 => Check::warn(
            id,
            format!("reachable and the key was accepted, but the probe request was rejected ({status}): {said}"),
            "usually harmless (the probe asks for max_tokens=1); if real requests fail too, check the backend's quirks",
        ),
        _ => Check::fail(
            id,
            format!("{chat_url} answered HTTP {status}: {said}"),
            "the upstream reports an error; check the provider's status page, the url and the key",
        ),
    }
}

fn model_not_found(id: &str, model: &str, status: u16, said: &str) -> Check {
    Check::fail(
        id,
        format!("model not found — the upstream does not know `{model}` ({status}): {said}"),
        format!("set the backend `model` to a model id this provider lists (its GET /models), not `{model}`"),
    )
}

fn protocol_mismatch(id: &str, chat_url: &str) -> Check {
    Check::fail(
        id,
        format!("protocol mismatch — the server speaks the Responses API, not Chat Completions ({chat_url} is not served, /responses is)"),
        "set \"protocol\": \"responses\" on this backend (the proxy then passes requests through), or use the provider's Chat Completions endpoint here",
    )
}

/// After a 404/405: a Responses-only server, or a url missing `/v1`, or just a wrong path.
async fn wrong_path_or_protocol(
    id: &str,
    backend: &Backend,
    chat_url: &str,
    status: u16,
    client: &reqwest::Client,
) -> Check {
    let base = chat_url
        .strip_suffix("/chat/completions")
        .unwrap_or(chat_url);
    let responses_url = format!("{base}/responses");
    let responses_body = json!({"model": backend.model, "input": "ping", "max_output_tokens": 16});
    if let Answer::Status { status: s, .. } =
        post(client, &responses_url, backend, &responses_body).await
    {
        if s != 404 && s != 405 {
            return protocol_mismatch(id, chat_url);
        }
    }
    if !base.ends_with("/v1") {
        let guess = format!("{base}/v1/chat/completions");
        let ping = json!({"model": backend.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1});
        if let Answer::Status { status: s, .. } = post(client, &guess, backend, &ping).await {
            if s != 404 && s != 405 {
                return Check::fail(
                    id,
                    format!("wrong path — {chat_url} answered {status}, but {guess} exists"),
                    format!("set the backend `url` to \"{base}/v1\""),
                );
            }
        }
    }
    Check::fail(
        id,
        format!("wrong path — {chat_url} answered {status} (the proxy appends /chat/completions to `url`)"),
        "set `url` to the provider's API base, the part before /chat/completions (often ending in /v1)",
    )
}

pub(super) async fn post(
    client: &reqwest::Client,
    url: &str,
    backend: &Backend,
    body: &Value,
) -> Answer {
    let mut req = client.post(url).json(body);
    if let Some(key) = &backend.api_key {
        req = match &backend.kind {
            BackendKind::Responses {
                auth_header: AuthHeader::ApiKey,
                ..
            } => req.header("api-key", key.expose()),
            BackendKind::Responses {
                auth_header: AuthHeader::XApiKey,
                ..
            } => req.header("x-api-key", key.expose()),
            BackendKind::Anthropic { .. }
                if AnthropicDialect::for_provider(backend.profile.id()).auth
                    == AnthropicAuth::XApiKey =>
            {
                req.header("x-api-key", key.expose())
            }
            _ => req.bearer_auth(key.expose()),
        };
    }
    if let BackendKind::Anthropic {
        anthropic_version, ..
    } = &backend.kind
    {
        req = req.header("anthropic-version", anthropic_version);
    }
    if let BackendKind::Responses {
        api_version: Some(v),
        ..
    } = &backend.kind
    {
        req = req.query(&[("api-version", v)]);
    }
    let started = Instant::now();
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            Answer::Status {
                status,
                body,
                elapsed: started.elapsed(),
            }
        }
        Err(e) => Answer::Transport {
            connect: e.is_connect(),
            timeout: e.is_timeout(),
            detail: error_chain(&e),
        },
    }
}

/// The env var(s) the key comes from, for fix hints; never the key itself.
fn key_env_hint(backend: &Backend) -> String {
    if backend.api_key_env.is_empty() {
        format!("the `api_key` of backend `{}`", backend.name)
    } else {
        backend.api_key_env.join(" / ")
    }
}

/// The human message of an OpenAI-style (or similar) error body.
pub(super) fn error_message(body: &Value) -> Option<String> {
    let err = body.get("error");
    err.and_then(|e| e.get("message"))
        .or_else(|| body.get("message"))
        .or_else(|| body.get("detail"))
        .or(err)
        .and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| (!v.is_null()).then(|| v.to_string()))
        })
}

fn error_code(body: &Value) -> Option<String> {
    let err = body.get("error").unwrap_or(body);
    ["code", "type"]
        .iter()
        .filter_map(|k| err.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Whether an error is about the model: `model_not_found`, a message saying a model does not
/// exist, or (for a 404 only, where a bad-parameter reading is impossible) a message naming it.
fn mentions_model(status: u16, code: &str, message: &str, model: &str) -> bool {
    let code = code.to_ascii_lowercase();
    let msg = message.to_ascii_lowercase();
    if code.contains("model_not_found") || msg.contains("model_not_found") {
        return true;
    }
    if status == 404 && !model.is_empty() && msg.contains(&model.to_ascii_lowercase()) {
        return true;
    }
    msg.contains("model")
        && [
            "not found",
            "not exist",
            "unknown model",
            "no such model",
            "invalid model",
            "not available",
        ]
        .iter()
        .any(|p| msg.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_errors_are_recognised() {
        assert!(mentions_model(400, "model_not_found", "", "m"));
        assert!(mentions_model(
            400,
            "",
            "The model `glm-9` does not exist",
            "glm-9"
        ));
        assert!(mentions_model(400, "", "Model Not Exist", "x"));
        assert!(mentions_model(404, "", "Unknown model: foo", "bar"));
        assert!(mentions_model(404, "", "no glm-9 here", "glm-9"));
        assert!(!mentions_model(
            400,
            "",
            "max_tokens too small for glm-9",
            "glm-9"
        ));
        assert!(!mentions_model(404, "", "Not Found", "glm-9"));
        assert!(!mentions_model(
            401,
            "invalid_api_key",
            "Incorrect API key provided",
            "glm-9"
        ));
    }

    #[test]
    fn error_message_reads_common_shapes() {
        assert_eq!(
            error_message(&json!({"error": {"message": "boom"}})).as_deref(),
            Some("boom")
        );
        assert_eq!(
            error_message(&json!({"message": "m"})).as_deref(),
            Some("m")
        );
        assert_eq!(
            error_message(&json!({"error": "plain"})).as_deref(),
            Some("plain")
        );
        assert_eq!(error_message(&json!({"detail": "d"})).as_deref(), Some("d"));
    }
}
