//! What an answer looks like to the driver: SSE event framing, cheap classification of events
//! while timing, and the full correctness check of sampled answers afterwards.
//!
//! Classification runs on every event of every timed answer, so it is a substring test, never a
//! JSON parse. The check parses everything, but only for the sampled answers and only after the
//! run, so it never delays a measurement.

use clap::ValueEnum;
use serde_json::Value;

/// The dialect of the answers a run expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Chat Completions, non-streaming (the mock directly).
    ChatJson,
    /// Chat Completions SSE (the mock directly).
    ChatSse,
    /// Responses, one JSON `Response`.
    ResponsesJson,
    /// Responses SSE events.
    ResponsesSse,
    /// Responses events over WebSocket, one event per text frame.
    ResponsesWs,
}

impl Kind {
    pub fn is_streaming(self) -> bool {
        matches!(self, Kind::ChatSse | Kind::ResponsesSse | Kind::ResponsesWs)
    }

    /// Whether one event carries answer text (a content delta).
    pub fn is_content(self, event: &[u8]) -> bool {
        match self {
            Kind::ChatSse => {
                const KEY: &[u8] = b"\"content\":\"";
                find(event, KEY)
                    .is_some_and(|at| event.get(at + KEY.len()).is_some_and(|&b| b != b'"'))
            }
            Kind::ResponsesSse | Kind::ResponsesWs => {
                find(event, b"response.output_text.delta").is_some()
            }
            Kind::ChatJson | Kind::ResponsesJson => false,
        }
    }

    /// Whether one WebSocket event ends the response.
    pub fn is_terminal_ws_event(event: &[u8]) -> bool {
        [
            &b"\"response.completed\""[..],
            b"\"response.failed\"",
            b"\"response.incomplete\"",
            b"\"type\":\"error\"",
        ]
        .iter()
        .any(|needle| find(event, needle).is_some())
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Splits an SSE byte stream into events (blocks ended by a blank line), across reads.
#[derive(Debug, Default)]
pub struct SseSplitter {
    pending: Vec<u8>,
}

impl SseSplitter {
    /// Feeds bytes; calls `on_event` for every event completed by them.
    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(at) = find_blank_line(&self.pending[start..]) {
            let (end, sep) = at;
            on_event(&self.pending[start..start + end]);
            start += end + sep;
        }
        self.pending.drain(..start);
    }
}

/// Position and length of the first blank-line separator (`\n\n` or `\r\n\r\n`).
fn find_blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let lf = find(bytes, b"\n\n").map(|i| (i, 2));
    let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `data:` payload of one SSE event (multi-line data joined with `\n`).
fn event_data(event: &str) -> Option<String> {
    let lines: Vec<&str> = event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Checks one complete answer (the raw body, or the WebSocket frames joined by blank lines)
/// against the text the mock sent.
pub fn check_answer(kind: Kind, body: &[u8], expected: &str) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("answer is not UTF-8: {e}"))?;
    let got = match kind {
        Kind::ChatJson => {
            let v: Value =
                serde_json::from_str(text).map_err(|e| format!("answer is not JSON: {e}"))?;
            v["choices"][0]["message"]["content"]
                .as_str()
                .map(str::to_owned)
                .ok_or("no choices[0].message.content")?
        }
        Kind::ResponsesJson => {
            let v: Value =
                serde_json::from_str(text).map_err(|e| format!("answer is not JSON: {e}"))?;
            if v["status"] != "completed" {
                return Err(format!("status is {}, not \"completed\"", v["status"]));
            }
            v["output"][0]["content"][0]["text"]
                .as_str()
                .map(str::to_owned)
                .ok_or("no output[0].content[0].text")?
        }
        Kind::ChatSse => {
            let mut content = String::new();
            let mut done = false;
            for data in text.split("\n\n").filter_map(event_data) {
                if done {
                    return Err("events after [DONE]".into());
                }
                if data.trim() == "[DONE]" {
                    done = true;
                    continue;
                }
                let v: Value = serde_json::from_str(&data)
                    .map_err(|e| format!("chunk is not JSON: {e}: {data}"))?;
                if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                    content.push_str(c);
                }
            }
            if !done {
                return Err("stream did not end with [DONE]".into());
            }
            content
        }
        Kind::ResponsesSse | Kind::ResponsesWs => {
            let mut content = String::new();
            let mut last_type = String::new();
            // Some servers end a Responses stream with the Chat-style `[DONE]` sentinel too;
            // it carries nothing, so it is skipped rather than counted against them.
            let events = text.split("\n\n").filter_map(event_data);
            for data in events.filter(|d| d.trim() != "[DONE]") {
                let v: Value = serde_json::from_str(&data)
                    .map_err(|e| format!("event is not JSON: {e}: {data}"))?;
                let ty = v["type"].as_str().unwrap_or_default();
                if ty == "response.output_text.delta" {
                    content.push_str(v["delta"].as_str().unwrap_or_default());
                }
                last_type = ty.to_owned();
            }
            if last_type != "response.completed" {
                return Err(format!(
                    "stream ended with {last_type:?}, not response.completed"
                ));
            }
            content
        }
    };
    if got == expected {
        Ok(())
    } else {
        Err(format!("text {got:?} is not the canned {expected:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_handles_split_reads() {
        let mut s = SseSplitter::default();
        let mut events = Vec::new();
        for part in ["data: a\n", "\ndata: b\n\nda", "ta: c\r\n\r\n", "data: d"] {
            s.push(part.as_bytes(), |e| {
                events.push(String::from_utf8_lossy(e).into_owned())
            });
        }
        assert_eq!(events, ["data: a", "data: b", "data: c"]);
    }

    #[test]
    fn classification() {
        assert!(Kind::ChatSse.is_content(br#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#));
        assert!(!Kind::ChatSse
            .is_content(br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#));
        assert!(Kind::ResponsesSse.is_content(b"event: response.output_text.delta\ndata: {}"));
        assert!(!Kind::ResponsesSse.is_content(b"event: response.output_text.done\ndata: {}"));
        assert!(Kind::is_terminal_ws_event(
            br#"{"type":"response.completed"}"#
        ));
        assert!(!Kind::is_terminal_ws_event(
            br#"{"type":"response.created"}"#
        ));
    }

    #[test]
    fn checks_chat_stream_from_the_mock() {
        let canned = bench_upstream::Canned::new(5);
        let mut body: Vec<u8> = canned.frames.iter().flat_map(|f| f.to_vec()).collect();
        body.extend_from_slice(&canned.tail);
        let expected = bench_upstream::canned_text(5);
        assert_eq!(check_answer(Kind::ChatSse, &body, &expected), Ok(()));
        assert!(check_answer(Kind::ChatSse, &body, "other").is_err());
        assert!(check_answer(Kind::ChatSse, &body[..body.len() - 16], &expected).is_err());
        assert_eq!(
            check_answer(Kind::ChatJson, &canned.json, &expected),
            Ok(())
        );
    }

    #[test]
    fn checks_responses_answers() {
        let json = br#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hi there"}]}]}"#;
        assert_eq!(check_answer(Kind::ResponsesJson, json, "Hi there"), Ok(()));
        assert!(check_answer(Kind::ResponsesJson, json, "Hi").is_err());
        let sse = "event: response.created\ndata: {\"type\":\"response.created\"}\n\n\
                   event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n\
                   data: {\"type\":\"response.output_text.delta\",\"delta\":\" there\"}\n\n\
                   event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n";
        assert_eq!(
            check_answer(Kind::ResponsesSse, sse.as_bytes(), "Hi there"),
            Ok(())
        );
        let cut = &sse[..sse.find("event: response.completed").unwrap_or(0)];
        assert!(check_answer(Kind::ResponsesSse, cut.as_bytes(), "Hi there").is_err());
        let with_done = format!("{sse}data: [DONE]\n\n");
        assert_eq!(
            check_answer(Kind::ResponsesSse, with_done.as_bytes(), "Hi there"),
            Ok(())
        );
    }
}
