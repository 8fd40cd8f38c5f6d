//! The `anthropic` kind (`protocol: "anthropic"`): an Anthropic Messages upstream.
//!
//! Anatomy (the same in every kind's file): what it sends (the Responses request converted by
//! `ccp_convert::anthropic::request` to `POST {url}/v1/messages`, with `max_tokens` always set,
//! thinking from the reasoning effort, thinking blocks replayed from `encrypted_content` and
//! prompt-caching breakpoints unless `prompt_cache` is off), with which credentials (the
//! backend's key as `x-api-key`, plus `anthropic-version`), and how its answer becomes Responses
//! events (the [`AnthropicDecoder`] over `ccp_convert::anthropic::stream::AnthropicToResponses`).
//!
//! Another provider's Anthropic-compatible endpoint (Kimi, GLM, MiniMax, DeepSeek) gets its
//! [`AnthropicDialect`], chosen by the backend's provider profile: the key header it wants and
//! the request changes its docs call for (`ccp_providers::anthropic_dialect`).
//!
//! Errors go through the one classifier like every kind's: an `error` event after the 200 is an
//! in-band failure (`overloaded_error` → `server_is_overloaded`, `rate_limit_error` →
//! `rate_limit_exceeded`, "prompt is too long" → `context_length_exceeded`). As for the chat
//! kind, failures before the stream starts still answer a streaming request with a stream
//! (`response.created` then `response.failed`), since Codex acts on the in-stream codes.

use std::collections::VecDeque;

use bytes::Bytes;
use ccp_convert::anthropic::default_max_tokens;
use ccp_convert::anthropic::request::{responses_request_to_messages, MessagesOptions};
use ccp_convert::anthropic::stream::{
    message_to_response, AnthropicStreamContext, AnthropicToResponses,
};
use ccp_providers::anthropic_dialect::{AnthropicAuth, AnthropicDialect};
use ccp_providers::sse::SseEvent;
use ccp_types::anthropic::{MessageResponse, MessagesRequest, StreamEvent as AnthropicEvent};
use ccp_types::events::StreamEvent;
use http::{HeaderName, HeaderValue, Uri};

use super::stream::{self, Decoder, Step};
use super::transport::{Credentials, HttpTransport};
use super::{new_response_id, now_secs, Call};
use crate::config::{Backend, BackendKind};
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::GatewayResponse;

/// An Anthropic Messages backend.
pub struct AnthropicUpstream {
    transport: HttpTransport,
    uri: Uri,
    credentials: Credentials,
    prompt_cache: bool,
    max_tokens: Option<u64>,
    dialect: &'static AnthropicDialect,
}

impl AnthropicUpstream {
    pub(crate) fn new(backend: &Backend, transport: HttpTransport) -> Result<Self, String> {
        let BackendKind::Anthropic {
            anthropic_version,
            prompt_cache,
            max_tokens,
        } = &backend.kind
        else {
            return Err("not an anthropic backend".into());
        };
        let url = backend
            .messages_url()
            .ok_or_else(|| "an anthropic backend needs a url".to_owned())?;
        let dialect = AnthropicDialect::for_provider(backend.profile.id());
        let key = backend.api_key.as_ref().map(|k| k.expose()).unwrap_or("");
        let credentials = match dialect.auth {
            _ if key.is_empty() => Credentials::none(),
            AnthropicAuth::XApiKey => {
                Credentials::header(HeaderName::from_static("x-api-key"), "", key)?
            }
            AnthropicAuth::Bearer => Credentials::bearer(key)?,
        };
        let version = HeaderValue::from_str(anthropic_version).map_err(|_| {
            format!("anthropic_version {anthropic_version:?} cannot go in a header")
        })?;
        Ok(AnthropicUpstream {
            transport,
            uri: super::transport::parse_upstream_url(&url)?,
            credentials: credentials.with(HeaderName::from_static("anthropic-version"), version),
            prompt_cache: *prompt_cache,
            max_tokens: *max_tokens,
            dialect,
        })
    }

    pub(crate) async fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        let (request, ctx) = self.convert(&call)?;
        if call.log.log_body {
            call.log
                .upstream_request(&serde_json::to_string(&request).unwrap_or_default());
        }
        let body = serialize(&request, call.prepared.body.len_hint())?;
        if call.prepared.request.stream {
            Ok(GatewayResponse::stream(self.stream(body, ctx, call).await))
        } else {
            self.json(body, ctx, call).await
        }
    }

    fn convert(
        &self,
        call: &Call<'_>,
    ) -> Result<(MessagesRequest, AnthropicStreamContext), GatewayError> {
        let prepared = call.prepared;
        let model = &prepared.upstream_model;
        let converted = responses_request_to_messages(
            &prepared.request,
            &MessagesOptions {
                upstream_model: model.clone(),
                stream: prepared.request.stream,
                default_max_tokens: self.max_tokens.unwrap_or_else(|| default_max_tokens(model)),
                prompt_cache: self.dialect.sends_cache_control(self.prompt_cache),
            },
        )
        .map_err(|e| match e {
            ccp_convert::ConvertError::InvalidRequest { path, message } => {
                GatewayError::BadRequest {
                    param: if path.is_empty() { None } else { Some(path) },
                    message,
                }
            }
        })?;
        let mut request = converted.request;
        self.dialect.shape_request(&mut request);
        let ctx = AnthropicStreamContext {
            response_id: new_response_id(),
            model: call.client_model.clone(),
            created_at: now_secs(),
            tools: converted.tools,
        };
        Ok((request, ctx))
    }

    async fn json(
        &self,
        body: Bytes,
        ctx: AnthropicStreamContext,
        call: Call<'_>,
    ) -> Result<GatewayResponse, GatewayError> {
        let Call { log, mapper, .. } = call;
        let fail = |f: UpstreamFailure| mapper.fail(&log, &f);
        let resp = self
            .transport
            .send_before(&log, &self.uri, &self.credentials, body, false)
            .await
            .map_err(fail)?;
        let bytes = resp
            .bytes_before(self.transport.deadline(log.started))
            .await
            .map_err(fail)?;
        let message = parse_message(&bytes).map_err(fail)?;
        let resp = message_to_response(message, ctx);
        super::whole_answer(resp, &log)
    }

    async fn stream(
        &self,
        body: Bytes,
        ctx: AnthropicStreamContext,
        call: Call<'_>,
    ) -> crate::pipeline::EventStream {
        let Call { log, mapper, .. } = call;
        let mut decoder = AnthropicDecoder {
            machine: AnthropicToResponses::new(ctx),
        };
        let mut queued: VecDeque<StreamEvent> = typed(decoder.machine.start());
        let sent = self
            .transport
            .send_before(&log, &self.uri, &self.credentials, body, true)
            .await;
        match sent {
            Err(f) => {
                let e = mapper.fail(&log, &f);
                decoder.fail(&e, &mut queued);
                stream::finished_stream(queued, log)
            }
            Ok(resp) => {
                let whole_body = !stream::content_type_is(&resp, "text/event-stream");
                stream::relay(
                    decoder,
                    queued,
                    resp,
                    mapper,
                    self.transport.policy,
                    log,
                    whole_body,
                )
            }
        }
    }
}

fn typed(events: Vec<ccp_types::events::ResponseEvent>) -> VecDeque<StreamEvent> {
    events.into_iter().map(StreamEvent::Typed).collect()
}

/// Messages stream events → Responses events.
pub(crate) struct AnthropicDecoder {
    machine: AnthropicToResponses,
}

impl Decoder for AnthropicDecoder {
    type Item = StreamEvent;

    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Step {
        let parsed: AnthropicEvent = match serde_json::from_str(&event.data) {
            Ok(e) => e,
            Err(e) => {
                return Step::Fail(UpstreamFailure::Protocol(format!(
                    "malformed upstream event: {e}"
                )))
            }
        };
        if let AnthropicEvent::Error { .. } = parsed {
            // Classified by the one classifier, like an error body.
            let payload = serde_json::from_str(&event.data).unwrap_or_default();
            return Step::Fail(UpstreamFailure::InBand(payload));
        }
        out.extend(typed(self.machine.push(parsed)));
        if self.machine.is_finished() {
            Step::Done
        } else {
            Step::Continue
        }
    }

    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Step {
        match parse_message(body) {
            Ok(message) => {
                for event in ccp_convert::anthropic::stream::message_to_events(message) {
                    out.extend(typed(self.machine.push(event)));
                }
                out.extend(typed(self.machine.finish()));
                Step::Done
            }
            Err(f) => Step::Fail(f),
        }
    }

    fn on_end(&mut self, out: &mut VecDeque<StreamEvent>) {
        // EOF without message_stop: the machine decides (no stop_reason is a truncated answer).
        out.extend(typed(self.machine.finish()));
    }

    fn keepalive(&mut self) -> Option<StreamEvent> {
        Some(StreamEvent::Typed(self.machine.keepalive()))
    }

    fn fail(&mut self, error: &GatewayError, out: &mut VecDeque<StreamEvent>) {
        out.extend(typed(self.machine.fail(error.code(), &error.to_string())));
    }

    fn is_finished(&self) -> bool {
        self.machine.is_finished()
    }
}

fn serialize(request: &MessagesRequest, size_hint: usize) -> Result<Bytes, GatewayError> {
    let mut buf = Vec::with_capacity(size_hint + 512);
    serde_json::to_writer(&mut buf, request)
        .map(|()| Bytes::from(buf))
        .map_err(|e| {
            GatewayError::Internal(format!("could not serialize the upstream request: {e}"))
        })
}

/// A whole JSON answer: a `Message`, or an error body sent with a 2xx.
fn parse_message(bytes: &[u8]) -> Result<MessageResponse, UpstreamFailure> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        UpstreamFailure::Protocol(format!(
            "expected an SSE stream or a Messages JSON body: {e}"
        ))
    })?;
    if value.get("type").and_then(|t| t.as_str()) == Some("error") {
        return Err(UpstreamFailure::InBand(value));
    }
    serde_json::from_value(value)
        .map_err(|e| UpstreamFailure::Protocol(format!("not a Messages answer: {e}")))
}
