//! A Chat Completions client on a kind that speaks Responses (responses, codex, mock, and any
//! later kind without a Chat path of its own): the request is converted by
//! `ccp_convert::chat_ingress::request`, runs the kind's usual [`Upstream::call`], and the answer
//! is converted back — a `chat.completion`, or the Responses event stream through the
//! `ResponsesToChat` machine, one event at a time (dropping the Chat stream drops the upstream
//! one, so a client hang-up still cancels the call).
//!
//! Errors before the answer starts are the kind's own typed errors (the edge writes them in
//! Chat's error shape); a failure after that is the machine's error frame, then `[DONE]`.

use std::collections::VecDeque;

use bytes::Bytes;
use ccp_convert::chat_ingress::completion::response_to_chat_completion;
use ccp_convert::chat_ingress::request::chat_request_to_responses;
use ccp_convert::chat_ingress::stream::{ChatFrame, ResponsesToChat};
use ccp_convert::chat_ingress::ChatContext;
use ccp_convert::ConvertError;
use ccp_types::events::StreamEvent;
use ccp_types::responses::parse_request_value;
use futures_util::StreamExt as _;
use serde_json::Value;

use super::{new_chat_id, now_secs, Call, ChatCall, Upstream};
use crate::error::GatewayError;
use crate::pipeline::{
    ChatBody, ChatResponse, ChatStream, ClientBody, EventStream, PreparedRequest, ResponseBody,
};

/// Converts, calls the kind's Responses path, converts the answer back.
pub(crate) async fn call_via_responses(
    upstream: &Upstream,
    call: ChatCall<'_>,
) -> Result<ChatResponse, GatewayError> {
    let ChatCall {
        prepared: chat,
        backend,
        client_model,
        log,
        mapper,
    } = call;
    let converted = chat_request_to_responses(&chat.body).map_err(bad_request)?;
    let frame = converted.body;
    let request = parse_request_value(&Value::Object(frame.clone())).map_err(|e| {
        GatewayError::BadRequest {
            param: (!e.path.is_empty()).then(|| e.path.clone()),
            message: format!("the request could not be converted for this backend: {e}"),
        }
    })?;
    let prepared = PreparedRequest {
        backend: chat.backend,
        group: chat.group,
        upstream_model: chat.upstream_model.clone(),
        request,
        body: ClientBody::Frame(frame),
        context_items: 0,
        telemetry: chat.telemetry.clone(),
    };
    let ctx = ChatContext {
        id: new_chat_id(),
        model: client_model.clone(),
        created: now_secs(),
        include_usage: converted.include_usage,
    };
    let answer = upstream
        .call(Call {
            prepared: &prepared,
            backend,
            client_model,
            log,
            mapper,
        })
        .await?;
    let body = match (answer.body, converted.stream) {
        (ResponseBody::Stream(events), true) => ChatBody::Stream(chunks(events, ctx)),
        (ResponseBody::Stream(events), false) => {
            ChatBody::Json(completion(&collect(events).await, &ctx)?)
        }
        (ResponseBody::Json(resp), _) => {
            let value = serde_json::to_value(&*resp).map_err(internal)?;
            ChatBody::Json(completion(&value, &ctx)?)
        }
        (ResponseBody::RawJson(bytes), _) => {
            let value: Value =
                serde_json::from_slice(&bytes).map_err(|e| GatewayError::Upstream {
                    status: 502,
                    code: "bad_upstream_response".into(),
                    message: format!("the upstream answer is not a Response object: {e}"),
                    retry_after: None,
                })?;
            ChatBody::Json(completion(&value, &ctx)?)
        }
    };
    Ok(ChatResponse {
        headers: answer.headers,
        body,
    })
}

fn bad_request(e: ConvertError) -> GatewayError {
    match e {
        ConvertError::InvalidRequest { path, message } => GatewayError::BadRequest {
            param: (!path.is_empty()).then_some(path),
            message,
        },
    }
}

fn internal(e: serde_json::Error) -> GatewayError {
    GatewayError::Internal(format!("could not serialize the response: {e}"))
}

/// A whole `Response` → `chat.completion` bytes; a failed response is an upstream error.
fn completion(response: &Value, ctx: &ChatContext) -> Result<Bytes, GatewayError> {
    match response_to_chat_completion(response, ctx) {
        Ok(c) => serde_json::to_vec(&c).map(Bytes::from).map_err(internal),
        Err(failed) => Err(GatewayError::Upstream {
            status: 502,
            code: failed.code,
            message: failed.message,
            retry_after: None,
        }),
    }
}

/// The Responses events → Chat frames, lazily: one upstream event is read only when the client
/// wants the next frame.
fn chunks(events: EventStream, ctx: ChatContext) -> ChatStream {
    let state = (
        events,
        ResponsesToChat::new(ctx),
        VecDeque::<ChatFrame>::new(),
    );
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut events, mut machine, mut queue)| async move {
            loop {
                if let Some(frame) = queue.pop_front() {
                    return Some((frame, (events, machine, queue)));
                }
                if machine.is_finished() {
                    return None;
                }
                match events.next().await {
                    Some(ev) => queue.extend(machine.push_stream_event(&ev)),
                    None => queue.extend(machine.finish()),
                }
            }
        },
    ))
}

/// Reads a stream to its terminal event and returns that event's `response`, its `output`
/// rebuilt from the `output_item.done` events when the terminal event left it empty.
async fn collect(mut events: EventStream) -> Value {
    let mut items: Vec<Value> = Vec::new();
    while let Some(ev) = events.next().await {
        let value = match &ev {
            StreamEvent::Typed(e) => serde_json::to_value(e).unwrap_or_default(),
            StreamEvent::Raw(r) => serde_json::from_str(&r.data).unwrap_or_default(),
        };
        if ev.kind() == "response.output_item.done" {
            if let Some(item) = value.get("item") {
                items.push(item.clone());
            }
        }
        if ev.is_terminal() {
            let mut response = value.get("response").cloned().unwrap_or_default();
            let empty = response
                .get("output")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            if empty && response.is_object() {
                response["output"] = Value::Array(items);
            }
            return response;
        }
    }
    serde_json::json!({"status": "failed", "error": {"code": "stream_ended", "message": "the upstream stream ended before the response completed"}})
}
