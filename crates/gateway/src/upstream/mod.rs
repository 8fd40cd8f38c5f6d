//! Every kind of upstream behind one seam. Each kind has its own file with the same anatomy —
//! what it sends, with which credentials, and how its answer becomes Responses events:
//!
//! | kind (`protocol`) | file | sends | credentials | answer |
//! |---|---|---|---|---|
//! | `openai` / `chat` | [`chat`] | the request converted to Chat Completions, shaped by the provider profile | the backend key as Bearer | chat chunks → events (`ChatToResponses`) |
//! | `responses` | [`responses`] | the client's body, model substituted | Bearer, or Azure's `api-key` (+ `api-version`) | relayed verbatim |
//! | `codex` | [`codex`] | the body normalised for the ChatGPT backend | the Codex login (refreshing OAuth token) | relayed, collapsed for non-streaming clients |
//! | `anthropic` | [`anthropic`] | the request converted to Anthropic Messages (thinking replayed, cache breakpoints) | `x-api-key` + `anthropic-version` | Messages events → events (`AnthropicToResponses`) |
//! | `mock` | [`mock`] | nothing (no network) | none | deterministic text through the chat conversion |
//!
//! A Chat Completions client reaches every kind through [`Upstream::call_chat`]: a `chat` backend
//! gets the client's body shaped by its profile and relayed back as it comes
//! ([`chat_passthrough`]); every other kind gets it converted to a Responses request, runs its
//! usual path, and the answer is converted back to Chat ([`chat_bridge`]).
//!
//! Shared by all: [`transport`] (the pooled HTTP client, per-call URL and credentials, retries
//! before the first byte, the first-byte timeout) and [`stream`] (the stream shell: idle and
//! total timeouts, keep-alives, the failure path, cancellation on drop). Errors are classified
//! once, by the backend's provider profile then the fallback (`ccp_providers::profile::
//! ResolvedProfile::classify`), and reach the pipeline as a [`GatewayError`] carrying its code and
//! retry-after.

pub mod anthropic;
pub mod chat;
pub(crate) mod chat_bridge;
pub(crate) mod chat_passthrough;
pub mod codex;
pub mod mock;
pub mod responses;
pub(crate) mod stream;
pub mod transport;

use std::time::{SystemTime, UNIX_EPOCH};

pub use transport::{backoff, parse_retry_after, Credentials, HttpTransport, UpstreamPolicy};

use crate::access_log::RequestLog;
use crate::config::{Backend, BackendKind};
use crate::error::GatewayError;
use crate::pipeline::{ChatResponse, GatewayResponse, PreparedChat, PreparedRequest};
use stream::FailureMapper;

/// One backend's upstream, by kind.
pub enum Upstream {
    Chat(chat::ChatUpstream),
    Responses(responses::ResponsesUpstream),
    Codex(codex::CodexUpstream),
    Anthropic(anthropic::AnthropicUpstream),
    Mock(mock::MockUpstream),
}

/// Everything a kind needs for one call besides its own settings.
pub(crate) struct Call<'a> {
    pub(crate) prepared: &'a PreparedRequest,
    pub(crate) backend: &'a Backend,
    /// The model the client asked for (echoed back by converting kinds).
    pub(crate) client_model: String,
    pub(crate) log: RequestLog,
    pub(crate) mapper: std::sync::Arc<FailureMapper>,
}

/// Everything a kind needs for one Chat Completions call besides its own settings.
pub(crate) struct ChatCall<'a> {
    pub(crate) prepared: &'a PreparedChat,
    pub(crate) backend: &'a Backend,
    /// The model the client asked for (echoed back by converted answers).
    pub(crate) client_model: String,
    pub(crate) log: RequestLog,
    pub(crate) mapper: std::sync::Arc<FailureMapper>,
}

impl Upstream {
    /// Builds the upstream of a validated backend. Fails (at startup) on what the config could
    /// not check: an unusable URL, a key that cannot go in a header, an unusable Codex login.
    pub fn build(backend: &Backend) -> Result<Self, String> {
        let transport = || HttpTransport::new(policy_of(backend));
        Ok(match &backend.kind {
            BackendKind::Chat => Upstream::Chat(chat::ChatUpstream::new(backend, transport()?)?),
            BackendKind::Responses { .. } => {
                Upstream::Responses(responses::ResponsesUpstream::new(backend, transport()?)?)
            }
            BackendKind::Codex { .. } => {
                Upstream::Codex(codex::CodexUpstream::new(backend, transport()?)?)
            }
            BackendKind::Anthropic { .. } => {
                Upstream::Anthropic(anthropic::AnthropicUpstream::new(backend, transport()?)?)
            }
            BackendKind::Mock => Upstream::Mock(mock::MockUpstream),
        })
    }

    /// Whether this kind forwards the client's Responses body itself (passthrough kinds), so a
    /// rewritten input must reach it as a rewritten body, not only as the typed request.
    pub(crate) fn forwards_client_body(&self) -> bool {
        matches!(self, Upstream::Responses(_) | Upstream::Codex(_))
    }

    /// Calls the upstream: an event stream or one JSON answer, or a typed error.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        match self {
            Upstream::Chat(u) => u.call(call).await,
            Upstream::Responses(u) => u.call(call).await,
            Upstream::Codex(u) => u.call(call).await,
            Upstream::Anthropic(u) => u.call(call).await,
            Upstream::Mock(u) => u.call(call),
        }
    }

    /// Calls the upstream for a Chat Completions client: a Chat answer or a typed error.
    pub(crate) async fn call_chat(&self, call: ChatCall<'_>) -> Result<ChatResponse, GatewayError> {
        match self {
            Upstream::Chat(u) => u.passthrough(call).await,
            Upstream::Responses(_)
            | Upstream::Codex(_)
            | Upstream::Anthropic(_)
            | Upstream::Mock(_) => chat_bridge::call_via_responses(self, call).await,
        }
    }
}

fn policy_of(b: &Backend) -> UpstreamPolicy {
    UpstreamPolicy {
        connect: b.connect_timeout,
        first_byte: b.first_byte_timeout,
        idle: b.idle_timeout,
        total: b.total_timeout,
        max_retries: b.max_retries,
        // Disabled keep-alives still need a wake-up to check the idle timeout.
        keepalive_interval: b.keepalive_interval.unwrap_or(b.idle_timeout),
        pool_max_idle: b.pool_max_idle,
        pool_idle_timeout: b.pool_idle_timeout,
    }
}

/// A whole (non-streaming) answer the proxy converted: the JSON response, or, when the upstream's
/// answer carried a failure, that failure as a 502 with its code (logged either way).
pub(crate) fn whole_answer(
    resp: ccp_types::events::ResponseObject,
    log: &RequestLog,
) -> Result<GatewayResponse, GatewayError> {
    if resp.status == ccp_types::events::ResponseStatus::Failed {
        let (code, message) = resp
            .error
            .as_ref()
            .map(|e| (e.code.clone(), e.message.clone()))
            .unwrap_or_default();
        let e = GatewayError::Upstream {
            status: 502,
            code,
            message,
            retry_after: None,
        };
        log.error(&e);
        return Err(e);
    }
    log.finish(&resp, 200);
    Ok(GatewayResponse::json(resp))
}

/// A new `resp_…` id.
pub fn new_response_id() -> String {
    let mut s = String::with_capacity(29);
    s.push_str("resp_");
    for _ in 0..24 {
        s.push(char::from(b"0123456789abcdef"[fastrand::usize(0..16)]));
    }
    s
}

/// A new `chatcmpl-…` id.
pub fn new_chat_id() -> String {
    let mut s = String::with_capacity(33);
    s.push_str("chatcmpl-");
    for _ in 0..24 {
        s.push(char::from(b"0123456789abcdef"[fastrand::usize(0..16)]));
    }
    s
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
