//! Responses over WebSocket, as Codex speaks it (`supports_websockets = true`).
//!
//! Client frames are `{"type":"response.create", …same fields as the HTTP body…}`, optionally with
//! `previous_response_id` (then `input` holds only the new items) and `generate: false`
//! (prewarm: answered without calling the upstream). Server frames are the same event objects as
//! the SSE stream, one per text frame, with `sequence_number`.
//!
//! Per connection the proxy remembers the last request's full input and the items it returned,
//! so an incremental `input` can be expanded into the full history for the stateless upstream.
//! Memory is bounded: when the remembered history exceeds [`MAX_HISTORY_BYTES`] it is dropped, and
//! a chained request then gets `previous_response_not_found`, which makes Codex resend everything.
//! Everything is dropped when the connection closes.
//!
//! The upgrade is a `GET` with `Upgrade: websocket` on a Responses path, behind the same client
//! authentication as `POST`; a plain `GET` there gets the "not supported" 404. Each frame is
//! prepared by the gateway as a typed request ([`Gateway::prepare_frame`]) with the original,
//! unstripped path of the upgrade request.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, FromRequestParts as _, OriginalUri, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use ccp_gateway::identity::ClientIdentity;
use ccp_gateway::pipeline::new_response_id;
use ccp_gateway::{CachePolicy, Gateway, GatewayError, GatewayResponse, ResponseBody};
use ccp_telemetry::{Ingress, Transport};
use ccp_types::events::{ResponseEvent, ResponseObject, ResponseStatus, StreamEvent};
use futures_util::StreamExt as _;
use serde_json::{json, Map, Value};

use crate::ingress::fallback;
use crate::ingress::responses_http::chat_frame_error;
use crate::layers::request_id::RequestId;
use crate::{header_str, AppState, Stats};

/// Above this much remembered history a connection forgets it (Codex then resends all).
pub const MAX_HISTORY_BYTES: usize = 64 * 1024 * 1024;

/// Largest accepted client frame.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// What a connection remembers between responses.
#[derive(Default)]
struct History {
    last_response_id: Option<String>,
    /// The full input of the last request followed by the items the proxy returned.
    items: Vec<Value>,
}

/// The WebSocket upgrade on a Responses path.
pub async fn upgrade(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    OriginalUri(uri): OriginalUri,
    req: Request,
) -> Response {
    let path = uri.path().to_owned();
    if !is_upgrade(req.headers()) {
        return fallback::not_supported_response(req.method(), &path);
    }
    let (mut parts, _body) = req.into_parts();
    let headers = parts.headers.clone();
    let caller = Caller {
        identity,
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
    };
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws
            .max_message_size(MAX_FRAME_BYTES)
            .max_frame_size(MAX_FRAME_BYTES)
            .on_upgrade(move |socket| async move {
                state.stats.ws_connections.fetch_add(1, Ordering::Relaxed);
                let _open = state.gateway.telemetry().metrics().websocket_connected();
                tracing::debug!(client = %caller.identity.id, "websocket connected");
                serve_socket(socket, state.gateway, state.stats, path, headers, caller).await
            }),
        Err(rejection) => rejection.into_response(),
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    header_str(headers, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Who opened a connection: every `response.create` on it is theirs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: ClientIdentity,
    /// The upgrade request's id (each response on the connection carries it).
    pub request_id: String,
}

/// Serves one upgraded connection until the client closes it.
pub async fn serve_socket(
    mut socket: WebSocket,
    gateway: std::sync::Arc<Gateway>,
    stats: std::sync::Arc<Stats>,
    path: String,
    headers: HeaderMap,
    caller: Caller,
) {
    let mut history = History::default();
    while let Some(msg) = socket.recv().await {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "websocket read error; closing");
                return;
            }
        };
        match msg {
            Message::Text(text) => {
                stats.ws_responses.fetch_add(1, Ordering::Relaxed);
                if !handle_frame(
                    &mut socket,
                    &gateway,
                    &path,
                    &headers,
                    &caller,
                    &mut history,
                    text.as_str(),
                )
                .await
                {
                    return;
                }
            }
            Message::Binary(_) => {
                let err = error_frame(
                    400,
                    "invalid_request_error",
                    "unsupported_frame",
                    "binary frames are not supported; send JSON text frames",
                );
                if send_json(&mut socket, &err).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            // tungstenite answers pings by itself.
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

/// Handles one `response.create`; returns false when the connection should close.
async fn handle_frame(
    socket: &mut WebSocket,
    gateway: &std::sync::Arc<Gateway>,
    path: &str,
    headers: &HeaderMap,
    caller: &Caller,
    history: &mut History,
    text: &str,
) -> bool {
    let mut frame: Map<String, Value> = match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => {
            let err = error_frame(
                400,
                "invalid_request_error",
                "invalid_json",
                "each frame must be a JSON object",
            );
            return send_json(socket, &err).await.is_ok();
        }
    };
    match frame.get("type").and_then(Value::as_str) {
        Some("response.create") => {}
        other => {
            let msg = format!("unsupported frame type {other:?}; expected \"response.create\"");
            let err = error_frame(400, "invalid_request_error", "unsupported_frame", &msg);
            return send_json(socket, &err).await.is_ok();
        }
    }
    if let Some(e) = chat_frame_error(&frame) {
        return send_json(socket, &gateway_error_frame(&e)).await.is_ok();
    }
    frame.remove("type");
    let generate = frame
        .remove("generate")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let previous = frame
        .remove("previous_response_id")
        .and_then(|v| v.as_str().map(str::to_owned));
    let new_items: Vec<Value> = match frame.remove("input") {
        Some(Value::Array(items)) => items,
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            let err = error_frame(
                400,
                "invalid_request_error",
                "invalid_request",
                "input: expected an array of items or a string",
            );
            return send_json(socket, &err).await.is_ok();
        }
    };
    // A chain resolved by the store is not remembered here: the connection only holds history it
    // saw whole, so the next turn chained on it goes to the store again.
    let from_store = previous.is_some()
        && history.last_response_id != previous
        && gateway.state().store().is_some();
    let mut full = match previous {
        Some(prev) if history.last_response_id.as_deref() == Some(prev.as_str()) => {
            std::mem::take(&mut history.items)
        }
        // Not this connection's last response: the store may have it (stored by an earlier
        // connection or another replica); the gateway resolves it or answers
        // `previous_response_not_found`.
        Some(prev) if gateway.state().store().is_some() => {
            frame.insert("previous_response_id".into(), Value::String(prev));
            Vec::new()
        }
        Some(prev) => {
            let msg = format!(
                "previous response {prev} is not known on this connection; resend the full input"
            );
            let err = error_frame(
                400,
                "invalid_request_error",
                "previous_response_not_found",
                &msg,
            );
            *history = History::default();
            return send_json(socket, &err).await.is_ok();
        }
        None => Vec::new(),
    };
    full.extend(new_items);
    *history = History::default();

    if !generate {
        let model = frame
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut resp = ResponseObject::new(new_response_id(), model, now_secs());
        let created = ResponseEvent::Created {
            response: Box::new(resp.clone()),
        };
        resp.status = ResponseStatus::Completed;
        resp.usage = Some(Default::default());
        let id = resp.id.clone();
        let completed = ResponseEvent::Completed {
            response: Box::new(resp),
        };
        for (seq, ev) in [created, completed].iter().enumerate() {
            if send_event(socket, ev, seq as u64).await.is_err() {
                return false;
            }
        }
        remember(history, id, full, Vec::new());
        return true;
    }

    frame.insert("input".into(), Value::Array(full.clone()));
    frame.insert("stream".into(), Value::Bool(true));
    let model = frame
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let identity = &caller.identity;
    let scope = crate::observe::start_scope(
        gateway,
        headers,
        &caller.request_id,
        identity,
        Ingress::Responses,
        Transport::WebSocket,
    );
    let outcome = match gateway.prepare_frame(identity, path, headers, frame) {
        Ok(mut prepared) => {
            prepared.telemetry = scope.clone();
            // The handshake's headers stand for every response on the connection.
            let cache = CachePolicy::new(&identity.id, headers);
            gateway.respond(identity, prepared, &cache).await
        }
        Err(e) => Err(e),
    };
    // Governance denials arrive as events, so Codex waits, stops or prints as over HTTP.
    let outcome = match outcome {
        Err(e) if crate::ingress::responses_http::is_denial(&e) => {
            Ok(GatewayResponse::stream(gateway.denial_stream(&e, &model)))
        }
        other => other,
    };
    let mut events = match outcome {
        Ok(GatewayResponse {
            body: ResponseBody::Stream(s),
            ..
        }) => s,
        Ok(_) => {
            let e = GatewayError::Internal("expected a stream".into());
            crate::observe::end_with_error(&scope, &e);
            let err = error_frame(500, "server_error", "server_error", "expected a stream");
            return send_json(socket, &err).await.is_ok();
        }
        Err(e) => {
            crate::observe::end_with_error(&scope, &e);
            return send_json(socket, &gateway_error_frame(&e)).await.is_ok();
        }
    };
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { return true };
                match send_stream_event(socket, &ev, seq).await {
                    Ok(next) => seq = next,
                    Err(_) => return false,
                }
                if let Some((id, output)) = finished_output(&ev) {
                    if !from_store {
                        remember(history, id, full, output);
                    }
                    return true;
                }
                if ev.is_terminal() {
                    return true;
                }
            }
            msg = socket.recv() => {
                match msg {
                    // A new frame while a response is streaming is not part of Codex's protocol;
                    // a close or error ends the connection and, by dropping `events`, the upstream call.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                    Some(Ok(_)) => {
                        let err = error_frame(409, "invalid_request_error", "response_in_progress", "a response is still streaming on this connection");
                        if send_json(socket, &err).await.is_err() {
                            return false;
                        }
                    }
                }
            }
        }
    }
}

/// The id and output items of a completed (or incomplete) response, for the history.
fn finished_output(ev: &StreamEvent) -> Option<(String, Vec<Value>)> {
    match ev {
        StreamEvent::Typed(
            ResponseEvent::Completed { response } | ResponseEvent::Incomplete { response },
        ) => Some((
            response.id.clone(),
            response
                .output
                .iter()
                .filter_map(|i| serde_json::to_value(i).ok())
                .collect(),
        )),
        StreamEvent::Typed(_) => None,
        StreamEvent::Raw(raw) => match raw.kind.as_str() {
            "response.completed" | "response.incomplete" => {
                raw.response().map(|r| (r.id, r.output))
            }
            _ => None,
        },
    }
}

fn remember(history: &mut History, id: String, mut full: Vec<Value>, output: Vec<Value>) {
    full.extend(output);
    let approx: usize = full
        .iter()
        .map(ccp_gateway::pipeline::approx_json_len)
        .sum();
    if approx > MAX_HISTORY_BYTES {
        tracing::debug!(approx, "websocket history over the limit; forgetting it");
        *history = History::default();
        return;
    }
    *history = History {
        last_response_id: Some(id),
        items: full,
    };
}

async fn send_stream_event(
    socket: &mut WebSocket,
    ev: &StreamEvent,
    seq: u64,
) -> Result<u64, axum::Error> {
    let mut buf = Vec::with_capacity(256);
    let next = ev.write_json(&mut buf, seq).unwrap_or(seq + 1);
    let text = String::from_utf8(buf).unwrap_or_default();
    socket.send(Message::Text(Utf8Bytes::from(text))).await?;
    Ok(next)
}

async fn send_event(
    socket: &mut WebSocket,
    ev: &ResponseEvent,
    seq: u64,
) -> Result<(), axum::Error> {
    let mut buf = Vec::with_capacity(256);
    let text = match ev.write_sequenced_json(&mut buf, seq) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => String::new(),
    };
    socket.send(Message::Text(Utf8Bytes::from(text))).await
}

async fn send_json(socket: &mut WebSocket, v: &Value) -> Result<(), axum::Error> {
    socket
        .send(Message::Text(Utf8Bytes::from(v.to_string())))
        .await
}

/// `{"type":"error","status":N,"error":{"type","code","message"}}`.
pub fn error_frame(status: u16, error_type: &str, code: &str, message: &str) -> Value {
    json!({"type": "error", "status": status, "error": {"type": error_type, "code": code, "message": message, "param": null}})
}

/// The error object is the HTTP answer's (`GatewayError::body`), so a usage limit keeps the
/// `plan_type` and `resets_at` Codex builds its message from, as over HTTP.
fn gateway_error_frame(e: &GatewayError) -> Value {
    let mut body = e.body();
    json!({"type": "error", "status": e.status(), "error": body["error"].take()})
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
