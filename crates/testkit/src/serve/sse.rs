//! A scripted Server-Sent-Events answer: the frames plus timing and failure options.
//!
//! Shared by every mock here: [`MockUpstream`](crate::MockUpstream) serves it for Chat streams
//! (ending with `data: [DONE]`), [`ResponsesUpstream`](crate::ResponsesUpstream) compiles its
//! Responses event scripts into one (named `event:` frames, no `[DONE]`). The body that walks it
//! lives in `body.rs`.

use std::time::Duration;

/// One frame of a scripted SSE stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// Framed as `data: {payload}\n\n`.
    Data(String),
    /// Framed as `event: {event}\ndata: {data}\n\n` (the Responses API names every event).
    /// Counts as a data frame for [`SseScript::drop_after`] and [`SseScript::pause_after`].
    Event {
        /// The `event:` line.
        event: String,
        /// The `data:` line.
        data: String,
    },
    /// Framed as `: {text}\n\n` (keep-alive style comment).
    Comment(String),
    /// Written byte-for-byte, for framing edge cases.
    Raw(String),
}

/// A scripted SSE answer: the frames plus timing and failure options (builder style).
#[derive(Debug, Clone)]
pub struct SseScript {
    /// Frames in order; `data: [DONE]` is appended automatically unless [`SseScript::no_done`].
    pub items: Vec<SseItem>,
    /// HTTP status of the stream response (default 200).
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Pause before each frame after the first.
    pub chunk_delay: Duration,
    /// Pause before the response headers are sent.
    pub header_delay: Duration,
    /// Close the connection abruptly (no terminating chunk, no `[DONE]`) after this many
    /// `data:` frames.
    pub drop_after: Option<usize>,
    /// Extra pause after the first frame, before the second one (idle-timeout tests).
    pub silence_after_first: Option<Duration>,
    /// Extra pauses: `(n, pause)` stays silent for `pause` right after the `n`-th data frame
    /// (idle-timeout tests deeper into a stream than `silence_after_first`).
    pub pauses: Vec<(usize, Duration)>,
    /// Do not send the final `data: [DONE]` frame.
    pub omit_done: bool,
}

impl SseScript {
    /// A stream of `data:` frames, one per payload.
    pub fn new<I, S>(payloads: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            items: payloads
                .into_iter()
                .map(|p| SseItem::Data(p.into()))
                .collect(),
            status: 200,
            headers: Vec::new(),
            chunk_delay: Duration::ZERO,
            header_delay: Duration::ZERO,
            drop_after: None,
            silence_after_first: None,
            pauses: Vec::new(),
            omit_done: false,
        }
    }

    /// Pause `delay` before every frame but the first.
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Pause `delay` before sending the response headers.
    pub fn header_delay(mut self, delay: Duration) -> Self {
        self.header_delay = delay;
        self
    }

    /// Abort the connection after `n` data frames.
    pub fn drop_after(mut self, n: usize) -> Self {
        self.drop_after = Some(n);
        self
    }

    /// Stay silent for `pause` after the first frame.
    pub fn silence_after_first(mut self, pause: Duration) -> Self {
        self.silence_after_first = Some(pause);
        self
    }

    /// Stay silent for `pause` right after the `n`-th data frame (`n >= 1`).
    pub fn pause_after(mut self, n: usize, pause: Duration) -> Self {
        self.pauses.push((n, pause));
        self
    }

    /// End the stream cleanly but without `data: [DONE]`.
    pub fn no_done(mut self) -> Self {
        self.omit_done = true;
        self
    }

    /// Respond with this HTTP status instead of 200.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Add a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Append a `data:` frame.
    pub fn data(mut self, payload: impl Into<String>) -> Self {
        self.items.push(SseItem::Data(payload.into()));
        self
    }

    /// Append an `event:` + `data:` frame.
    pub fn event(mut self, event: impl Into<String>, data: impl Into<String>) -> Self {
        self.items.push(SseItem::Event {
            event: event.into(),
            data: data.into(),
        });
        self
    }

    /// Append a `: comment` frame.
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.items.push(SseItem::Comment(text.into()));
        self
    }

    /// Append raw bytes (no framing added).
    pub fn raw(mut self, text: impl Into<String>) -> Self {
        self.items.push(SseItem::Raw(text.into()));
        self
    }

    /// Insert a `: comment` frame before the frame at `index`.
    pub fn comment_at(mut self, index: usize, text: impl Into<String>) -> Self {
        let index = index.min(self.items.len());
        self.items.insert(index, SseItem::Comment(text.into()));
        self
    }

    /// The `data:` payloads, in order (without `[DONE]`).
    pub fn payloads(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|item| match item {
                SseItem::Data(p) | SseItem::Event { data: p, .. } => Some(p.as_str()),
                _ => None,
            })
            .collect()
    }
}
