//! Chat Completions chunks → Responses streaming events.
//!
//! [`ChatToResponses`] is a synchronous state machine: [`start`](ChatToResponses::start) once,
//! [`push`](ChatToResponses::push) every upstream chunk, then [`finish`](ChatToResponses::finish)
//! when the upstream ended cleanly or [`fail`](ChatToResponses::fail) when it did not. Each call
//! returns the events to send, in order. A thin async adapter elsewhere owns IO and timers; the
//! sequence numbers are assigned by the one writer that frames events.
//!
//! What comes out, per output item (`n` = output index, `S` = response id without `resp_`):
//! * reasoning `rs_S_n`: `output_item.added` → `reasoning_summary_part.added` → per delta both
//!   `reasoning_summary_text.delta` and `reasoning_text.delta` → `reasoning_summary_text.done`,
//!   `reasoning_summary_part.done`, `reasoning_text.done`, `output_item.done`;
//! * message `msg_S_n`: `output_item.added` → `content_part.added` → `output_text.delta`… →
//!   `output_text.done`, `content_part.done`, `output_item.done`;
//! * function call `fc_S_n`: `output_item.added` (once id and name are known) →
//!   `function_call_arguments.delta`… → `function_call_arguments.done`, `output_item.done`;
//! * custom tool call `ctc_S_n`: `output_item.added` → at close one
//!   `custom_tool_call_input.delta` with the whole input, `custom_tool_call_input.done`,
//!   `output_item.done` (the input lives inside JSON arguments, so it cannot stream earlier).
//!
//! Ordering invariants:
//! * At most one text-like item (reasoning or message) is open. It closes when the other kind
//!   starts or when a tool call item is added; a new one opens after it.
//! * Tool call items stay open until the end (fragments of parallel calls interleave) and are
//!   closed in output-index order. Text that arrives after a call began opens a new message item
//!   after the calls; such a text item closes before later items, so `output_item.done` events
//!   can come out of index order, but `response.output` is always in index order.
//! * An output index is assigned when an item is added, so indices are dense and in order.
//! * Whitespace-only text never opens an item on its own; it is held and prepended to the next
//!   text of the same kind, or dropped (`"\n\n"` before a tool call is not a message).
//!
//! Termination: a `finish_reason` is remembered, not acted on, because usage and duplicate finish
//! chunks may follow (OpenRouter). [`finish`](ChatToResponses::finish) maps it:
//! `stop|tool_calls|function_call|end_turn` (and unknown values) → `response.completed`;
//! `length|model_context_window_exceeded|max_tokens` → `response.completed` with status
//! `incomplete` and reason `max_output_tokens`; `content_filter|sensitive` → the same with reason
//! `content_filter`; `network_error|insufficient_system_resource|error` → `response.failed`
//! (`server_error`). No finish reason at all means the answer was truncated → `response.failed`.
//! After a terminal event every call returns nothing.
//!
//! A machine made with [`collect_only`](ChatToResponses::collect_only) goes through the same
//! states but never builds an event: every call returns nothing and only
//! [`response`](ChatToResponses::response) is of interest. [`chat_completion_to_response`] uses it,
//! so a non-streaming answer does not pay for snapshots and deltas nobody reads.

mod calls;
mod items;
pub mod opaque;
mod outcome;
mod reasoning;
#[cfg(test)]
mod tests;

use ccp_types::chat::{ChatChunk, ChatCompletion, ChatUsage, ChunkChoice};
use ccp_types::events::{ResponseError, ResponseEvent, ResponseObject, ResponseStatus};

use crate::think::{Piece, ThinkSplitter};
use crate::tools::ToolNameMap;

use calls::ToolCalls;
use items::{OpenText, TextKind, ITEM_COMPLETED, ITEM_INCOMPLETE};
use reasoning::ReasoningDetails;

/// What the stream conversion needs to know about the request.
#[derive(Debug, Clone)]
pub struct StreamContext {
    /// The Responses id, `resp_…`; item ids are derived from it.
    pub response_id: String,
    /// The model the client asked for, echoed back unchanged.
    pub model: String,
    /// `created_at` of the response (seconds since the epoch).
    pub created_at: u64,
    /// Upstream function names → Responses tools, from the request conversion.
    pub tools: ToolNameMap,
    /// How to read provider quirks in the chunks.
    pub parse: ParseOptions,
}

/// Provider quirks that change how chunks are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Split a leading `<think>…</think>` off `content` into reasoning. Default `true`.
    pub think_tags: bool,
    /// Deltas may be cumulative snapshots (MiniMax): when new text starts with everything
    /// received so far in that field, only the new suffix is used. Default `false`.
    pub cumulative_deltas: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            think_tags: true,
            cumulative_deltas: false,
        }
    }
}

/// Where the machine is in the response lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `start` not yet called.
    NotStarted,
    /// `response.created` sent; chunks are being converted.
    Streaming,
    /// A terminal event was sent.
    Finished,
}

/// Text received so far per field; only filled with `cumulative_deltas`, to undo snapshots.
#[derive(Debug, Default)]
struct Received {
    content: String,
    reasoning: String,
}

/// Events produced by the current call, or none at all in collect-only mode.
#[derive(Debug)]
struct Events {
    queue: Vec<ResponseEvent>,
    /// False in collect-only mode: events are never built.
    enabled: bool,
}

impl Events {
    /// Queues the event `make` builds. In collect-only mode `make` is not called, so whatever it
    /// clones or formats for the event costs nothing; state updates must stay outside `make`.
    fn push(&mut self, make: impl FnOnce() -> ResponseEvent) {
        if self.enabled {
            self.queue.push(make());
        }
    }

    fn take(&mut self) -> Vec<ResponseEvent> {
        std::mem::take(&mut self.queue)
    }
}

/// The Chat → Responses stream state machine; see the module docs.
#[derive(Debug)]
pub struct ChatToResponses {
    tools: ToolNameMap,
    parse: ParseOptions,
    /// Response id without the `resp_` prefix, for item ids.
    id_suffix: String,
    phase: Phase,
    /// The current snapshot; `output` holds completed items only, in output-index order.
    response: ResponseObject,
    /// Output index of each item in `response.output`.
    done_indices: Vec<usize>,
    next_output_index: usize,
    text: OpenText,
    /// Whitespace-only text waiting for a real fragment of the same kind.
    held_whitespace: Option<(TextKind, String)>,
    calls: ToolCalls,
    think: Option<ThinkSplitter>,
    details: ReasoningDetails,
    received: Received,
    usage: Option<ChatUsage>,
    finish_reason: Option<String>,
    out: Events,
}

impl ChatToResponses {
    /// A machine for one response.
    pub fn new(ctx: StreamContext) -> Self {
        Self::with_events(ctx, true)
    }

    /// A machine that only builds the final [`response`](Self::response): it converts exactly
    /// like [`new`](Self::new), but `start`, `push`, `finish` and `fail` always return no events.
    pub fn collect_only(ctx: StreamContext) -> Self {
        Self::with_events(ctx, false)
    }

    fn with_events(ctx: StreamContext, enabled: bool) -> Self {
        let id_suffix = ctx
            .response_id
            .strip_prefix("resp_")
            .unwrap_or(&ctx.response_id)
            .to_owned();
        ChatToResponses {
            think: ctx.parse.think_tags.then(ThinkSplitter::new),
            tools: ctx.tools,
            parse: ctx.parse,
            id_suffix,
            phase: Phase::NotStarted,
            response: ResponseObject::new(ctx.response_id, ctx.model, ctx.created_at),
            done_indices: Vec::new(),
            next_output_index: 0,
            text: OpenText::None,
            held_whitespace: None,
            calls: ToolCalls::default(),
            details: ReasoningDetails::default(),
            received: Received::default(),
            usage: None,
            finish_reason: None,
            out: Events {
                queue: Vec::new(),
                enabled,
            },
        }
    }

    /// `response.created` and `response.in_progress`. Later calls return nothing; `push`,
    /// `finish` and `fail` start the response themselves if needed.
    pub fn start(&mut self) -> Vec<ResponseEvent> {
        self.ensure_started();
        self.take_events()
    }

    /// Converts one upstream chunk. `chunk.error` is ignored: in-band errors are the adapter's
    /// to map, followed by [`fail`](Self::fail).
    pub fn push(&mut self, chunk: ChatChunk) -> Vec<ResponseEvent> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        self.ensure_started();
        self.note_usage(chunk.usage.as_ref());
        for choice in &chunk.choices {
            // We always ask for one choice; a provider echoing more is ignored beyond the first.
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            self.push_choice(choice);
        }
        self.take_events()
    }

    /// The upstream ended cleanly (`[DONE]` or EOF): closes open items and emits the terminal
    /// event chosen by the finish reason (see the module docs).
    pub fn finish(&mut self) -> Vec<ResponseEvent> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        self.ensure_started();
        let Some(reason) = self.finish_reason.clone() else {
            return self.fail(
                "server_error",
                "upstream stream ended before finish_reason (truncated answer)",
            );
        };
        match outcome::classify_finish_reason(&reason) {
            outcome::FinishOutcome::Failed => {
                let message = format!(
                    "upstream ended the answer with finish_reason `{reason}` (provider-side failure); retrying may help"
                );
                self.fail("server_error", &message)
            }
            outcome::FinishOutcome::Completed { incomplete_reason } => {
                self.flush_think();
                // The items still open are the ones the cut-off interrupted.
                self.close_all_items(if incomplete_reason.is_some() {
                    ITEM_INCOMPLETE
                } else {
                    ITEM_COMPLETED
                });
                self.response.status = if incomplete_reason.is_some() {
                    ResponseStatus::Incomplete
                } else {
                    ResponseStatus::Completed
                };
                self.response.incomplete_details =
                    incomplete_reason.map(|r| ccp_types::events::IncompleteDetails {
                        reason: r.to_owned(),
                    });
                self.response.usage = Some(outcome::usage_to_responses(self.usage.as_ref()));
                self.phase = Phase::Finished;
                self.out.push(|| ResponseEvent::Completed {
                    response: Box::new(self.response.clone()),
                });
                self.take_events()
            }
        }
    }

    /// Ends the response with `response.failed` carrying `error{code,message}`. Open items are
    /// not closed: `output` holds only the items already completed.
    pub fn fail(&mut self, code: &str, message: &str) -> Vec<ResponseEvent> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        self.ensure_started();
        self.response.status = ResponseStatus::Failed;
        self.response.error = Some(ResponseError {
            code: code.to_owned(),
            message: message.to_owned(),
        });
        self.response.usage = self
            .usage
            .as_ref()
            .map(|u| outcome::usage_to_responses(Some(u)));
        self.phase = Phase::Finished;
        self.out.push(|| ResponseEvent::Failed {
            response: Box::new(self.response.clone()),
        });
        self.take_events()
    }

    /// A `response.in_progress` event to keep Codex's idle timer from firing (SSE comments do
    /// not reset it). The snapshot omits `output` so keep-alives stay small on long answers.
    pub fn keepalive(&self) -> ResponseEvent {
        self.response.keepalive_event()
    }

    /// True once a terminal event has been returned.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The current response snapshot; final after `finish` or `fail`.
    pub fn response(&self) -> &ResponseObject {
        &self.response
    }

    fn ensure_started(&mut self) {
        if self.phase == Phase::NotStarted {
            self.phase = Phase::Streaming;
            self.out.push(|| ResponseEvent::Created {
                response: Box::new(self.response.clone()),
            });
            self.out.push(|| ResponseEvent::InProgress {
                response: Box::new(self.response.clone()),
            });
        }
    }

    fn take_events(&mut self) -> Vec<ResponseEvent> {
        self.out.take()
    }

    fn note_usage(&mut self, usage: Option<&ChatUsage>) {
        if let Some(u) = usage.filter(|u| u.is_meaningful()) {
            self.usage = Some(u.clone());
        }
    }

    fn push_choice(&mut self, choice: &ChunkChoice) {
        let delta = &choice.delta;
        if let Some(text) = reasoning::pick_reasoning_text(delta) {
            let fresh = self.dedupe(TextKind::Reasoning, &text);
            self.reasoning_text(&fresh);
        }
        if let Some(entries) = &delta.reasoning_details {
            self.note_reasoning_details(entries);
        }
        if let Some(content) = delta.content.as_deref().filter(|c| !c.is_empty()) {
            let fresh = self.dedupe(TextKind::Message, content);
            self.content_fragment(&fresh);
        }
        if let Some(refusal) = delta.refusal.as_deref().filter(|r| !r.is_empty()) {
            // Codex only understands output_text parts; a refusal is shown as text.
            self.message_text(refusal);
        }
        if let Some(fragments) = &delta.tool_calls {
            for fragment in fragments {
                self.tool_call_fragment(fragment);
            }
        }
        self.note_usage(choice.usage.as_ref());
        if let Some(reason) = choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
            self.finish_reason = Some(reason.to_owned());
        }
    }

    /// Returns the new part of `text`, undoing cumulative snapshots when configured.
    fn dedupe(&mut self, kind: TextKind, text: &str) -> String {
        if !self.parse.cumulative_deltas {
            return text.to_owned();
        }
        let received = match kind {
            TextKind::Reasoning => &mut self.received.reasoning,
            TextKind::Message => &mut self.received.content,
        };
        let fresh = strip_snapshot_prefix(received, text).to_owned();
        received.push_str(&fresh);
        fresh
    }

    fn content_fragment(&mut self, text: &str) {
        let pieces = match self.think.as_mut() {
            Some(splitter) => splitter.push(text),
            None => vec![Piece::Content(text.to_owned())],
        };
        self.apply_pieces(pieces);
    }

    fn flush_think(&mut self) {
        if let Some(splitter) = self.think.as_mut() {
            let pieces = splitter.finish();
            self.apply_pieces(pieces);
        }
    }

    fn apply_pieces(&mut self, pieces: Vec<Piece>) {
        for piece in pieces {
            match piece {
                Piece::Reasoning(t) => self.reasoning_text(&t),
                Piece::Content(t) => self.message_text(&t),
            }
        }
    }

    fn alloc_output_index(&mut self) -> usize {
        let n = self.next_output_index;
        self.next_output_index += 1;
        n
    }

    fn item_id(&self, prefix: &str, output_index: usize) -> String {
        format!("{prefix}_{}_{output_index}", self.id_suffix)
    }

    /// Closes every open item in output-index order with the given final status.
    fn close_all_items(&mut self, status: &str) {
        self.open_pending_calls();
        let text_index = self.text.output_index();
        let mut order: Vec<(usize, Option<usize>)> = self
            .calls
            .open_positions()
            .into_iter()
            .map(|(i, p)| (i, Some(p)))
            .collect();
        if let Some(i) = text_index {
            order.push((i, None));
        }
        order.sort_by_key(|(i, _)| *i);
        for (_, call) in order {
            match call {
                Some(position) => self.close_call(position, status),
                None => self.close_text_with_status(status),
            }
        }
    }
}

/// The part of `incoming` not already in `received` when `incoming` is a cumulative snapshot.
fn strip_snapshot_prefix<'a>(received: &str, incoming: &'a str) -> &'a str {
    if !received.is_empty() && incoming.len() >= received.len() && incoming.starts_with(received) {
        &incoming[received.len()..]
    } else {
        incoming
    }
}

/// Converts a non-streaming completion through the same machine (in collect-only mode: no events
/// are built) and returns the final response (status `failed` when the machine failed, e.g. no
/// `finish_reason`).
pub fn chat_completion_to_response(
    completion: ChatCompletion,
    ctx: StreamContext,
) -> ResponseObject {
    chat_chunks_to_response([completion.into_chunk()], ctx)
}

/// The final response for a whole sequence of chunks that ended cleanly, built in collect-only
/// mode (no events).
pub fn chat_chunks_to_response(
    chunks: impl IntoIterator<Item = ChatChunk>,
    ctx: StreamContext,
) -> ResponseObject {
    let mut machine = ChatToResponses::collect_only(ctx);
    for chunk in chunks {
        machine.push(chunk);
    }
    machine.finish();
    machine.response
}
