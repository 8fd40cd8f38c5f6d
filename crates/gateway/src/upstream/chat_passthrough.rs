//! The Chat Completions passthrough: a Chat client on a `chat` backend.
//!
//! What it sends: the client's body as a typed Chat request (unknown fields kept), the model
//! replaced by the routed upstream model, then shaped by the backend's provider profile exactly
//! as a converted request is (`developer` role, content arrays, the `max_tokens` field name,
//! reasoning controls — `ccp_providers::profile::ResolvedProfile::shape_request`), with the
//! backend's key (the client's never leaves the proxy). How its answer comes back: a JSON
//! completion is relayed as it came once it is known not to be an in-band error; a stream is
//! relayed chunk by chunk, verbatim, through the shared stream shell (idle and total timeouts,
//! keep-alives as SSE comments, cancellation on drop). A usage-only chunk the profile asked for
//! (`stream_options.include_usage`) but the client did not is held back, so the client sees the
//! stream it asked for.
//!
//! Failures before the first byte are typed errors (the edge answers with an HTTP status and
//! Chat's error body); after it, an `{"error":…}` frame, then `[DONE]`.

use std::collections::VecDeque;

use ccp_convert::chat_ingress::chat_error_body;
use ccp_convert::chat_ingress::stream::ChatFrame;
use ccp_providers::profile::ShapeContext;
use ccp_providers::sse::{parse_chat_data, ChatData, SseEvent};
use ccp_types::chat::{ChatRequest, ChatUsage};
use ccp_types::events::{InputTokensDetails, OutputTokensDetails, ResponseUsage};

use super::chat::{parse_completion, serialize, ChatUpstream};
use super::stream::{self, Decoder, ShellItem, Step};
use super::ChatCall;
use crate::access_log::RequestLog;
use crate::error::{GatewayError, UpstreamFailure};
use crate::pipeline::{ChatBody, ChatResponse};

impl ChatUpstream {
    /// Sends the client's Chat request, shaped, and relays the answer.
    pub(crate) async fn passthrough(
        &self,
        call: ChatCall<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        let prepared = call.prepared;
        let mut chat: ChatRequest = serde_json::from_value(prepared.body.clone()).map_err(|e| {
            GatewayError::BadRequest {
                param: None,
                message: format!("invalid Chat Completions body: {e}"),
            }
        })?;
        let client_usage = chat
            .stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let stream = chat.stream.unwrap_or(false);
        chat.model = prepared.upstream_model.clone();
        call.backend.profile.shape_request(
            &mut chat,
            &ShapeContext {
                // `None`: the profile reads the client's own `reasoning_effort`.
                effort: None,
                upstream_model: &prepared.upstream_model,
                stream,
            },
        );
        let body = serialize(&chat, prepared.body_len)?;
        if call.log.log_body {
            call.log.upstream_request(&String::from_utf8_lossy(&body));
        }
        let ChatCall { log, mapper, .. } = call;
        let fail = |f: UpstreamFailure| mapper.fail(&log, &f);
        let resp = self
            .transport
            .send_before(&log, &self.uri, &self.credentials, body, stream)
            .await
            .map_err(fail)?;
        let headers = super::responses::relayed_headers(resp.headers());
        let body = if stream {
            let whole_body = !stream::content_type_is(&resp, "text/event-stream");
            let decoder = PassthroughDecoder {
                client_usage,
                finish_seen: false,
                done: false,
                usage: None,
                log: log.clone(),
            };
            ChatBody::Stream(stream::relay(
                decoder,
                VecDeque::new(),
                resp,
                mapper,
                self.transport.policy,
                log,
                whole_body,
            ))
        } else {
            let bytes = resp
                .bytes_before(self.transport.deadline(log.started))
                .await
                .map_err(fail)?;
            let completion = parse_completion(&bytes).map_err(fail)?;
            log.finish_chat("completed", "", &usage_of(completion.usage.as_ref()));
            ChatBody::Json(bytes)
        };
        Ok(ChatResponse { headers, body })
    }
}

impl ShellItem for ChatFrame {
    fn is_terminal(&self) -> bool {
        matches!(self, ChatFrame::Done)
    }

    // The passthrough decoder logs the outcome (it knows the usage); nothing is left here.
    fn log_terminal(&self, _log: &RequestLog) {}

    fn is_output_chunk(&self) -> bool {
        matches!(self, ChatFrame::Relayed(_))
    }
}

/// Chat usage in the access log's (Responses) terms.
fn usage_of(usage: Option<&ChatUsage>) -> ResponseUsage {
    let Some(u) = usage else {
        return ResponseUsage::default();
    };
    let input = u.prompt_tokens.unwrap_or(0);
    let output = u.completion_tokens.unwrap_or(0);
    ResponseUsage {
        input_tokens: input,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.cached(),
        },
        output_tokens: output,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.reasoning(),
        },
        total_tokens: u.total_tokens.unwrap_or(input + output),
    }
}

/// Upstream Chat SSE → the same chunks for the client.
struct PassthroughDecoder {
    /// The client asked for the usage chunk.
    client_usage: bool,
    /// A chunk carried a `finish_reason` (an EOF after it is a normal end).
    finish_seen: bool,
    done: bool,
    usage: Option<ChatUsage>,
    /// For the access-log line of a stream that ended well (the shell logs failures).
    log: RequestLog,
}

impl PassthroughDecoder {
    fn end(&mut self, out: &mut VecDeque<ChatFrame>) -> Step {
        self.done = true;
        self.log
            .finish_chat("completed", "", &usage_of(self.usage.as_ref()));
        out.push_back(ChatFrame::Done);
        Step::Done
    }
}

impl Decoder for PassthroughDecoder {
    type Item = ChatFrame;

    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<ChatFrame>) -> Step {
        match parse_chat_data(&event.data) {
            ChatData::Done => self.end(out),
            ChatData::Chunk(chunk) => {
                self.finish_seen |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
                let usage_only = chunk.choices.is_empty() && chunk.usage.is_some();
                if let Some(u) = chunk
                    .usage
                    .or_else(|| chunk.choices.iter().find_map(|c| c.usage.clone()))
                {
                    self.usage = Some(u);
                }
                if !usage_only || self.client_usage {
                    out.push_back(ChatFrame::Relayed(event.data));
                }
                Step::Continue
            }
            ChatData::Error(payload) => Step::Fail(UpstreamFailure::InBand(payload)),
            ChatData::Malformed(detail) => Step::Fail(UpstreamFailure::Protocol(format!(
                "malformed upstream event: {detail}"
            ))),
        }
    }

    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<ChatFrame>) -> Step {
        match parse_completion(body) {
            Ok(c) => {
                self.usage = c.usage.clone();
                let mut chunk = serde_json::to_value(c.into_chunk()).unwrap_or_default();
                chunk["object"] = "chat.completion.chunk".into();
                out.push_back(ChatFrame::Data(chunk));
                self.end(out)
            }
            Err(f) => Step::Fail(f),
        }
    }

    fn on_end(&mut self, out: &mut VecDeque<ChatFrame>) {
        if self.finish_seen {
            self.end(out);
        } else {
            self.done = true;
            self.log
                .finish_chat("failed", "stream_ended", &usage_of(self.usage.as_ref()));
            let body = chat_error_body(
                "stream_ended",
                "the upstream stream ended before the answer finished",
            );
            out.push_back(ChatFrame::Data(body));
            out.push_back(ChatFrame::Done);
        }
    }

    fn keepalive(&mut self) -> Option<ChatFrame> {
        Some(ChatFrame::KeepAlive)
    }

    fn fail(&mut self, error: &GatewayError, out: &mut VecDeque<ChatFrame>) {
        self.done = true;
        out.push_back(ChatFrame::Data(chat_error_body(
            error.code(),
            &error.to_string(),
        )));
        out.push_back(ChatFrame::Done);
    }

    fn is_finished(&self) -> bool {
        self.done
    }
}
