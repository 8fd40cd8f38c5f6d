//! Anthropic Messages stream events → Responses streaming events.
//!
//! [`AnthropicToResponses`] is a synchronous state machine: [`start`](AnthropicToResponses::start)
//! once, [`push`](AnthropicToResponses::push) every upstream event, then
//! [`finish`](AnthropicToResponses::finish) at the end of the body or
//! [`fail`](AnthropicToResponses::fail) when the upstream failed (an `error` event is the adapter's
//! to classify: `push` ignores it). Each call returns the events to send, in order.
//!
//! Anthropic streams one content block at a time (`content_block_start`, deltas,
//! `content_block_stop`); each block becomes one output item (`n` = output index, `S` = response
//! id without `resp_`):
//! * `text` → message `msg_S_n`: `output_item.added`, `content_part.added`, `output_text.delta`…,
//!   then `output_text.done`, `content_part.done`, `output_item.done`. A block whose text is only
//!   whitespace opens no item.
//! * `thinking` → reasoning `rs_S_n`: `output_item.added`, `reasoning_summary_part.added`,
//!   `reasoning_summary_text.delta`… (Codex shows summaries), then the `*.done` events and
//!   `output_item.done` whose `encrypted_content` holds the block with its signature
//!   ([`super::encode_thinking_blocks`]), so Codex sends it back for the next request.
//!   `redacted_thinking` → the same item at once, with an empty summary.
//! * `tool_use` → `function_call` `fc_S_n` (arguments streamed as `function_call_arguments.delta`)
//!   or, for a freeform tool, `custom_tool_call` `ctc_S_n` whose `input` is sent whole at the
//!   block's end (it lives inside the JSON). Names map back through the [`ToolNameMap`]:
//!   namespaces restored, `call_id` = the `tool_use` id. No arguments at all → `"{}"`.
//! * other block types (server tools, …) are skipped; output indices stay dense.
//!
//! Termination: `message_delta` carries `stop_reason` and cumulative usage (latest values win);
//! `message_stop` (or the end of the body after a `stop_reason`) → `response.completed` with
//! status `completed` for `end_turn`/`stop_sequence`/`tool_use`, `incomplete` with reason
//! `max_output_tokens` for `max_tokens`/`model_context_window_exceeded`, `content_filter` for
//! `refusal`, `pause_turn` for `pause_turn`. No `stop_reason` at the end → `response.failed`
//! (truncated). Usage: input = `input_tokens` + both cache counts, cached = both cache counts
//! (the read and the newly written prefix were both served through the cache).

use ccp_types::anthropic::{BlockDelta, ContentBlock, MessageResponse, StreamEvent, Usage};
use ccp_types::events::{
    IncompleteDetails, InputTokensDetails, OutputCustomToolCall, OutputFunctionCall, OutputItem,
    OutputMessage, OutputReasoning, OutputText, OutputTokensDetails, Part, ResponseError,
    ResponseEvent, ResponseObject, ResponseStatus, ResponseUsage, SummaryText,
};

use super::encode_thinking_blocks;
use crate::tools::{ToolNameMap, ToolOrigin};

/// What the stream conversion needs to know about the request.
#[derive(Debug, Clone)]
pub struct AnthropicStreamContext {
    /// The Responses id, `resp_…`; item ids derive from it.
    pub response_id: String,
    /// The model the client asked for, echoed back.
    pub model: String,
    pub created_at: u64,
    /// Upstream tool names → Responses tools, from the request conversion.
    pub tools: ToolNameMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Streaming,
    Finished,
}

/// The block being streamed.
#[derive(Debug)]
enum Open {
    None,
    /// `item` is `None` until non-whitespace text arrives.
    Text {
        item: Option<(String, usize)>,
        text: String,
    },
    Thinking {
        id: String,
        output_index: usize,
        thinking: String,
        signature: String,
    },
    Call {
        id: String,
        output_index: usize,
        call_id: String,
        origin: ToolOrigin,
        /// `input` of `content_block_start` (a whole answer has it there, a stream has `{}`).
        start_input: String,
        arguments: String,
    },
}

/// The Messages → Responses stream state machine; see the module docs.
#[derive(Debug)]
pub struct AnthropicToResponses {
    tools: ToolNameMap,
    id_suffix: String,
    phase: Phase,
    response: ResponseObject,
    next_output_index: usize,
    open: Open,
    usage: Usage,
    stop_reason: Option<String>,
    out: Vec<ResponseEvent>,
}

impl AnthropicToResponses {
    /// A machine for one response.
    pub fn new(ctx: AnthropicStreamContext) -> Self {
        let id_suffix = ctx
            .response_id
            .strip_prefix("resp_")
            .unwrap_or(&ctx.response_id)
            .to_owned();
        AnthropicToResponses {
            tools: ctx.tools,
            id_suffix,
            phase: Phase::NotStarted,
            response: ResponseObject::new(ctx.response_id, ctx.model, ctx.created_at),
            next_output_index: 0,
            open: Open::None,
            usage: Usage::default(),
            stop_reason: None,
            out: Vec::new(),
        }
    }

    /// `response.created` and `response.in_progress` (once).
    pub fn start(&mut self) -> Vec<ResponseEvent> {
        self.ensure_started();
        std::mem::take(&mut self.out)
    }

    /// Converts one upstream event. `ping`, `error` and unknown events produce nothing.
    pub fn push(&mut self, event: StreamEvent) -> Vec<ResponseEvent> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        self.ensure_started();
        match event {
            StreamEvent::MessageStart { message } => self.note_usage(&message.usage),
            StreamEvent::ContentBlockStart { content_block, .. } => self.block_start(content_block),
            StreamEvent::ContentBlockDelta { delta, .. } => self.block_delta(delta),
            StreamEvent::ContentBlockStop { .. } => self.close_block("completed"),
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.note_usage(&u);
                }
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
            }
            StreamEvent::MessageStop => return self.finish(),
            StreamEvent::Ping | StreamEvent::Error { .. } | StreamEvent::Unknown => {}
        }
        std::mem::take(&mut self.out)
    }

    /// The upstream ended (`message_stop` or the end of the body): the terminal event chosen by
    /// the `stop_reason` (see the module docs).
    pub fn finish(&mut self) -> Vec<ResponseEvent> {
        if self.phase == Phase::Finished {
            return Vec::new();
        }
        self.ensure_started();
        let Some(reason) = self.stop_reason.clone() else {
            return self.fail(
                "server_error",
                "upstream stream ended before its stop_reason (truncated answer)",
            );
        };
        let incomplete = match reason.as_str() {
            "max_tokens" | "model_context_window_exceeded" => Some("max_output_tokens"),
            "refusal" => Some("content_filter"),
            "pause_turn" => Some("pause_turn"),
            _ => None,
        };
        self.close_block(if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        });
        self.response.status = if incomplete.is_some() {
            ResponseStatus::Incomplete
        } else {
            ResponseStatus::Completed
        };
        self.response.incomplete_details = incomplete.map(|r| IncompleteDetails {
            reason: r.to_owned(),
        });
        self.response.usage = Some(usage_to_responses(&self.usage));
        self.phase = Phase::Finished;
        self.out.push(ResponseEvent::Completed {
            response: Box::new(self.response.clone()),
        });
        std::mem::take(&mut self.out)
    }

    /// Ends the response with `response.failed` carrying `error{code,message}`; `output` keeps the
    /// items already completed.
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
        if self.usage != Usage::default() {
            self.response.usage = Some(usage_to_responses(&self.usage));
        }
        self.phase = Phase::Finished;
        self.out.push(ResponseEvent::Failed {
            response: Box::new(self.response.clone()),
        });
        std::mem::take(&mut self.out)
    }

    /// A `response.in_progress` keep-alive (without `output`, to stay small).
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
            self.out.push(ResponseEvent::Created {
                response: Box::new(self.response.clone()),
            });
            self.out.push(ResponseEvent::InProgress {
                response: Box::new(self.response.clone()),
            });
        }
    }

    fn note_usage(&mut self, u: &Usage) {
        let fields = [
            (&mut self.usage.input_tokens, u.input_tokens),
            (&mut self.usage.output_tokens, u.output_tokens),
            (
                &mut self.usage.cache_creation_input_tokens,
                u.cache_creation_input_tokens,
            ),
            (
                &mut self.usage.cache_read_input_tokens,
                u.cache_read_input_tokens,
            ),
        ];
        for (slot, value) in fields {
            if value.is_some() {
                *slot = value;
            }
        }
    }

    fn alloc(&mut self, prefix: &str) -> (String, usize) {
        let n = self.next_output_index;
        self.next_output_index += 1;
        (format!("{prefix}_{}_{n}", self.id_suffix), n)
    }

    fn block_start(&mut self, block: ContentBlock) {
        // Blocks never overlap; a start without the previous stop closes that one.
        self.close_block("completed");
        match block {
            ContentBlock::Text { text, .. } => {
                self.open = Open::Text {
                    item: None,
                    text: String::new(),
                };
                self.text_delta(&text);
            }
            ContentBlock::Thinking {
                thinking,
                signature,
            } => {
                let (id, output_index) = self.alloc("rs");
                self.out.push(ResponseEvent::OutputItemAdded {
                    output_index,
                    item: OutputItem::Reasoning(reasoning_item(&id, Vec::new(), None)),
                });
                self.out.push(ResponseEvent::ReasoningSummaryPartAdded {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: Part::SummaryText {
                        text: String::new(),
                    },
                });
                self.open = Open::Thinking {
                    id,
                    output_index,
                    thinking: String::new(),
                    signature,
                };
                self.thinking_delta(&thinking);
            }
            block @ ContentBlock::RedactedThinking { .. } => {
                let (id, output_index) = self.alloc("rs");
                let item = reasoning_item(&id, Vec::new(), Some(encode_thinking_blocks(&[block])));
                self.out.push(ResponseEvent::OutputItemAdded {
                    output_index,
                    item: OutputItem::Reasoning(item.clone()),
                });
                self.item_done(output_index, OutputItem::Reasoning(item));
            }
            ContentBlock::ToolUse {
                id: call_id,
                name,
                input,
                ..
            } => self.open_call(call_id, &name, input),
            other => tracing::debug!(block = ?other, "skipping an unsupported content block"),
        }
    }

    fn open_call(&mut self, call_id: String, name: &str, input: serde_json::Value) {
        let origin = self
            .tools
            .resolve(name)
            .cloned()
            .unwrap_or_else(|| ToolOrigin::Function {
                namespace: None,
                name: name.to_owned(),
            });
        let start_input = match &input {
            serde_json::Value::Object(m) if !m.is_empty() => input.to_string(),
            _ => String::new(),
        };
        let (id, output_index) = match origin {
            ToolOrigin::Custom { .. } => self.alloc("ctc"),
            ToolOrigin::Function { .. } => self.alloc("fc"),
        };
        let item = call_item(&id, &call_id, &origin, String::new(), "in_progress");
        self.out
            .push(ResponseEvent::OutputItemAdded { output_index, item });
        self.open = Open::Call {
            id,
            output_index,
            call_id,
            origin,
            start_input,
            arguments: String::new(),
        };
    }

    fn block_delta(&mut self, delta: BlockDelta) {
        match delta {
            BlockDelta::TextDelta { text } => self.text_delta(&text),
            BlockDelta::ThinkingDelta { thinking } => self.thinking_delta(&thinking),
            BlockDelta::SignatureDelta { signature: s } => {
                if let Open::Thinking { signature, .. } = &mut self.open {
                    signature.push_str(&s);
                }
            }
            BlockDelta::InputJsonDelta { partial_json } => {
                let Open::Call {
                    id,
                    output_index,
                    origin,
                    arguments,
                    ..
                } = &mut self.open
                else {
                    return;
                };
                arguments.push_str(&partial_json);
                if matches!(origin, ToolOrigin::Function { .. }) && !partial_json.is_empty() {
                    self.out.push(ResponseEvent::FunctionCallArgumentsDelta {
                        item_id: id.clone(),
                        output_index: *output_index,
                        delta: partial_json,
                    });
                }
            }
            BlockDelta::Unknown => {}
        }
    }

    fn text_delta(&mut self, delta: &str) {
        let Open::Text { item, text } = &mut self.open else {
            return;
        };
        text.push_str(delta);
        if item.is_none() {
            if text.trim().is_empty() {
                return;
            }
            let whole = text.clone();
            let (id, output_index) = self.alloc("msg");
            self.out.push(ResponseEvent::OutputItemAdded {
                output_index,
                item: OutputItem::Message(OutputMessage {
                    id: id.clone(),
                    status: "in_progress".to_owned(),
                    role: "assistant".to_owned(),
                    content: Vec::new(),
                }),
            });
            self.out.push(ResponseEvent::ContentPartAdded {
                item_id: id.clone(),
                output_index,
                content_index: 0,
                part: text_part(String::new()),
            });
            self.push_text_delta(&id, output_index, whole);
            if let Open::Text { item, .. } = &mut self.open {
                *item = Some((id, output_index));
            }
        } else if let Some((id, output_index)) = item.clone() {
            if !delta.is_empty() {
                self.push_text_delta(&id, output_index, delta.to_owned());
            }
        }
    }

    fn push_text_delta(&mut self, id: &str, output_index: usize, delta: String) {
        self.out.push(ResponseEvent::OutputTextDelta {
            item_id: id.to_owned(),
            output_index,
            content_index: 0,
            delta,
            logprobs: Vec::new(),
        });
    }

    fn thinking_delta(&mut self, delta: &str) {
        let Open::Thinking {
            id,
            output_index,
            thinking,
            ..
        } = &mut self.open
        else {
            return;
        };
        if delta.is_empty() {
            return;
        }
        thinking.push_str(delta);
        self.out.push(ResponseEvent::ReasoningSummaryTextDelta {
            item_id: id.clone(),
            output_index: *output_index,
            summary_index: 0,
            delta: delta.to_owned(),
        });
    }

    /// Closes the open block with its `*.done` events; `status` is a message's final status.
    fn close_block(&mut self, status: &str) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None | Open::Text { item: None, .. } => {}
            Open::Text {
                item: Some((id, output_index)),
                text,
            } => {
                self.out.push(ResponseEvent::OutputTextDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    text: text.clone(),
                    logprobs: Vec::new(),
                });
                self.out.push(ResponseEvent::ContentPartDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    part: text_part(text.clone()),
                });
                let item = OutputItem::Message(OutputMessage {
                    id,
                    status: status.to_owned(),
                    role: "assistant".to_owned(),
                    content: vec![OutputText::new(text)],
                });
                self.item_done(output_index, item);
            }
            Open::Thinking {
                id,
                output_index,
                thinking,
                signature,
            } => {
                self.out.push(ResponseEvent::ReasoningSummaryTextDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    text: thinking.clone(),
                });
                self.out.push(ResponseEvent::ReasoningSummaryPartDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: Part::SummaryText {
                        text: thinking.clone(),
                    },
                });
                let blob = encode_thinking_blocks(&[ContentBlock::Thinking {
                    thinking: thinking.clone(),
                    signature,
                }]);
                let summary = vec![SummaryText::new(thinking)];
                let item = reasoning_item(&id, summary, Some(blob));
                self.item_done(output_index, OutputItem::Reasoning(item));
            }
            Open::Call {
                id,
                output_index,
                call_id,
                origin,
                start_input,
                arguments,
            } => {
                let arguments = match (arguments.is_empty(), start_input.is_empty()) {
                    (false, _) => arguments,
                    (true, false) => start_input,
                    (true, true) => "{}".to_owned(),
                };
                self.close_call(id, output_index, call_id, origin, arguments, status);
            }
        }
    }

    fn close_call(
        &mut self,
        id: String,
        output_index: usize,
        call_id: String,
        origin: ToolOrigin,
        arguments: String,
        status: &str,
    ) {
        let payload = match &origin {
            ToolOrigin::Custom { .. } => {
                let input = freeform_input(&arguments);
                self.out.push(ResponseEvent::CustomToolCallInputDelta {
                    item_id: id.clone(),
                    output_index,
                    call_id: call_id.clone(),
                    delta: input.clone(),
                });
                self.out.push(ResponseEvent::CustomToolCallInputDone {
                    item_id: id.clone(),
                    output_index,
                    call_id: call_id.clone(),
                    input: input.clone(),
                });
                input
            }
            ToolOrigin::Function { name, .. } => {
                self.out.push(ResponseEvent::FunctionCallArgumentsDone {
                    item_id: id.clone(),
                    output_index,
                    name: name.clone(),
                    arguments: arguments.clone(),
                });
                arguments
            }
        };
        let status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let item = call_item(&id, &call_id, &origin, payload, status);
        self.item_done(output_index, item);
    }

    fn item_done(&mut self, output_index: usize, item: OutputItem) {
        self.response.output.push(item.clone());
        self.out
            .push(ResponseEvent::OutputItemDone { output_index, item });
    }
}

/// The freeform text of a custom tool's arguments (`{"input": "…"}`); arguments that are not
/// that shape are passed on as they are, so the tool reports the problem.
fn freeform_input(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) => match v.get("input") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => arguments.to_owned(),
        },
        Err(_) => arguments.to_owned(),
    }
}

fn text_part(text: String) -> Part {
    Part::OutputText {
        text,
        annotations: Vec::new(),
        logprobs: Vec::new(),
    }
}

fn reasoning_item(id: &str, summary: Vec<SummaryText>, blob: Option<String>) -> OutputReasoning {
    OutputReasoning {
        id: id.to_owned(),
        summary,
        content: None,
        encrypted_content: blob,
        status: None,
    }
}

fn call_item(
    id: &str,
    call_id: &str,
    origin: &ToolOrigin,
    payload: String,
    status: &str,
) -> OutputItem {
    match origin {
        ToolOrigin::Function { namespace, name } => OutputItem::FunctionCall(OutputFunctionCall {
            id: id.to_owned(),
            call_id: call_id.to_owned(),
            name: name.clone(),
            namespace: namespace.clone(),
            arguments: payload,
            status: status.to_owned(),
        }),
        ToolOrigin::Custom { name, namespace } => {
            OutputItem::CustomToolCall(OutputCustomToolCall {
                id: id.to_owned(),
                call_id: call_id.to_owned(),
                name: name.clone(),
                namespace: namespace.clone(),
                input: payload,
                status: status.to_owned(),
            })
        }
    }
}

/// Anthropic usage → Responses usage (see the module docs).
pub fn usage_to_responses(u: &Usage) -> ResponseUsage {
    let cached =
        u.cache_read_input_tokens.unwrap_or(0) + u.cache_creation_input_tokens.unwrap_or(0);
    let input_tokens = u.input_tokens.unwrap_or(0) + cached;
    let output_tokens = u.output_tokens.unwrap_or(0);
    ResponseUsage {
        input_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: cached,
        },
        output_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: 0,
        },
        total_tokens: input_tokens.saturating_add(output_tokens),
    }
}

/// The stream events a whole (non-streaming) answer stands for, so it goes through the same
/// machine: `message_start`, each block as start/delta/stop, `message_delta`, `message_stop`.
pub fn message_to_events(message: MessageResponse) -> Vec<StreamEvent> {
    let MessageResponse {
        id,
        model,
        content,
        stop_reason,
        usage,
    } = message;
    let mut events = vec![StreamEvent::MessageStart {
        message: MessageResponse {
            id,
            model,
            content: Vec::new(),
            stop_reason: None,
            usage: usage.clone(),
        },
    }];
    for (index, block) in content.into_iter().enumerate() {
        events.push(StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        });
        events.push(StreamEvent::ContentBlockStop { index });
    }
    events.push(StreamEvent::MessageDelta {
        delta: ccp_types::anthropic::MessageDelta {
            stop_reason,
            stop_sequence: None,
        },
        usage: Some(usage),
    });
    events.push(StreamEvent::MessageStop);
    events
}

/// The final response of a whole (non-streaming) answer.
pub fn message_to_response(
    message: MessageResponse,
    ctx: AnthropicStreamContext,
) -> ResponseObject {
    let mut machine = AnthropicToResponses::new(ctx);
    for event in message_to_events(message) {
        machine.push(event);
    }
    machine.finish();
    machine.response
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
