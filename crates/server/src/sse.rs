//! The one place Responses events become SSE frames; `sequence_number` is assigned here, strictly
//! increasing from 0 per stream.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ccp_gateway::pipeline::EventStream;
use ccp_types::events::ResponseEvent;
use futures_util::StreamExt as _;

/// `event: <type>\ndata: <json>\n\n` for one event.
pub fn frame(event: &ResponseEvent, sequence_number: u64) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(event.kind().as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    if event
        .write_sequenced_json(&mut buf, sequence_number)
        .is_err()
    {
        buf.truncate(0);
        buf.extend_from_slice(b"event: response.failed\ndata: {\"type\":\"response.failed\"}");
    }
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// A streaming HTTP response for an event stream.
pub fn response(events: EventStream) -> Response {
    let mut seq: u64 = 0;
    let body = events.map(move |ev| {
        let f = frame(&ev, seq);
        seq += 1;
        Ok::<Bytes, std::convert::Infallible>(f)
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
