//! Where a group's attempt commits: the answer is held back until its first content, so that a
//! failure before any byte reached the client can still move on to the next backend.
//!
//! A streamed answer is read up to its first event that carries content: the proxy's own
//! `response.created` / `response.in_progress` (or a Chat role chunk) are held, keep-alives are
//! dropped (nothing has been sent, not even the headers). If the next event is the stream's
//! failure, the attempt failed before the first byte; otherwise the held events and the rest of
//! the stream go to the client as one stream, and every later failure stays in it
//! (`response.failed`, or Chat's error frame) — a POST is never re-sent once a byte went out.

use std::future::Future;
use std::pin::Pin;

use ccp_convert::chat_ingress::stream::ChatFrame;
use ccp_types::events::{ResponseEvent, StreamEvent};
use futures_util::{Stream, StreamExt as _};
use serde_json::Value;

use super::strategy::InFlight;
use super::trigger::FailureNote;
use crate::config::FailureClass;
use crate::error::GatewayError;
use crate::pipeline::{
    ChatBody, ChatResponse, ChatStream, EventStream, GatewayResponse, ResponseBody,
};

/// One attempt's answer once it committed or failed.
pub(crate) struct Settled<T> {
    /// What the client gets if this attempt is the last.
    pub(crate) result: Result<T, GatewayError>,
    /// `Some(class)` when the attempt failed before any byte reached the client (`None`: a
    /// failure no trigger covers).
    pub(crate) failed: Option<Option<FailureClass>>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An answer a group can hold back: Responses (HTTP or WebSocket) or Chat Completions.
pub(crate) trait GroupAnswer: Sized + Send + 'static {
    /// Reads a streamed answer up to its commit point.
    fn settle(
        result: Result<Self, GatewayError>,
        note: &FailureNote,
    ) -> BoxFuture<'_, Settled<Self>>;
    /// Keeps `guard` (the request in flight) alive as long as the answer's body.
    fn hold(self, guard: InFlight) -> Self;
}

fn error_class(e: &GatewayError, note: &FailureNote) -> Option<FailureClass> {
    note.class_or(e.code(), Some(e.status()))
}

impl GroupAnswer for GatewayResponse {
    fn settle(
        result: Result<Self, GatewayError>,
        note: &FailureNote,
    ) -> BoxFuture<'_, Settled<Self>> {
        Box::pin(async move {
            match result {
                Err(e) => Settled {
                    failed: Some(error_class(&e, note)),
                    result: Err(e),
                },
                Ok(GatewayResponse {
                    headers,
                    body: ResponseBody::Stream(events),
                }) => {
                    let (events, failed) = settle_events(events, note).await;
                    Settled {
                        result: Ok(GatewayResponse {
                            headers,
                            body: ResponseBody::Stream(events),
                        }),
                        failed,
                    }
                }
                Ok(answer) => Settled {
                    result: Ok(answer),
                    failed: None,
                },
            }
        })
    }

    fn hold(mut self, guard: InFlight) -> Self {
        if let ResponseBody::Stream(events) = self.body {
            self.body = ResponseBody::Stream(Box::pin(Held {
                inner: events,
                _guard: guard,
            }));
        }
        self
    }
}

impl GroupAnswer for ChatResponse {
    fn settle(
        result: Result<Self, GatewayError>,
        note: &FailureNote,
    ) -> BoxFuture<'_, Settled<Self>> {
        Box::pin(async move {
            match result {
                Err(e) => Settled {
                    failed: Some(error_class(&e, note)),
                    result: Err(e),
                },
                Ok(ChatResponse {
                    headers,
                    body: ChatBody::Stream(frames),
                }) => {
                    let (frames, failed) = settle_frames(frames, note).await;
                    Settled {
                        result: Ok(ChatResponse {
                            headers,
                            body: ChatBody::Stream(frames),
                        }),
                        failed,
                    }
                }
                Ok(answer) => Settled {
                    result: Ok(answer),
                    failed: None,
                },
            }
        })
    }

    fn hold(mut self, guard: InFlight) -> Self {
        if let ChatBody::Stream(frames) = self.body {
            self.body = ChatBody::Stream(Box::pin(Held {
                inner: frames,
                _guard: guard,
            }));
        }
        self
    }
}

/// A stream that keeps a guard alive until it is dropped.
struct Held<S> {
    inner: S,
    _guard: InFlight,
}

impl<S: Stream + Unpin> Stream for Held<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The held events, then the rest of the stream.
fn replay<T: Send + 'static>(
    held: Vec<T>,
    rest: Pin<Box<dyn Stream<Item = T> + Send>>,
) -> Pin<Box<dyn Stream<Item = T> + Send>> {
    Box::pin(futures_util::stream::iter(held).chain(rest))
}

async fn settle_events(
    mut events: EventStream,
    note: &FailureNote,
) -> (EventStream, Option<Option<FailureClass>>) {
    let mut held: Vec<StreamEvent> = Vec::new();
    loop {
        let Some(ev) = events.next().await else {
            return (replay(held, events), None);
        };
        match ev.kind() {
            "response.created" => held.push(ev),
            "response.in_progress" => {
                // Keep-alives before the commit need not reach the client.
                if !held.iter().any(|e| e.kind() == "response.in_progress") {
                    held.push(ev);
                }
            }
            "response.failed" => {
                let class = note.class_or(&failed_code(&ev), None);
                held.push(ev);
                return (replay(held, events), Some(class));
            }
            _ => {
                held.push(ev);
                return (replay(held, events), None);
            }
        }
    }
}

/// The `response.error.code` of a `response.failed` event.
fn failed_code(ev: &StreamEvent) -> String {
    match ev {
        StreamEvent::Typed(ResponseEvent::Failed { response }) => response
            .error
            .as_ref()
            .map(|e| e.code.clone())
            .unwrap_or_default(),
        StreamEvent::Typed(_) => String::new(),
        StreamEvent::Raw(raw) => serde_json::from_str::<Value>(&raw.data)
            .ok()
            .and_then(|v| {
                v.pointer("/response/error/code")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
    }
}

/// What a Chat frame means for the commit.
enum FrameKind {
    /// A role chunk with nothing in it yet: held.
    Start,
    /// An `{"error":…}` frame: the attempt failed; its code.
    Error(String),
    /// Anything else: the answer commits.
    Content,
}

async fn settle_frames(
    mut frames: ChatStream,
    note: &FailureNote,
) -> (ChatStream, Option<Option<FailureClass>>) {
    let mut held: Vec<ChatFrame> = Vec::new();
    loop {
        let Some(frame) = frames.next().await else {
            return (replay(held, frames), None);
        };
        let kind = match &frame {
            ChatFrame::KeepAlive => continue,
            ChatFrame::Done => FrameKind::Content,
            ChatFrame::Data(v) => frame_kind(v),
            ChatFrame::Relayed(text) => {
                serde_json::from_str::<Value>(text).map_or(FrameKind::Content, |v| frame_kind(&v))
            }
        };
        held.push(frame);
        match kind {
            FrameKind::Start => {}
            FrameKind::Error(code) => {
                let class = note.class_or(&code, None);
                return (replay(held, frames), Some(class));
            }
            FrameKind::Content => return (replay(held, frames), None),
        }
    }
}

fn frame_kind(v: &Value) -> FrameKind {
    if let Some(error) = v.get("error").filter(|e| e.is_object()) {
        let code = error
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return FrameKind::Error(code.to_owned());
    }
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        return FrameKind::Content;
    };
    let empty_delta = |d: &serde_json::Map<String, Value>| {
        d.iter().all(|(k, x)| match k.as_str() {
            "role" => true,
            _ => x.is_null() || x.as_str() == Some(""),
        })
    };
    let start = !choices.is_empty()
        && v.get("usage").is_none_or(Value::is_null)
        && choices.iter().all(|c| {
            c.get("finish_reason").is_none_or(Value::is_null)
                && c.get("delta")
                    .and_then(Value::as_object)
                    .is_some_and(empty_delta)
        });
    if start {
        FrameKind::Start
    } else {
        FrameKind::Content
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_types::events::{RawEvent, ResponseError, ResponseObject};
    use serde_json::json;

    fn typed(ev: ResponseEvent) -> StreamEvent {
        StreamEvent::Typed(ev)
    }

    fn object() -> Box<ResponseObject> {
        Box::new(ResponseObject::new("resp_1".into(), "m".into(), 0))
    }

    fn failed_event(code: &str) -> StreamEvent {
        let mut resp = object();
        resp.error = Some(ResponseError {
            code: code.into(),
            message: "x".into(),
        });
        typed(ResponseEvent::Failed { response: resp })
    }

    fn raw(kind: &str, data: Value) -> StreamEvent {
        StreamEvent::Raw(RawEvent {
            kind: kind.into(),
            data: data.to_string(),
            sequence_number: None,
        })
    }

    fn stream(events: Vec<StreamEvent>) -> EventStream {
        Box::pin(futures_util::stream::iter(events))
    }

    async fn kinds(s: EventStream) -> Vec<String> {
        s.map(|e| e.kind().to_owned()).collect().await
    }

    #[tokio::test]
    async fn a_failure_before_content_is_caught_with_its_class() {
        let note = FailureNote::default();
        let created = || typed(ResponseEvent::Created { response: object() });
        let in_progress = || typed(ResponseEvent::InProgress { response: object() });
        let (s, failed) = settle_events(
            stream(vec![
                created(),
                in_progress(),
                in_progress(),
                failed_event("server_error"),
            ]),
            &note,
        )
        .await;
        assert_eq!(failed, Some(Some(FailureClass::ServerError)));
        assert_eq!(
            kinds(s).await,
            [
                "response.created",
                "response.in_progress",
                "response.failed"
            ]
        );
        note.set(Some(FailureClass::Timeout));
        let (_, failed) =
            settle_events(stream(vec![created(), failed_event("server_error")]), &note).await;
        assert_eq!(failed, Some(Some(FailureClass::Timeout)), "the note wins");
        let (_, failed) = settle_events(
            stream(vec![raw(
                "response.failed",
                json!({"type": "response.failed", "response": {"error": {"code": "rate_limit_exceeded"}}}),
            )]),
            &FailureNote::default(),
        )
        .await;
        assert_eq!(failed, Some(Some(FailureClass::RateLimited)));
    }

    #[tokio::test]
    async fn content_commits_and_later_failures_stay_in_the_stream() {
        let note = FailureNote::default();
        let (s, failed) = settle_events(
            stream(vec![
                typed(ResponseEvent::Created { response: object() }),
                raw("response.output_text.delta", json!({"delta": "hi"})),
                failed_event("server_error"),
            ]),
            &note,
        )
        .await;
        assert_eq!(failed, None);
        assert_eq!(
            kinds(s).await,
            [
                "response.created",
                "response.output_text.delta",
                "response.failed"
            ]
        );
    }

    #[tokio::test]
    async fn chat_frames_commit_on_content_and_fail_on_an_early_error_frame() {
        let note = FailureNote::default();
        let role = json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
        let text =
            json!({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]});
        let frames = |v: Vec<ChatFrame>| -> ChatStream { Box::pin(futures_util::stream::iter(v)) };
        let (s, failed) = settle_frames(
            frames(vec![
                ChatFrame::Relayed(role.to_string()),
                ChatFrame::KeepAlive,
                ChatFrame::Data(json!({"error": {"code": "rate_limit_exceeded", "message": "x"}})),
                ChatFrame::Done,
            ]),
            &note,
        )
        .await;
        assert_eq!(failed, Some(Some(FailureClass::RateLimited)));
        assert_eq!(s.collect::<Vec<_>>().await.len(), 3, "role, error, done");
        let (s, failed) = settle_frames(
            frames(vec![
                ChatFrame::Data(role),
                ChatFrame::Data(text),
                ChatFrame::Done,
            ]),
            &note,
        )
        .await;
        assert_eq!(failed, None);
        assert_eq!(s.collect::<Vec<_>>().await.len(), 3);
    }
}
