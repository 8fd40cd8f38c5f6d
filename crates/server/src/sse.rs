//! The one place Responses events become SSE frames; `sequence_number` is assigned here, strictly
//! increasing from 0 per stream. Chat Completions frames are written here too ([`write_chat_frame`]).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ccp_gateway::pipeline::{ChatFrame, ChatStream, EventStream};
use ccp_types::events::{ResponseEvent, StreamEvent};
use futures_util::StreamExt as _;

/// Appends `event: <type>\ndata: <json>\n\n` for one event.
pub fn write_frame(buf: &mut Vec<u8>, event: &ResponseEvent, sequence_number: u64) {
    let start = buf.len();
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(event.kind().as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    if event.write_sequenced_json(buf, sequence_number).is_err() {
        buf.truncate(start);
        buf.extend_from_slice(b"event: response.failed\ndata: {\"type\":\"response.failed\"}");
    }
    buf.extend_from_slice(b"\n\n");
}

/// `event: <type>\ndata: <json>\n\n` for one event.
pub fn frame(event: &ResponseEvent, sequence_number: u64) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    write_frame(&mut buf, event, sequence_number);
    Bytes::from(buf)
}

/// Most events framed into one body chunk: events that are ready together (one upstream chunk
/// often yields several) go out in one write instead of one write each.
const MAX_EVENTS_PER_WRITE: usize = 64;

/// Appends one stream event's frame and returns the next sequence number: a typed event gets
/// `sequence_number`, a relayed one goes out verbatim.
pub fn write_stream_frame(buf: &mut Vec<u8>, event: &StreamEvent, sequence_number: u64) -> u64 {
    match event {
        StreamEvent::Typed(ev) => {
            write_frame(buf, ev, sequence_number);
            sequence_number + 1
        }
        StreamEvent::Raw(raw) => {
            buf.extend_from_slice(b"event: ");
            buf.extend_from_slice(raw.kind.as_bytes());
            buf.extend_from_slice(b"\ndata: ");
            let next = event
                .write_json(buf, sequence_number)
                .unwrap_or(sequence_number + 1);
            buf.extend_from_slice(b"\n\n");
            next
        }
    }
}

/// A streaming HTTP response for an event stream.
pub fn response(events: EventStream) -> Response {
    let mut seq: u64 = 0;
    let body = events.ready_chunks(MAX_EVENTS_PER_WRITE).map(move |batch| {
        let mut buf = Vec::with_capacity(256 * batch.len());
        for ev in &batch {
            seq = write_stream_frame(&mut buf, ev, seq);
        }
        Ok::<Bytes, std::convert::Infallible>(Bytes::from(buf))
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Appends one Chat frame: `data: <json>\n\n`, `data: [DONE]\n\n`, or an SSE comment as a
/// keep-alive (Chat clients ignore comments, unlike Codex).
pub fn write_chat_frame(buf: &mut Vec<u8>, frame: &ChatFrame) {
    match frame {
        ChatFrame::Data(v) => {
            buf.extend_from_slice(b"data: ");
            if serde_json::to_writer(&mut *buf, v).is_err() {
                buf.extend_from_slice(b"{}");
            }
            buf.extend_from_slice(b"\n\n");
        }
        ChatFrame::Relayed(text) => {
            buf.extend_from_slice(b"data: ");
            buf.extend_from_slice(text.as_bytes());
            buf.extend_from_slice(b"\n\n");
        }
        ChatFrame::KeepAlive => buf.extend_from_slice(b": keep-alive\n\n"),
        ChatFrame::Done => buf.extend_from_slice(b"data: [DONE]\n\n"),
    }
}

/// A streaming HTTP response for a Chat Completions stream.
pub fn chat_response(frames: ChatStream) -> Response {
    let body = frames.ready_chunks(MAX_EVENTS_PER_WRITE).map(|batch| {
        let mut buf = Vec::with_capacity(256 * batch.len());
        for frame in &batch {
            write_chat_frame(&mut buf, frame);
        }
        Ok::<Bytes, std::convert::Infallible>(Bytes::from(buf))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}
