//! Responses events → `chat.completion.chunk`s (upstreams.md §3.2, §3.5): a synchronous state
//! machine, `push(event) -> Vec<ChatFrame>` and `finish() -> Vec<ChatFrame>`.
//!
//! Invariants: the first chunk carries `role: "assistant"`; every chunk has the same `id`,
//! `created` and `model`; a tool call's first delta carries its `index` (0-based per answer,
//! counted in call order, never the `output_index`), `id`, `type` and `name` with empty
//! `arguments`, later deltas only `index` and an `arguments` piece; `finish_reason` appears once,
//! on a final empty delta; with `include_usage` the usage chunk (empty `choices`) comes last and
//! every other chunk carries `usage: null`. The machine always ends with [`ChatFrame::Done`],
//! after an error frame when the response failed. Relayed upstream events are read leniently:
//! an event the machine does not know is ignored, never an error.

use std::collections::HashMap;

use ccp_types::events::{ResponseEvent, StreamEvent};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{chat_error_body, finish_reason, responses_usage_to_chat, ChatContext};

/// One frame of a Chat stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatFrame {
    /// A `data:` frame: a chunk, or an `{"error":…}` object.
    Data(Value),
    /// A `data:` frame relayed verbatim from a Chat upstream (the passthrough).
    Relayed(String),
    /// Nothing to say yet; the writer may send an SSE comment.
    KeepAlive,
    /// `data: [DONE]`; nothing follows.
    Done,
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No chunk sent yet (the role chunk is due).
    Idle,
    /// The role chunk went out.
    Streaming,
    /// `[DONE]` went out.
    Finished,
}

/// A tool call being streamed.
#[derive(Debug, Clone)]
struct CallState {
    index: u32,
    /// Argument deltas were streamed, so `output_item.done` must not repeat them.
    streamed: bool,
    /// A custom (freeform) call: its input is buffered and sent as `{"input": …}` at the end.
    custom: Option<String>,
}

/// What the machine reads from an event, typed or relayed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventView {
    #[serde(rename = "type")]
    kind: String,
    delta: Option<String>,
    item_id: Option<String>,
    item: Option<Value>,
    response: Option<Value>,
    code: Option<Value>,
    message: Option<String>,
    error: Option<Value>,
}

/// The Responses → Chat stream machine.
#[derive(Debug)]
pub struct ResponsesToChat {
    ctx: ChatContext,
    phase: Phase,
    calls: HashMap<String, CallState>,
    next_call_index: u32,
}

impl ResponsesToChat {
    /// A machine for one answer.
    pub fn new(ctx: ChatContext) -> Self {
        ResponsesToChat {
            ctx,
            phase: Phase::Idle,
            calls: HashMap::new(),
            next_call_index: 0,
        }
    }

    /// True once `[DONE]` went out.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// One event from the gateway's stream, typed or relayed verbatim.
    pub fn push_stream_event(&mut self, event: &StreamEvent) -> Vec<ChatFrame> {
        match event {
            StreamEvent::Typed(e) => self.push(e),
            StreamEvent::Raw(r) => self.push_json(&r.data),
        }
    }

    /// A typed Responses event.
    pub fn push(&mut self, event: &ResponseEvent) -> Vec<ChatFrame> {
        match serde_json::to_value(event).and_then(serde_json::from_value::<EventView>) {
            Ok(view) => self.push_view(view),
            Err(_) => Vec::new(),
        }
    }

    /// The JSON text of a Responses event (a relayed upstream event).
    pub fn push_json(&mut self, data: &str) -> Vec<ChatFrame> {
        match serde_json::from_str::<EventView>(data) {
            Ok(view) => self.push_view(view),
            // Not an object: nothing a Chat client could use.
            Err(_) => Vec::new(),
        }
    }

    /// The event stream ended. If no terminal event came, the answer is cut short: an error
    /// frame, then `[DONE]`.
    pub fn finish(&mut self) -> Vec<ChatFrame> {
        if self.is_finished() {
            return Vec::new();
        }
        self.fail(
            "stream_ended",
            "the upstream stream ended before the response completed",
        )
    }

    /// Ends the stream with an error frame and `[DONE]` (a failure after the first chunk).
    pub fn fail(&mut self, code: &str, message: &str) -> Vec<ChatFrame> {
        if self.is_finished() {
            return Vec::new();
        }
        self.phase = Phase::Finished;
        vec![
            ChatFrame::Data(chat_error_body(code, message)),
            ChatFrame::Done,
        ]
    }

    fn push_view(&mut self, ev: EventView) -> Vec<ChatFrame> {
        if self.is_finished() {
            return Vec::new();
        }
        let mut out = Vec::new();
        match ev.kind.as_str() {
            "response.created" => self.ensure_role(&mut out),
            "response.in_progress" => out.push(ChatFrame::KeepAlive),
            "response.output_text.delta" => {
                self.delta(&mut out, json!({"content": ev.delta.unwrap_or_default()}))
            }
            "response.refusal.delta" => {
                self.delta(&mut out, json!({"refusal": ev.delta.unwrap_or_default()}))
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => self
                .delta(
                    &mut out,
                    json!({"reasoning_content": ev.delta.unwrap_or_default()}),
                ),
            "response.output_item.added" => {
                if let Some(item) = ev.item {
                    self.call_added(&mut out, &item);
                }
            }
            "response.function_call_arguments.delta" => {
                let id = ev.item_id.unwrap_or_default();
                let piece = ev.delta.unwrap_or_default();
                if let Some(call) = self.calls.get_mut(&id) {
                    call.streamed = true;
                    let index = call.index;
                    self.tool_delta(
                        &mut out,
                        json!({"index": index, "function": {"arguments": piece}}),
                    );
                }
            }
            "response.custom_tool_call_input.delta" => {
                let id = ev.item_id.unwrap_or_default();
                if let Some(buf) = self.calls.get_mut(&id).and_then(|c| c.custom.as_mut()) {
                    buf.push_str(&ev.delta.unwrap_or_default());
                }
            }
            "response.output_item.done" => {
                if let Some(item) = ev.item {
                    self.call_done(&mut out, &item);
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = ev.response.unwrap_or_default();
                self.complete(&mut out, &response);
            }
            "response.failed" => {
                let error = ev.response.and_then(|r| r.get("error").cloned());
                let (code, message) = code_and_message(error.as_ref());
                out.extend(self.fail(&code, &message));
            }
            "error" => {
                let source = ev
                    .error
                    .unwrap_or_else(|| json!({"code": ev.code, "message": ev.message}));
                let (code, message) = code_and_message(Some(&source));
                out.extend(self.fail(&code, &message));
            }
            _ => {}
        }
        out
    }

    fn chunk(&self, choices: Value) -> Value {
        let mut chunk = Map::new();
        chunk.insert("id".into(), self.ctx.id.clone().into());
        chunk.insert("object".into(), "chat.completion.chunk".into());
        chunk.insert("created".into(), self.ctx.created.into());
        chunk.insert("model".into(), self.ctx.model.clone().into());
        chunk.insert("choices".into(), choices);
        if self.ctx.include_usage {
            chunk.insert("usage".into(), Value::Null);
        }
        Value::Object(chunk)
    }

    fn ensure_role(&mut self, out: &mut Vec<ChatFrame>) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Streaming;
            let delta = json!({"role": "assistant", "content": ""});
            out.push(ChatFrame::Data(self.chunk(choice(delta, None))));
        }
    }

    fn delta(&mut self, out: &mut Vec<ChatFrame>, delta: Value) {
        self.ensure_role(out);
        out.push(ChatFrame::Data(self.chunk(choice(delta, None))));
    }

    fn tool_delta(&mut self, out: &mut Vec<ChatFrame>, call: Value) {
        self.delta(out, json!({"tool_calls": [call]}));
    }

    fn call_added(&mut self, out: &mut Vec<ChatFrame>, item: &Value) {
        let kind = item.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("function_call" | "custom_tool_call")) {
            return;
        }
        let item_id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        if self.calls.contains_key(item_id) {
            return;
        }
        let index = self.next_call_index;
        self.next_call_index += 1;
        self.calls.insert(
            item_id.to_owned(),
            CallState {
                index,
                streamed: false,
                custom: (kind == Some("custom_tool_call")).then(String::new),
            },
        );
        let first = json!({
            "index": index,
            "id": item.get("call_id").cloned().unwrap_or_default(),
            "type": "function",
            "function": {"name": item.get("name").cloned().unwrap_or_default(), "arguments": ""},
        });
        self.tool_delta(out, first);
    }

    fn call_done(&mut self, out: &mut Vec<ChatFrame>, item: &Value) {
        let kind = item.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("function_call" | "custom_tool_call")) {
            return;
        }
        let item_id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        if !self.calls.contains_key(item_id) {
            // Announced only now (some upstreams skip `output_item.added`).
            self.call_added(out, item);
        }
        let Some(call) = self.calls.get(item_id) else {
            return;
        };
        let index = call.index;
        let rest = match (kind, call.streamed) {
            (Some("custom_tool_call"), _) => {
                let input = item
                    .get("input")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| call.custom.clone())
                    .unwrap_or_default();
                Some(json!({"input": input}).to_string())
            }
            (_, false) => item
                .get("arguments")
                .and_then(Value::as_str)
                .map(str::to_owned),
            (_, true) => None,
        };
        if let Some(args) = rest.filter(|a| !a.is_empty()) {
            self.tool_delta(
                out,
                json!({"index": index, "function": {"arguments": args}}),
            );
        }
    }

    fn complete(&mut self, out: &mut Vec<ChatFrame>, response: &Value) {
        self.ensure_role(out);
        let reason = finish_reason(response, self.next_call_index > 0);
        out.push(ChatFrame::Data(self.chunk(choice(json!({}), Some(reason)))));
        if self.ctx.include_usage {
            let usage = response
                .get("usage")
                .filter(|u| !u.is_null())
                .map(responses_usage_to_chat)
                .unwrap_or_else(|| responses_usage_to_chat(&json!({})));
            let mut last = self.chunk(json!([]));
            last["usage"] = usage;
            out.push(ChatFrame::Data(last));
        }
        self.phase = Phase::Finished;
        out.push(ChatFrame::Done);
    }
}

fn choice(delta: Value, finish: Option<&str>) -> Value {
    json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}])
}

/// `(code, message)` of a Responses error object (lenient: either may be missing).
fn code_and_message(error: Option<&Value>) -> (String, String) {
    let code = error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("server_error")
        .to_owned();
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the upstream response failed")
        .to_owned();
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(include_usage: bool) -> ChatContext {
        ChatContext {
            id: "chatcmpl-test".into(),
            model: "m".into(),
            created: 0,
            include_usage,
        }
    }

    fn run(machine: &mut ResponsesToChat, events: &[Value]) -> Vec<ChatFrame> {
        let mut out = Vec::new();
        for e in events {
            out.extend(machine.push_json(&e.to_string()));
        }
        out.extend(machine.finish());
        out
    }

    fn data(frames: &[ChatFrame]) -> Vec<&Value> {
        frames
            .iter()
            .filter_map(|f| match f {
                ChatFrame::Data(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn text_answer_has_role_first_then_finish_then_usage_then_done() {
        let mut m = ResponsesToChat::new(ctx(true));
        let frames = run(
            &mut m,
            &[
                json!({"type": "response.created", "response": {"id": "resp_1"}}),
                json!({"type": "response.output_text.delta", "item_id": "msg", "delta": "Hi"}),
                json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}}}),
            ],
        );
        let d = data(&frames);
        assert_eq!(d[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(d[1]["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(d[1]["usage"], Value::Null);
        assert_eq!(d[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(d[3]["choices"], json!([]));
        assert_eq!(d[3]["usage"]["total_tokens"], 5);
        assert_eq!(frames.last(), Some(&ChatFrame::Done));
        assert_eq!(frames.iter().filter(|f| **f == ChatFrame::Done).count(), 1);
    }

    #[test]
    fn without_include_usage_no_usage_key_at_all() {
        let mut m = ResponsesToChat::new(ctx(false));
        let frames = run(
            &mut m,
            &[
                json!({"type": "response.completed", "response": {"status": "completed", "usage": {"input_tokens": 1}}}),
            ],
        );
        for d in data(&frames) {
            assert!(d.get("usage").is_none(), "{d}");
        }
    }

    #[test]
    fn a_call_announced_only_at_done_still_gets_id_name_and_arguments() {
        let mut m = ResponsesToChat::new(ctx(false));
        let item = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"});
        let frames = run(
            &mut m,
            &[
                json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
                json!({"type": "response.completed", "response": {"status": "completed"}}),
            ],
        );
        let d = data(&frames);
        assert_eq!(d[1]["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1");
        assert_eq!(
            d[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(d[3]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn an_early_end_is_an_error_frame_then_done() {
        let mut m = ResponsesToChat::new(ctx(false));
        let frames = run(
            &mut m,
            &[json!({"type": "response.output_text.delta", "delta": "x"})],
        );
        let d = data(&frames);
        assert_eq!(
            d.last().map(|v| v["error"]["code"].clone()),
            Some(json!("stream_ended"))
        );
        assert_eq!(frames.last(), Some(&ChatFrame::Done));
        assert!(m
            .push_json("{\"type\":\"response.output_text.delta\",\"delta\":\"late\"}")
            .is_empty());
    }

    #[test]
    fn incomplete_maps_to_length_and_unknown_events_are_ignored() {
        let mut m = ResponsesToChat::new(ctx(false));
        let frames = run(
            &mut m,
            &[
                json!({"type": "codex.rate_limits", "primary": {}}),
                json!("not an object"),
                json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
            ],
        );
        let d = data(&frames);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1]["choices"][0]["finish_reason"], "length");
    }
}
