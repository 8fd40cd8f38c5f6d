//! Response bodies of the mocks: the timed SSE stream and the drop guard.
//!
//! An [`SseScript`] is compiled into a flat list of steps (sleep, emit a frame, fail) that an
//! `unfold` stream walks. Failing yields an `Err`, which makes hyper abort the connection without
//! the terminating chunk — what a provider crash looks like to the client. The [`BodyGuard`]
//! lives inside the stream state, so it drops exactly when hyper drops the body.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::stream::{self, Stream};

use super::sse::{SseItem, SseScript};

/// Calls its callback with `(index, completed)` when dropped.
pub(crate) struct BodyGuard {
    index: usize,
    completed: bool,
    on_drop: Option<Box<dyn FnOnce(usize, bool) + Send + Sync>>,
}

impl BodyGuard {
    pub(crate) fn new(
        index: usize,
        on_drop: impl FnOnce(usize, bool) + Send + Sync + 'static,
    ) -> Self {
        Self {
            index,
            completed: false,
            on_drop: Some(Box::new(on_drop)),
        }
    }
}

impl BodyGuard {
    fn mark_completed(&mut self) {
        self.completed = true;
    }
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop(self.index, self.completed);
        }
    }
}

enum Step {
    Sleep(Duration),
    Emit(Bytes),
    Fail,
}

fn frame(item: &SseItem) -> Bytes {
    match item {
        SseItem::Data(payload) => Bytes::from(format!("data: {payload}\n\n")),
        SseItem::Event { event, data } => Bytes::from(format!("event: {event}\ndata: {data}\n\n")),
        SseItem::Comment(text) => Bytes::from(format!(": {text}\n\n")),
        SseItem::Raw(raw) => Bytes::from(raw.clone()),
    }
}

fn plan(script: &SseScript) -> VecDeque<Step> {
    let mut frames: Vec<(bool, Bytes)> = script
        .items
        .iter()
        .map(|item| {
            let is_data = matches!(item, SseItem::Data(_) | SseItem::Event { .. });
            (is_data, frame(item))
        })
        .collect();
    if !script.omit_done {
        frames.push((false, Bytes::from_static(b"data: [DONE]\n\n")));
    }
    let mut steps = VecDeque::new();
    let mut data_sent = 0usize;
    for (position, (is_data, bytes)) in frames.into_iter().enumerate() {
        if script.drop_after == Some(data_sent) {
            push_fail(&mut steps);
            return steps;
        }
        if position == 1 {
            if let Some(silence) = script.silence_after_first {
                steps.push_back(Step::Sleep(silence));
            }
        }
        if position > 0 && !script.chunk_delay.is_zero() {
            steps.push_back(Step::Sleep(script.chunk_delay));
        }
        steps.push_back(Step::Emit(bytes));
        if is_data {
            data_sent += 1;
            for (_, pause) in script.pauses.iter().filter(|(n, _)| *n == data_sent) {
                steps.push_back(Step::Sleep(*pause));
            }
        }
    }
    if script.drop_after.is_some() {
        // Fewer data frames than `drop_after`: still end abruptly, as scripted.
        push_fail(&mut steps);
    }
    steps
}

/// Pause before failing so hyper flushes the frames already emitted (it writes when the body
/// stream is pending); without it headers and frames would vanish with the connection.
const FLUSH_GRACE: Duration = Duration::from_millis(20);

fn push_fail(steps: &mut VecDeque<Step>) {
    steps.push_back(Step::Sleep(FLUSH_GRACE));
    steps.push_back(Step::Fail);
}

/// The SSE body for `script`, ending by dropping `guard`.
pub(crate) fn sse_body(
    script: &SseScript,
    guard: BodyGuard,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    stream::unfold((plan(script), guard), |(mut steps, mut guard)| async move {
        loop {
            match steps.pop_front() {
                Some(Step::Sleep(pause)) => tokio::time::sleep(pause).await,
                Some(Step::Emit(bytes)) => return Some((Ok(bytes), (steps, guard))),
                Some(Step::Fail) => {
                    return Some((
                        Err(io::Error::other("mock upstream: scripted abrupt close")),
                        // Stay failed if polled again: never mark the body completed.
                        (VecDeque::from([Step::Fail]), guard),
                    ));
                }
                None => {
                    guard.mark_completed();
                    return None;
                }
            }
        }
    })
}

/// A single-chunk body that still reports its drop.
pub(crate) fn once_body(
    bytes: Bytes,
    guard: BodyGuard,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let steps = VecDeque::from([Step::Emit(bytes)]);
    stream::unfold((steps, guard), |(mut steps, mut guard)| async move {
        match steps.pop_front() {
            Some(Step::Emit(bytes)) => Some((Ok(bytes), (steps, guard))),
            _ => {
                guard.mark_completed();
                None
            }
        }
    })
}
