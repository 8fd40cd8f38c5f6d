//! The `chat` kind (`protocol: "openai"` / `"chat"`): a Chat Completions upstream.
//!
//! Anatomy (the same in every kind's file): what it sends (the Responses request converted by
//! `ccp_convert`, then shaped by the backend's provider profile — see `ccp_providers::profiles`),
//! with which credentials (the backend's key as Bearer), and how its answer becomes Responses
//! events (the [`ChatDecoder`] over `ccp_convert::stream::ChatToResponses`; the dialect details
//! each provider needs are in its profile's `parse_options`).
//!
//! Failures before the stream starts still answer a streaming request with a stream
//! (`response.created` then `response.failed`): Codex acts on the in-stream error codes (it waits
//! on `rate_limit_exceeded`, stops on `context_length_exceeded`), not on HTTP statuses.

use std::collections::VecDeque;

use bytes::Bytes;
use ccp_convert::request::{responses_request_to_chat, RequestOptions};
use ccp_convert::stream::{chat_completion_to_response, ChatToResponses, StreamContext};
use ccp_providers::profile::ShapeContext;
use ccp_providers::sse::{is_error_payload, parse_chat_data, ChatData, SseEvent};
use ccp_types::chat::{ChatCompletion, ChatRequest};
use ccp_types::events::StreamEvent;
use http::Uri;

use super::stream::{self, Decoder, Step};
use super::transport::{Credentials, HttpTransport};
use super::{new_response_id, now_secs, Call};
use crate::config::Backend;
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::GatewayResponse;

/// A Chat Completions backend.
pub struct ChatUpstream {
    pub(super) transport: HttpTransport,
    pub(super) uri: Uri,
    pub(super) credentials: Credentials,
}

impl ChatUpstream {
    pub(crate) fn new(backend: &Backend, transport: HttpTransport) -> Result<Self, String> {
        let url = backend
            .chat_url()
            .ok_or_else(|| "a chat backend needs a url".to_owned())?;
        let key = backend.api_key.as_ref().map(|k| k.expose()).unwrap_or("");
        Ok(ChatUpstream {
            transport,
            uri: super::transport::parse_upstream_url(&url)?,
            credentials: Credentials::bearer(key)?,
        })
    }

    pub(crate) async fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        let (chat, ctx) = convert(&call)?;
        if call.log.log_body {
            call.log
                .upstream_request(&serde_json::to_string(&chat).unwrap_or_default());
        }
        let body = serialize(&chat, call.prepared.body.len_hint())?;
        if call.prepared.request.stream {
            Ok(GatewayResponse::stream(self.stream(body, ctx, call).await))
        } else {
            self.json(body, ctx, call).await
        }
    }

    async fn json(
        &self,
        body: Bytes,
        ctx: StreamContext,
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
        let completion = parse_completion(&bytes).map_err(fail)?;
        let resp = chat_completion_to_response(completion, ctx);
        super::whole_answer(resp, &log)
    }

    async fn stream(
        &self,
        body: Bytes,
        ctx: StreamContext,
        call: Call<'_>,
    ) -> crate::pipeline::EventStream {
        let Call { log, mapper, .. } = call;
        let mut decoder = ChatDecoder {
            machine: ChatToResponses::new(ctx),
        };
        let mut queued: VecDeque<StreamEvent> = decoder.start();
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

/// Converts and shapes the request; returns the upstream request and the stream context.
pub(crate) fn convert(call: &Call<'_>) -> Result<(ChatRequest, StreamContext), GatewayError> {
    let prepared = call.prepared;
    let stream = prepared.request.stream;
    let converted = responses_request_to_chat(
        &prepared.request,
        &RequestOptions {
            upstream_model: prepared.upstream_model.clone(),
            stream,
        },
    )
    .map_err(|e| match e {
        ccp_convert::ConvertError::InvalidRequest { path, message } => GatewayError::BadRequest {
            param: if path.is_empty() { None } else { Some(path) },
            message,
        },
    })?;
    let mut chat = converted.chat;
    let effort = prepared
        .request
        .reasoning
        .as_ref()
        .and_then(|r| r.effort.as_deref());
    call.backend.profile.shape_request(
        &mut chat,
        &ShapeContext {
            effort,
            upstream_model: &prepared.upstream_model,
            stream,
        },
    );
    let ctx = StreamContext {
        response_id: new_response_id(),
        model: call.client_model.clone(),
        created_at: now_secs(),
        tools: converted.tools,
        parse: call
            .backend
            .profile
            .parse_options_for(&prepared.upstream_model),
    };
    Ok((chat, ctx))
}

/// Chat chunks → Responses events.
pub(crate) struct ChatDecoder {
    pub(crate) machine: ChatToResponses,
}

impl ChatDecoder {
    /// `response.created` and `response.in_progress`, sent before the upstream answers.
    pub(crate) fn start(&mut self) -> VecDeque<StreamEvent> {
        self.machine
            .start()
            .into_iter()
            .map(StreamEvent::Typed)
            .collect()
    }

    fn push_chunk(
        &mut self,
        chunk: ccp_types::chat::ChatChunk,
        out: &mut VecDeque<StreamEvent>,
    ) -> Step {
        out.extend(self.machine.push(chunk).into_iter().map(StreamEvent::Typed));
        if self.machine.is_finished() {
            Step::Done
        } else {
            Step::Continue
        }
    }
}

impl Decoder for ChatDecoder {
    type Item = StreamEvent;

    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Step {
        match parse_chat_data(&event.data) {
            ChatData::Done => {
                out.extend(self.machine.finish().into_iter().map(StreamEvent::Typed));
                Step::Done
            }
            ChatData::Chunk(chunk) => self.push_chunk(chunk, out),
            ChatData::Error(payload) => Step::Fail(UpstreamFailure::InBand(payload)),
            ChatData::Malformed(detail) => Step::Fail(UpstreamFailure::Protocol(format!(
                "malformed upstream event: {detail}"
            ))),
        }
    }

    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Step {
        match parse_completion(body) {
            Ok(c) => {
                let _ = self.push_chunk(c.into_chunk(), out);
                out.extend(self.machine.finish().into_iter().map(StreamEvent::Typed));
                Step::Done
            }
            Err(f) => Step::Fail(f),
        }
    }

    fn on_end(&mut self, out: &mut VecDeque<StreamEvent>) {
        // EOF without [DONE]: the machine decides (a missing finish_reason is a truncated answer).
        out.extend(self.machine.finish().into_iter().map(StreamEvent::Typed));
    }

    fn keepalive(&mut self) -> Option<StreamEvent> {
        Some(StreamEvent::Typed(self.machine.keepalive()))
    }

    fn fail(&mut self, error: &GatewayError, out: &mut VecDeque<StreamEvent>) {
        out.extend(
            self.machine
                .fail(error.code(), &error.to_string())
                .into_iter()
                .map(StreamEvent::Typed),
        );
    }

    fn is_finished(&self) -> bool {
        self.machine.is_finished()
    }
}

/// The request body, in a buffer sized from the client's body (about as large).
pub(super) fn serialize(chat: &ChatRequest, size_hint: usize) -> Result<Bytes, GatewayError> {
    let mut buf = Vec::with_capacity(size_hint + 512);
    serde_json::to_writer(&mut buf, chat)
        .map(|()| Bytes::from(buf))
        .map_err(|e| {
            GatewayError::Internal(format!("could not serialize the upstream request: {e}"))
        })
}

/// A whole JSON answer: a chat completion, or one of the error payloads providers send with 200.
pub(crate) fn parse_completion(bytes: &[u8]) -> Result<ChatCompletion, UpstreamFailure> {
    // Fast path: a plain completion parses straight into the typed struct; anything that carries
    // an error marker goes through the generic payload check below.
    if let Ok(c) = serde_json::from_slice::<ChatCompletion>(bytes) {
        let object_ok = match &c.object {
            None => true,
            Some(v) => v.as_str().is_some_and(|o| o != "error"),
        };
        if c.error.is_none() && object_ok && c.base_resp.is_none() && !c.choices.is_empty() {
            return Ok(c);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        UpstreamFailure::Protocol(format!(
            "expected an SSE stream or a chat completion JSON body: {e}"
        ))
    })?;
    if is_error_payload(&value) {
        return Err(UpstreamFailure::InBand(value));
    }
    serde_json::from_value(value)
        .map_err(|e| UpstreamFailure::Protocol(format!("not a chat completion: {e}")))
}
