//! The request's record around an answer (issue 15): the pipeline's public entry points
//! [`Gateway::answer`] and [`Gateway::answer_chat`] note on the request's telemetry scope what
//! its usage record and the console need — the model the client asked for, the response
//! cache's verdict — and, with `log_body`, keep the events returned (redacted) beside the
//! request sent upstream (`RequestLog::upstream_request`).
//!
//! A cache hit never reaches an upstream, so nothing else would end its scope: here it gets the
//! access log line and the scope's end (with the cached usage) that an upstream answer gets.
//!
//! Invariant: without `log_body` and without a cache hit, the answer is passed on untouched (no
//! extra stream stage on the hot path).

use std::sync::Arc;

use ccp_telemetry::{Bodies, RecordStart, RequestScope};
use ccp_types::events::StreamEvent;
use futures_util::StreamExt as _;

use super::{
    Answer, ChatBody, ChatFrame, ChatResponse, ChatStream, EventStream, Gateway, GatewayResponse,
    PreparedChat, PreparedRequest, ResponseBody,
};
use crate::access_log::RequestLog;
use crate::cache::{CachePolicy, CacheStatus};
use crate::identity::ClientIdentity;
use crate::redact::Redactor;
use crate::usage::UsageLog;

impl Gateway {
    /// Finished requests: the recent ones and their usage records.
    pub fn usage(&self) -> &Arc<UsageLog> {
        &self.usage
    }

    /// What a request's telemetry scope needs to produce its record for `identity` (bodies
    /// kept only with `log_body`).
    pub fn record_start(&self, identity: &ClientIdentity) -> RecordStart {
        let key = identity.key.as_ref();
        RecordStart {
            sink: self.usage.clone(),
            principal: key.and_then(|k| k.principal.clone()),
            team: key.and_then(|k| k.team.clone()),
            bodies: self.config.log_body,
        }
    }

    /// [`Gateway::respond`], with the facts of how the answer was served (a model group's
    /// headers), which go with an error too.
    pub async fn answer(
        &self,
        identity: &ClientIdentity,
        prepared: PreparedRequest,
        cache: &CachePolicy,
    ) -> Answer<GatewayResponse> {
        let scope = prepared.telemetry.clone();
        let client_model = prepared
            .request
            .model
            .clone()
            .unwrap_or_else(|| prepared.upstream_model.clone());
        scope.note_client_model(&client_model);
        let routed = (
            prepared.backend,
            prepared.upstream_model.clone(),
            prepared.request.stream,
        );
        let mut answer = self.answer_governed(identity, prepared, cache).await;
        let Ok(response) = &mut answer.result else {
            return answer;
        };
        let verdict = CacheStatus::of(response);
        if let Some(v) = verdict {
            scope.note_cache(v.as_str());
        }
        let hit_log = match verdict {
            Some(CacheStatus::Hit) => {
                let (backend, upstream_model, stream) = routed;
                self.call_setup(
                    &scope,
                    (backend, &client_model, &upstream_model),
                    stream,
                    None,
                    None,
                )
                .ok()
                .map(|(log, _)| log)
            }
            _ => None,
        };
        let bodies = scope.bodies().cloned();
        if hit_log.is_some() || bodies.is_some() {
            let watch = Watch {
                bodies,
                redactor: self.redactor.clone(),
                hit_log,
            };
            let body = std::mem::replace(
                &mut response.body,
                ResponseBody::RawJson(bytes::Bytes::new()),
            );
            response.body = watch.body(body);
        }
        answer
    }

    /// [`Gateway::execute_chat`] with the facts of how it was served (a group's headers).
    pub async fn answer_chat(
        &self,
        identity: &ClientIdentity,
        prepared: PreparedChat,
    ) -> Answer<ChatResponse> {
        let scope: RequestScope = prepared.telemetry.clone();
        scope.note_client_model(prepared.model().unwrap_or(&prepared.upstream_model));
        let mut answer = self.answer_chat_governed(identity, prepared).await;
        if let (Ok(response), Some(bodies)) = (&mut answer.result, scope.bodies()) {
            let redactor = self.redactor.clone();
            response.body =
                match std::mem::replace(&mut response.body, ChatBody::Json(bytes::Bytes::new())) {
                    ChatBody::Json(bytes) => {
                        bodies.push_event(&redactor.redact(&String::from_utf8_lossy(&bytes)));
                        ChatBody::Json(bytes)
                    }
                    ChatBody::Stream(frames) => {
                        ChatBody::Stream(keep_chat(bodies.clone(), redactor, frames))
                    }
                };
        }
        answer
    }
}

/// What is done with an answer on its way out: its events kept (with `log_body`), a cache
/// hit's end logged.
struct Watch {
    bodies: Option<Bodies>,
    redactor: Redactor,
    hit_log: Option<RequestLog>,
}

impl Watch {
    fn body(self, body: ResponseBody) -> ResponseBody {
        match body {
            ResponseBody::Stream(events) => ResponseBody::Stream(self.stream(events)),
            ResponseBody::Json(resp) => {
                if let Some(bodies) = &self.bodies {
                    let text = serde_json::to_string(&resp).unwrap_or_default();
                    bodies.push_event(&self.redactor.redact(&text));
                }
                if let Some(log) = &self.hit_log {
                    log.finish(&resp, 200);
                }
                ResponseBody::Json(resp)
            }
            ResponseBody::RawJson(bytes) => {
                if let Some(bodies) = &self.bodies {
                    bodies.push_event(&self.redactor.redact(&String::from_utf8_lossy(&bytes)));
                }
                if let Some(log) = &self.hit_log {
                    if let Ok(summary) =
                        serde_json::from_slice::<ccp_types::events::ResponseSummary>(&bytes)
                    {
                        log.finish_summary(&summary, 200);
                    }
                }
                ResponseBody::RawJson(bytes)
            }
        }
    }

    fn stream(self, events: EventStream) -> EventStream {
        let mut n: u64 = 0;
        Box::pin(events.map(move |ev: StreamEvent| {
            if let Some(bodies) = &self.bodies {
                let mut buf = Vec::with_capacity(256);
                if ev.write_json(&mut buf, n).is_ok() {
                    bodies.push_event(&self.redactor.redact(&String::from_utf8_lossy(&buf)));
                }
                n += 1;
            }
            if ev.is_terminal() {
                if let Some(log) = &self.hit_log {
                    log.finish_stream_event(&ev);
                }
            }
            ev
        }))
    }
}

/// A Chat Completions stream whose frames are kept (redacted) as they pass.
fn keep_chat(bodies: Bodies, redactor: Redactor, frames: ChatStream) -> ChatStream {
    Box::pin(frames.map(move |frame| {
        match &frame {
            ChatFrame::Data(v) => {
                bodies.push_event(&redactor.redact(&v.to_string()));
            }
            ChatFrame::Relayed(text) => bodies.push_event(&redactor.redact(text)),
            ChatFrame::Done => bodies.push_event("[DONE]"),
            ChatFrame::KeepAlive => {}
        }
        frame
    }))
}
