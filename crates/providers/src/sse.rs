//! Incremental Server-Sent Events decoding of upstream Chat Completions streams.
//!
//! [`SseDecoder`] takes network reads as they come and yields [`SseItem`]s: dispatched events and
//! `:` comments. Comments are reported (not swallowed) so the caller can tell a keep-alive
//! (`: keep-alive`, `: OPENROUTER PROCESSING`) from real progress.
//!
//! Invariants:
//! * Reads may split anywhere, including inside a CRLF pair or a multi-byte UTF-8 character:
//!   bytes are buffered and only complete lines are decoded (`\r`, `\n` and `\r\n` never occur
//!   inside a UTF-8 sequence). Invalid UTF-8 is replaced, never a panic.
//! * Each byte is scanned once; a long line costs linear time however it is split.
//! * Framing follows the WHATWG event-stream rules (`data` lines joined with `\n`, one optional
//!   space after the colon, a blank line dispatches, an event with no `data` is not dispatched,
//!   a leading BOM is ignored), with one leniency: at end of input a final line and event that
//!   lack their terminating newlines are still delivered, since upstreams often omit them.
//!
//! [`parse_chat_data`] classifies an event's `data` as a chunk, `[DONE]`, an in-band error, or
//! garbage.

use ccp_types::chat::ChatChunk;
use serde_json::Value;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any (Chat upstreams rarely send one).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event.
    Event(SseEvent),
    /// A `:` comment line (text after the colon, one leading space removed): a keep-alive, not
    /// progress.
    Comment(String),
}

/// Incremental SSE decoder; see the module docs.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous byte was a `\r`: a `\n` right after it belongs to the same line break.
    after_cr: bool,
    /// The stream start (and a possible BOM) is behind us.
    started: bool,
    data: String,
    /// At least one `data` field was seen for the pending event.
    has_data: bool,
    event: Option<String>,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next network read; returns the items it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseItem> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(end) => {
                    self.line.extend_from_slice(&rest[..end]);
                    self.after_cr = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    self.end_line(&mut out);
                }
                None => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        out
    }

    /// Ends the input: delivers a last unterminated line and event, if any.
    pub fn finish(&mut self) -> Vec<SseItem> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.dispatch(&mut out);
        self.after_cr = false;
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        // The line buffer is lent out and returned (keeping its capacity); valid UTF-8 — the
        // normal case — is borrowed, not copied.
        let mut bytes = std::mem::take(&mut self.line);
        {
            // `from_utf8` (vectorised for ASCII) first; the lossy copy only for invalid bytes.
            let text = match std::str::from_utf8(&bytes) {
                Ok(valid) => std::borrow::Cow::Borrowed(valid),
                Err(_) => String::from_utf8_lossy(&bytes),
            };
            let mut line: &str = &text;
            if !self.started {
                self.started = true;
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            if line.is_empty() {
                self.dispatch(out);
            } else {
                let (field, value) = match line.split_once(':') {
                    Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                    None => (line, ""),
                };
                match field {
                    "" => out.push(SseItem::Comment(value.to_owned())),
                    "data" => {
                        if self.has_data {
                            self.data.push('\n');
                        }
                        self.data.push_str(value);
                        self.has_data = true;
                    }
                    "event" => self.event = Some(value.to_owned()),
                    // `id`, `retry` and unknown fields carry nothing a Chat stream needs.
                    _ => {}
                }
            }
        }
        bytes.clear();
        self.line = bytes;
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let event = self.event.take();
        if std::mem::take(&mut self.has_data) {
            out.push(SseItem::Event(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            }));
        }
    }
}

/// What an event's `data` holds.
// Lives only until the chunk is pushed into the machine; boxing would cost an allocation per
// chunk for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ChatData {
    /// `[DONE]`: the upstream finished.
    Done,
    /// A chunk.
    Chunk(ChatChunk),
    /// An in-band error: the whole JSON payload, for `{"error": …}` (non-null),
    /// `{"object": "error", …}` (vLLM) or `base_resp.status_code != 0` (MiniMax).
    Error(Value),
    /// Not JSON, or JSON that is neither a chunk nor an error; the text says why.
    Malformed(String),
}

/// Classifies the `data` of one upstream event.
pub fn parse_chat_data(data: &str) -> ChatData {
    let data = data.trim();
    if data == "[DONE]" {
        return ChatData::Done;
    }
    match serde_json::from_str::<ChatChunk>(data) {
        Ok(chunk) if !chunk_is_error(&chunk) => ChatData::Chunk(chunk),
        Ok(_) => match serde_json::from_str::<Value>(data) {
            Ok(payload) => ChatData::Error(payload),
            Err(e) => ChatData::Malformed(e.to_string()),
        },
        Err(chunk_error) => match serde_json::from_str::<Value>(data) {
            Ok(payload) if is_error_payload(&payload) => ChatData::Error(payload),
            Ok(_) => ChatData::Malformed(format!("not a chat completion chunk: {chunk_error}")),
            Err(e) => ChatData::Malformed(format!("not JSON: {e}")),
        },
    }
}

fn chunk_is_error(chunk: &ChatChunk) -> bool {
    chunk.error.is_some()
        || chunk.object.as_ref().and_then(Value::as_str) == Some("error")
        || chunk.base_resp.as_ref().is_some_and(base_resp_failed)
}

/// True for the error payloads providers send in place of an answer: `{"error": …}` (non-null),
/// `{"object": "error"}` (vLLM), `base_resp.status_code != 0` (MiniMax). Used for whole JSON
/// bodies as well as stream events.
pub fn is_error_payload(payload: &Value) -> bool {
    payload.get("error").is_some_and(|e| !e.is_null())
        || payload.get("object").and_then(Value::as_str) == Some("error")
        || payload.get("base_resp").is_some_and(base_resp_failed)
}

/// MiniMax `base_resp: {status_code, status_msg}`; 0 (or absent) is success.
fn base_resp_failed(base_resp: &Value) -> bool {
    match base_resp.get("status_code") {
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::String(s)) => s.trim() != "0",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            event: None,
            data: data.to_owned(),
        })
    }

    fn decode_all(parts: &[&[u8]]) -> Vec<SseItem> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in parts {
            out.extend(d.push(p));
        }
        out.extend(d.finish());
        out
    }

    const SAMPLE: &str = "\u{feff}: keep-alive\r\n\r\ndata: {\"a\":\"héllo ✓ 😀\"}\r\n\r\nevent: message\ndata:one\ndata: two\n\nid: 7\nretry: 100\ndata\n\n\rdata: cr only\r\rdata: [DONE]\n\n";

    fn sample_expected() -> Vec<SseItem> {
        vec![
            SseItem::Comment("keep-alive".to_owned()),
            event("{\"a\":\"héllo ✓ 😀\"}"),
            SseItem::Event(SseEvent {
                event: Some("message".to_owned()),
                data: "one\ntwo".to_owned(),
            }),
            event(""),
            event("cr only"),
            event("[DONE]"),
        ]
    }

    #[test]
    fn decodes_mixed_line_endings_comments_and_multiline_data() {
        assert_eq!(decode_all(&[SAMPLE.as_bytes()]), sample_expected());
    }

    #[test]
    fn every_split_point_gives_the_same_items() {
        let bytes = SAMPLE.as_bytes();
        let whole = decode_all(&[bytes]);
        for i in 0..=bytes.len() {
            assert_eq!(
                decode_all(&[&bytes[..i], &bytes[i..]]),
                whole,
                "split at {i}"
            );
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_items() {
        let bytes = SAMPLE.as_bytes();
        let whole = decode_all(&[bytes]);
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                assert_eq!(
                    decode_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                    whole,
                    "splits at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_gives_the_same_items() {
        let parts: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(decode_all(&parts), sample_expected());
    }

    #[test]
    fn items_are_released_as_soon_as_their_blank_line_arrives() {
        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: x\n"), vec![]);
        assert_eq!(
            d.push(b"\n: ping\n"),
            vec![event("x"), SseItem::Comment("ping".to_owned())]
        );
    }

    #[test]
    fn a_crlf_split_between_reads_is_one_line_break() {
        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: x\r"), vec![]);
        assert_eq!(d.push(b"\n\r"), vec![event("x")]);
        assert_eq!(d.push(b"\ndata: y\r\n\r\n"), vec![event("y")]);
    }

    #[test]
    fn an_unterminated_last_event_is_delivered_at_finish() {
        assert_eq!(
            decode_all(&[b"data: {\"x\":1}\n\ndata: [DONE]"]),
            vec![event("{\"x\":1}"), event("[DONE]")]
        );
        assert_eq!(decode_all(&[b"data: a\n"]), vec![event("a")]);
        assert_eq!(
            decode_all(&[b"event: ping\n\n"]),
            vec![],
            "no data, no event"
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            decode_all(&[b"data: a\xffb\n\n"]),
            vec![event("a\u{fffd}b")]
        );
        // A multi-byte char cut off by the end of the stream.
        assert_eq!(decode_all(&[b"data: \xe2\x9c"]), vec![event("\u{fffd}")]);
    }

    #[test]
    fn a_long_line_in_small_reads_is_linear() {
        let payload = "x".repeat(4 << 20);
        let text = format!("data: {payload}\n\n");
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        for part in text.as_bytes().chunks(7) {
            out.extend(d.push(part));
        }
        assert_eq!(out, vec![event(&payload)]);
        // Quadratic rescanning of 600k reads over a 4 MiB line would take minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn classifies_done_chunks_errors_and_garbage() {
        assert!(matches!(parse_chat_data("[DONE]"), ChatData::Done));
        assert!(matches!(parse_chat_data(" [DONE] "), ChatData::Done));
        let ChatData::Chunk(c) =
            parse_chat_data(r#"{"choices":[{"index":0,"delta":{"content":"hi"}}],"error":null}"#)
        else {
            panic!("not a chunk")
        };
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("hi"));
        let ok_minimax = r#"{"choices":[],"base_resp":{"status_code":0,"status_msg":""}}"#;
        assert!(matches!(parse_chat_data(ok_minimax), ChatData::Chunk(_)));

        for payload in [
            r#"{"error":{"message":"overloaded","code":503}}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"error"}],"error":{"message":"upstream"}}"#,
            r#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
            r#"{"id":"x","choices":[],"base_resp":{"status_code":1002,"status_msg":"rate limit"}}"#,
            r#"{"choices":"oops","error":{"message":"shape is wrong too"}}"#,
        ] {
            match parse_chat_data(payload) {
                ChatData::Error(v) => {
                    assert_eq!(v, serde_json::from_str::<Value>(payload).unwrap())
                }
                other => panic!("{payload}: {other:?}"),
            }
        }
        assert!(
            matches!(parse_chat_data("not json"), ChatData::Malformed(m) if m.starts_with("not JSON"))
        );
        assert!(
            matches!(parse_chat_data(r#"{"choices":"oops"}"#), ChatData::Malformed(m) if m.contains("chunk"))
        );
    }
}
