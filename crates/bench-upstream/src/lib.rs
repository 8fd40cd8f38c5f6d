//! The canned answers of the benchmark upstream, shared by the mock server and the load driver.
//!
//! The mock answers every Chat Completions request with the same text: for an answer of `n`
//! chunks the text is [`canned_text`]`(n)`, the concatenation of [`piece`]`(0..n)`. A streamed
//! answer sends one piece per chunk, then a `finish_reason: "stop"` chunk, a usage chunk and
//! `data: [DONE]`. The driver recomputes the same text to check what the proxy returned, so the
//! two sides can never disagree about the expected answer.
//!
//! Pieces are plain ASCII without quotes or backslashes, so frames are built by formatting,
//! without a JSON serializer, once per chunk count ([`Canned::new`]) and then only cloned.
//!
//! The request is read only as far as needed: [`wants_stream`] looks for a top-level-looking
//! `"stream": true` key, and the answer's shape (chunk count, pacing) comes from the path
//! ([`Shape::from_path`]) or headers, never from the JSON body.

use bytes::Bytes;

/// Words the canned text is made of; cycled when an answer has more chunks than words.
const WORDS: [&str; 16] = [
    "Hello",
    "!",
    " I",
    " am",
    " the",
    " bench",
    " upstream",
    ",",
    " answering",
    " every",
    " request",
    " with",
    " the",
    " same",
    " words",
    ".",
];

/// Chunk count when neither the path, a header nor the command line says otherwise.
pub const DEFAULT_CHUNKS: u32 = 30;

/// Largest accepted chunk count (keeps a typo from building a gigabyte answer).
pub const MAX_CHUNKS: u32 = 100_000;

/// The model name in every answer.
pub const MODEL: &str = "bench-model";

/// Prompt tokens reported in the usage of every answer.
pub const PROMPT_TOKENS: u32 = 12;

/// The text of content chunk `i`.
pub fn piece(i: u32) -> &'static str {
    WORDS[i as usize % WORDS.len()]
}

/// The full answer text for an answer of `chunks` content chunks.
pub fn canned_text(chunks: u32) -> String {
    (0..chunks).map(piece).collect()
}

/// How one answer is shaped: how many content chunks, and how far apart (streaming only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub chunks: u32,
    pub pace_ms: u64,
}

impl Shape {
    /// Reads `chunks-N` and `pace-M` path segments over `base`
    /// (`/chunks-64/pace-20/v1/chat/completions` → 64 chunks, 20 ms apart).
    pub fn from_path(base: Shape, path: &str) -> Shape {
        let mut shape = base;
        for segment in path.split('/') {
            if let Some(n) = segment
                .strip_prefix("chunks-")
                .and_then(|n| n.parse::<u32>().ok())
            {
                shape.chunks = n.min(MAX_CHUNKS);
            } else if let Some(ms) = segment
                .strip_prefix("pace-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                shape.pace_ms = ms;
            }
        }
        shape
    }

    /// Applies the `x-bench-chunks` / `x-bench-pace-ms` header values, when present and numeric.
    pub fn with_headers(self, chunks: Option<&[u8]>, pace_ms: Option<&[u8]>) -> Shape {
        let parse = |v: &[u8]| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let mut shape = self;
        if let Some(n) = chunks.and_then(parse) {
            shape.chunks = u32::try_from(n).unwrap_or(MAX_CHUNKS).min(MAX_CHUNKS);
        }
        if let Some(ms) = pace_ms.and_then(parse) {
            shape.pace_ms = ms;
        }
        shape
    }
}

/// Whether a Chat Completions request body asks for a stream.
///
/// Looks for the key `"stream"` followed by `: true`. In JSON an unescaped `"stream"` followed by
/// a colon can only be an object key, so quoted text inside messages never matches; a nested key
/// of that name with the value `true` would, which no chat request the benchmark sends has.
pub fn wants_stream(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"stream\"";
    let mut rest = body;
    while let Some(at) = find(rest, KEY) {
        let after = trim_start(&rest[at + KEY.len()..]);
        if let Some(value) = after.strip_prefix(b":") {
            if trim_start(value).starts_with(b"true") {
                return true;
            }
        }
        rest = &rest[at + KEY.len()..];
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

/// Every byte the mock sends for one chunk count, built once and then shared.
#[derive(Debug, Clone)]
pub struct Canned {
    /// The non-streaming `chat.completion` body.
    pub json: Bytes,
    /// One SSE frame per content chunk; the first also carries the `role` chunk before it.
    pub frames: Vec<Bytes>,
    /// The closing frames: `finish_reason: "stop"`, usage, `[DONE]`.
    pub tail: Bytes,
}

const ID: &str = "chatcmpl-bench";
const CREATED: u64 = 1_700_000_000;

impl Canned {
    /// Builds the answer bytes for `chunks` content chunks.
    pub fn new(chunks: u32) -> Canned {
        let text = canned_text(chunks);
        let usage = format!(
            r#"{{"prompt_tokens":{PROMPT_TOKENS},"completion_tokens":{chunks},"total_tokens":{}}}"#,
            u64::from(PROMPT_TOKENS) + u64::from(chunks)
        );
        let json = format!(
            r#"{{"id":"{ID}","object":"chat.completion","created":{CREATED},"model":"{MODEL}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}"}},"finish_reason":"stop"}}],"usage":{usage}}}"#
        );
        let chunk = |choices: &str| {
            format!(
                r#"data: {{"id":"{ID}","object":"chat.completion.chunk","created":{CREATED},"model":"{MODEL}","choices":{choices}}}"#
            ) + "\n\n"
        };
        let role = chunk(
            r#"[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]"#,
        );
        let frames = (0..chunks)
            .map(|i| {
                let content = chunk(&format!(
                    r#"[{{"index":0,"delta":{{"content":"{}"}},"finish_reason":null}}]"#,
                    piece(i)
                ));
                if i == 0 {
                    Bytes::from(role.clone() + &content)
                } else {
                    Bytes::from(content)
                }
            })
            .collect::<Vec<_>>();
        let mut tail = chunk(r#"[{"index":0,"delta":{},"finish_reason":"stop"}]"#);
        if chunks == 0 {
            tail = role + &tail;
        }
        tail += &format!(
            r#"data: {{"id":"{ID}","object":"chat.completion.chunk","created":{CREATED},"model":"{MODEL}","choices":[],"usage":{usage}}}"#
        );
        tail += "\n\ndata: [DONE]\n\n";
        Canned {
            json: Bytes::from(json),
            frames,
            tail: Bytes::from(tail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_need_no_json_escaping() {
        for w in WORDS {
            assert!(
                !w.contains('"') && !w.contains('\\') && w.is_ascii(),
                "{w:?}"
            );
        }
    }

    #[test]
    fn canned_text_cycles_the_words() {
        assert_eq!(canned_text(3), "Hello! I");
        assert_eq!(canned_text(17), format!("{}Hello", WORDS.concat()));
        assert_eq!(canned_text(0), "");
    }

    #[test]
    fn stream_flag_is_found_only_as_a_key() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"model":"m", "stream" :  true, "x":1}"#));
        assert!(!wants_stream(br#"{"model":"m","stream":false}"#));
        assert!(!wants_stream(br#"{"model":"m"}"#));
        assert!(!wants_stream(
            br#"{"messages":[{"content":"say \"stream\": true"}],"stream":false}"#
        ));
        assert!(wants_stream(
            br#"{"messages":[{"content":"\"stream\": true"}],"stream":true}"#
        ));
    }

    #[test]
    fn shape_comes_from_path_then_headers() {
        let base = Shape {
            chunks: DEFAULT_CHUNKS,
            pace_ms: 0,
        };
        assert_eq!(Shape::from_path(base, "/v1/chat/completions"), base);
        let paced = Shape::from_path(base, "/chunks-64/pace-20/v1/chat/completions");
        assert_eq!(
            paced,
            Shape {
                chunks: 64,
                pace_ms: 20
            }
        );
        assert_eq!(
            paced.with_headers(Some(b"5"), None),
            Shape {
                chunks: 5,
                pace_ms: 20
            }
        );
        assert_eq!(
            paced.with_headers(Some(b"x"), Some(b" 7 ")),
            Shape {
                chunks: 64,
                pace_ms: 7
            }
        );
        assert_eq!(
            Shape::from_path(base, "/chunks-999999999/v1").chunks,
            MAX_CHUNKS
        );
    }

    /// Decodes the frames the way a client would and checks the text, usage and terminator.
    #[test]
    fn stream_frames_carry_the_canned_text() {
        for chunks in [0, 1, 30] {
            let canned = Canned::new(chunks);
            assert_eq!(canned.frames.len(), chunks as usize);
            let mut all: Vec<u8> = canned.frames.iter().flat_map(|f| f.to_vec()).collect();
            all.extend_from_slice(&canned.tail);
            let text = String::from_utf8(all).unwrap_or_default();
            let mut content = String::new();
            let mut finishes = 0;
            let mut saw_usage = false;
            let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
            assert_eq!(events.last().copied(), Some("data: [DONE]"));
            for event in &events[..events.len() - 1] {
                let data = event.strip_prefix("data: ").unwrap_or_default();
                let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                    content.push_str(c);
                }
                if v["choices"][0]["finish_reason"] == "stop" {
                    finishes += 1;
                }
                saw_usage |= v["usage"]["completion_tokens"] == chunks;
            }
            assert_eq!(content, canned_text(chunks));
            assert_eq!(finishes, 1);
            assert!(saw_usage);
        }
    }

    #[test]
    fn json_answer_is_valid_and_carries_the_text() {
        let canned = Canned::new(30);
        let v: serde_json::Value = serde_json::from_slice(&canned.json).unwrap_or_default();
        assert_eq!(v["choices"][0]["message"]["content"], canned_text(30));
        assert_eq!(v["usage"]["total_tokens"], 42);
    }
}
