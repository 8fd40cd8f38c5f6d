//! The `codex` kind: the ChatGPT Codex backend, used with a ChatGPT (Codex) subscription.
//!
//! Anatomy (as every kind): what it sends — the client's Responses body normalised for that
//! backend, which rejects what generic clients send ([`normalize_body`]; upstreams.md §1.6):
//! `stream: true` and `store: false` forced, the parameters it refuses removed
//! ([`REJECTED_FIELDS`]), `instructions` always present (system/developer input messages moved
//! there, a default only when the caller sent none), a string `input` made a list. With which
//! credentials — the login in Codex's `auth.json` ([`crate::codex_auth`]): the access token as
//! Bearer (refreshed before expiry, and once after a 401), the account id header and the client
//! headers the official CLI sends. How its answer becomes Responses events — relayed like a
//! `responses` backend ([`super::responses::RelayDecoder`], which drops `codex.rate_limits` and
//! `keepalive` and rebuilds an empty `completed.output`); a non-streaming client gets the stream
//! collapsed into the final `Response` object.
//!
//! Its usage-limit 429 (`usage_limit_reached`, `usage_not_included`) is answered with the same
//! body shape, so Codex shows its usage-limit message with the reset time; its rate-limit headers
//! are relayed.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use ccp_types::events::StreamEvent;
use futures_util::StreamExt as _;
use http::{HeaderName, HeaderValue, Uri};
use serde_json::{Map, Value};

use super::responses::{relayed_headers, RelayDecoder};
use super::stream;
use super::transport::{Credentials, HttpTransport, UpstreamResponse};
use super::Call;
use crate::codex_auth::{CodexAuth, Credential};
use crate::config::{Backend, BackendKind};
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::{ClientBody, GatewayResponse, ResponseBody};

/// Parameters the ChatGPT Codex backend answers with 400 "Unsupported parameter" (or that the
/// bridges that talk to it strip because it may); removed from every request.
pub const REJECTED_FIELDS: &[&str] = &[
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "context_management",
    "truncation",
    "user",
    "prompt_cache_retention",
    "safety_identifier",
    "previous_response_id",
    "background",
];

/// `instructions` sent when the caller gave none (the backend requires the key).
pub const DEFAULT_INSTRUCTIONS: &str = "You are a helpful assistant.";

/// The Codex CLI version whose client headers the proxy sends (the backend gates newer models on
/// `version`).
pub const CLIENT_VERSION: &str = "0.169.0";

/// The ChatGPT Codex backend.
pub struct CodexUpstream {
    transport: HttpTransport,
    uri: Uri,
    auth: Arc<CodexAuth>,
}

impl CodexUpstream {
    pub(crate) fn new(backend: &Backend, transport: HttpTransport) -> Result<Self, String> {
        let BackendKind::Codex {
            auth_file,
            token_url,
        } = &backend.kind
        else {
            return Err("not a codex backend".into());
        };
        let url = backend
            .responses_url()
            .ok_or_else(|| "a codex backend needs a url".to_owned())?;
        let auth = CodexAuth::load(
            auth_file.clone(),
            token_url.clone(),
            crate::codex_auth::system_clock(),
        )
        .map_err(|e| e.to_string())?;
        Ok(CodexUpstream {
            transport,
            uri: super::transport::parse_upstream_url(&url)?,
            auth: Arc::new(auth),
        })
    }

    pub(crate) async fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        let body = normalize_body(&call)?;
        if call.log.log_body {
            call.log.upstream_request(&String::from_utf8_lossy(&body));
        }
        let resp = self.send_authenticated(body, &call).await?;
        let headers = relayed_headers(resp.headers());
        let client_streams = call.prepared.request.stream;
        let mapper = call.mapper.clone();
        let (failure_tx, failure_rx) = tokio::sync::oneshot::channel();
        let mut decoder = RelayDecoder::new(&call.log.backend);
        if !client_streams {
            decoder = decoder.report_failure_to(failure_tx);
        }
        let events = stream::relay(
            decoder,
            VecDeque::new(),
            resp,
            call.mapper,
            self.transport.policy,
            call.log,
            false,
        );
        let body = if client_streams {
            ResponseBody::Stream(events)
        } else {
            ResponseBody::RawJson(collapse(events, failure_rx, &mapper).await?)
        };
        Ok(GatewayResponse { headers, body })
    }

    /// Sends with the current token; after a 401, once more with a refreshed one.
    async fn send_authenticated(
        &self,
        body: Bytes,
        call: &Call<'_>,
    ) -> Result<UpstreamResponse, GatewayError> {
        let backend = call.log.backend.as_str();
        let credential = self
            .auth
            .credential()
            .await
            .map_err(|e| auth_error(backend, &e))?;
        let first = self.send_once(&credential, body.clone(), call).await;
        match first {
            Err(UpstreamFailure::Status { status: 401, .. }) => {
                let rejected = credential.access_token.expose().to_owned();
                let fresh = self
                    .auth
                    .after_unauthorized(&rejected)
                    .await
                    .map_err(|e| auth_error(backend, &e))?;
                self.send_once(&fresh, body, call)
                    .await
                    .map_err(|f| self.map(&f, call))
            }
            other => other.map_err(|f| self.map(&f, call)),
        }
    }

    async fn send_once(
        &self,
        credential: &Credential,
        body: Bytes,
        call: &Call<'_>,
    ) -> Result<UpstreamResponse, UpstreamFailure> {
        let credentials = codex_headers(credential).map_err(UpstreamFailure::Protocol)?;
        self.transport
            .send_before(&call.log, &self.uri, &credentials, body, true)
            .await
    }

    fn map(&self, f: &UpstreamFailure, call: &Call<'_>) -> GatewayError {
        let backend = call.log.backend.as_str();
        let e = usage_limit(backend, f).unwrap_or_else(|| call.mapper.map(f));
        let e = match (e, f) {
            // The generic advice ("check the backend's api_key") is wrong here: this kind has no
            // key, and a refresh was already tried for a 401.
            (GatewayError::Upstream { code, .. }, UpstreamFailure::Status { status, .. })
                if code == "invalid_api_key" =>
            {
                GatewayError::Upstream {
                    status: 401,
                    code,
                    message: format!(
                        "backend `{backend}`: the ChatGPT backend refused the login in {} (HTTP \
                         {status}) — run `codex login` with the ChatGPT account this backend \
                         should use",
                        self.auth.path().display()
                    ),
                    retry_after: None,
                }
            }
            (e, _) => e,
        };
        call.log.failed(&e, f);
        e
    }
}

/// The headers of a call: the token, the account, and the client identity the backend expects.
fn codex_headers(credential: &Credential) -> Result<Credentials, String> {
    let mut c = Credentials::bearer(credential.access_token.expose())?;
    if let Some(account) = &credential.account_id {
        let v = HeaderValue::from_str(account)
            .map_err(|_| "the account id in auth.json is not a valid header value".to_owned())?;
        c = c.with(HeaderName::from_static("chatgpt-account-id"), v);
    }
    if credential.fedramp {
        c = c.with(
            HeaderName::from_static("x-openai-fedramp"),
            HeaderValue::from_static("true"),
        );
    }
    Ok(c.with(
        HeaderName::from_static("originator"),
        HeaderValue::from_static("codex_cli_rs"),
    )
    .with(
        HeaderName::from_static("version"),
        HeaderValue::from_static(CLIENT_VERSION),
    ))
}

fn auth_error(backend: &str, e: &crate::codex_auth::AuthError) -> GatewayError {
    GatewayError::Upstream {
        status: if e.is_transient() { 503 } else { 401 },
        code: if e.is_transient() {
            "server_error".into()
        } else {
            "invalid_api_key".into()
        },
        message: format!("backend `{backend}`: {e}"),
        retry_after: None,
    }
}

/// The ChatGPT backend's usage-limit answer, kept in its own shape for Codex.
fn usage_limit(backend: &str, f: &UpstreamFailure) -> Option<GatewayError> {
    let UpstreamFailure::Status {
        status: 429, body, ..
    } = f
    else {
        return None;
    };
    let v: Value = serde_json::from_str(body).ok()?;
    let err = v.get("error")?;
    let kind = err.get("type").and_then(Value::as_str)?;
    if kind != "usage_limit_reached" && kind != "usage_not_included" {
        return None;
    }
    let now = super::now_secs();
    let resets_at = err
        .get("resets_at")
        .and_then(|r| match r {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => crate::codex_auth::parse_rfc3339_secs(s),
            _ => None,
        })
        .or_else(|| {
            err.get("resets_in_seconds")
                .and_then(Value::as_u64)
                .map(|s| now + s)
        });
    let upstream = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the usage limit has been reached");
    let when = resets_at
        .map(|t| format!(" It resets in {}s.", t.saturating_sub(now)))
        .unwrap_or_default();
    Some(GatewayError::UsageLimit {
        kind: kind.to_owned(),
        message: format!(
            "backend `{backend}`: the ChatGPT plan's usage limit is reached ({}).{when}",
            crate::error::scrub_secrets(upstream.trim_end_matches('.'))
        ),
        plan_type: err
            .get("plan_type")
            .and_then(Value::as_str)
            .map(str::to_owned),
        resets_at,
    })
}

/// The client's body normalised for the ChatGPT Codex backend (see the module docs).
pub(crate) fn normalize_body(call: &Call<'_>) -> Result<Bytes, GatewayError> {
    let mut body: Map<String, Value> = match &call.prepared.body {
        ClientBody::Bytes(bytes) => match serde_json::from_slice(bytes) {
            Ok(m) => m,
            Err(e) => {
                return Err(GatewayError::BadRequest {
                    param: None,
                    message: format!("malformed JSON body: {e}"),
                })
            }
        },
        ClientBody::Frame(frame) => frame.clone(),
    };
    normalize(&mut body, &call.prepared.upstream_model);
    serde_json::to_vec(&body).map(Bytes::from).map_err(|e| {
        GatewayError::Internal(format!("could not serialize the upstream request: {e}"))
    })
}

/// The rules of [`normalize_body`] on a parsed body.
pub fn normalize(body: &mut Map<String, Value>, model: &str) {
    body.insert("model".into(), Value::String(model.to_owned()));
    body.insert("stream".into(), Value::Bool(true));
    body.insert("store".into(), Value::Bool(false));
    for field in REJECTED_FIELDS {
        body.remove(*field);
    }
    // Codex sends `stream_options: {reasoning_summary_delivery}`; other options are not the
    // backend's.
    if let Some(Value::Object(opts)) = body.get_mut("stream_options") {
        opts.retain(|k, _| k == "reasoning_summary_delivery");
        if opts.is_empty() {
            body.remove("stream_options");
        }
    } else {
        body.remove("stream_options");
    }
    if let Some(Value::String(tier)) = body.get("service_tier") {
        if tier != "priority" && tier != "fast" {
            body.remove("service_tier");
        }
    }
    let mut input = match body.remove("input") {
        Some(Value::String(s)) => vec![user_text(&s)],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => user_text(&s),
                other => other,
            })
            .collect(),
        _ => Vec::new(),
    };
    let caller_instructions = match body.get("instructions") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    // `system` items are refused wherever they stand; `developer` ones are accepted, and only
    // become the instructions when the caller sent none.
    let hoist_developer = caller_instructions.is_none();
    let mut hoisted: Vec<String> = Vec::new();
    input.retain(|item| {
        let role = item.get("role").and_then(Value::as_str);
        let is_message = item
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "message");
        let hoist = is_message
            && (role == Some("system") || (hoist_developer && role == Some("developer")));
        if hoist {
            hoisted.push(message_text(item));
        }
        !hoist
    });
    let instructions = match (caller_instructions, hoisted.is_empty()) {
        (Some(text), true) => text,
        (Some(text), false) => format!("{text}\n\n{}", hoisted.join("\n\n")),
        (None, false) => hoisted.join("\n\n"),
        (None, true) => DEFAULT_INSTRUCTIONS.to_owned(),
    };
    body.insert("instructions".into(), Value::String(instructions));
    body.insert("input".into(), Value::Array(input));
    let include = body
        .entry("include")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = include {
        if !list.iter().any(|v| v == "reasoning.encrypted_content") {
            list.push(Value::String("reasoning.encrypted_content".into()));
        }
    }
}

fn user_text(text: &str) -> Value {
    serde_json::json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The text of a message item (string content, or its text parts joined).
fn message_text(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Reads a relayed stream to its end and returns the final `Response` object as JSON. A failed
/// response is answered as the HTTP error it maps to: the error the relay reported on
/// `failure` when the proxy built the failure event (a broken stream, a timeout, an in-band
/// error), else the backend's own `response.failed` classified like any upstream error.
async fn collapse(
    mut events: crate::pipeline::EventStream,
    mut failure: tokio::sync::oneshot::Receiver<GatewayError>,
    mapper: &stream::FailureMapper,
) -> Result<Bytes, GatewayError> {
    let mut last: Option<StreamEvent> = None;
    while let Some(ev) = events.next().await {
        if ev.is_terminal() {
            last = Some(ev);
            break;
        }
    }
    let Some(terminal) = last else {
        return Err(GatewayError::Internal(
            "the upstream stream ended without a terminal event".into(),
        ));
    };
    let mut buf = Vec::new();
    terminal
        .write_json(&mut buf, 0)
        .map_err(|e| GatewayError::Internal(format!("could not read the final event: {e}")))?;
    let mut v: Value = serde_json::from_slice(&buf)
        .map_err(|e| GatewayError::Internal(format!("could not read the final event: {e}")))?;
    let response = v
        .get_mut("response")
        .map(Value::take)
        .unwrap_or(Value::Null);
    if terminal.kind() == "response.failed" {
        if let Ok(e) = failure.try_recv() {
            return Err(e);
        }
        let error = response.get("error").cloned().unwrap_or(Value::Null);
        return Err(mapper.map(&UpstreamFailure::InBand(
            serde_json::json!({ "error": error }),
        )));
    }
    serde_json::to_vec(&response)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(format!("could not write the response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(v: Value) -> Value {
        let Value::Object(mut m) = v else { panic!() };
        normalize(&mut m, "gpt-5.5");
        Value::Object(m)
    }

    #[test]
    fn sdk_body_becomes_acceptable() {
        let out = normalized(json!({
            "model": "gpt-4o", "input": "hi", "max_output_tokens": 100, "temperature": 0.2,
            "stream": false, "store": true, "stream_options": {"include_obfuscation": false},
            "metadata": {"a": "b"}, "tools": [], "service_tier": "flex"
        }));
        assert_eq!(out["model"], "gpt-5.5");
        assert_eq!(out["stream"], true);
        assert_eq!(out["store"], false);
        assert_eq!(out["instructions"], DEFAULT_INSTRUCTIONS);
        assert_eq!(out["input"][0]["content"][0]["text"], "hi");
        assert_eq!(out["metadata"]["a"], "b", "caller intent kept");
        for gone in [
            "max_output_tokens",
            "temperature",
            "stream_options",
            "service_tier",
        ] {
            assert!(out.get(gone).is_none(), "{gone}");
        }
        assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
    }

    #[test]
    fn system_and_developer_messages_become_instructions() {
        let out = normalized(json!({"input": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "input_text", "text": "use tools"}]},
            {"role": "user", "content": "q"}
        ]}));
        assert_eq!(out["instructions"], "be brief\n\nuse tools");
        assert_eq!(out["input"].as_array().unwrap().len(), 1);
        // Codex's own shape: instructions present, developer messages stay in the input.
        let out = normalized(json!({"instructions": "codex prompt", "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "perm"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q"}]}
        ], "stream_options": {"reasoning_summary_delivery": "x"}}));
        assert_eq!(out["instructions"], "codex prompt");
        assert_eq!(out["input"].as_array().unwrap().len(), 2);
        assert_eq!(out["stream_options"]["reasoning_summary_delivery"], "x");
    }

    #[test]
    fn usage_limit_keeps_its_shape_and_reset_time() {
        let f = UpstreamFailure::Status {
            status: 429,
            body: json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached", "plan_type": "plus", "resets_in_seconds": 120}}).to_string(),
            retry_after: None,
        };
        let e = usage_limit("chatgpt", &f).unwrap();
        assert_eq!(e.status(), 429);
        assert_eq!(e.body()["error"]["type"], "usage_limit_reached");
        assert_eq!(e.body()["error"]["plan_type"], "plus");
        assert!(e.body()["error"]["resets_at"].as_u64().unwrap() > 0);
        assert!(e.retry_after().unwrap() >= 119);
        let plain = UpstreamFailure::Status {
            status: 429,
            body: json!({"error": {"type": "rate_limit_exceeded"}}).to_string(),
            retry_after: None,
        };
        assert!(usage_limit("chatgpt", &plain).is_none());
    }
}
