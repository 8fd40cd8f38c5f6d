//! Compiles a [`ResponseStream`] into the exact Responses events the OpenAI API would send for
//! it, and into the `Response` object a non-streaming request gets.
//!
//! The sequence per item follows the OpenAI API (providers.md §2.2/§2.4): `output_item.added`,
//! then the item's parts and deltas and their `*.done` events, then `output_item.done`; the
//! stream opens with `response.created` + `response.in_progress` and closes with exactly one
//! terminal event whose `response` carries the full output and usage. Every standard event has
//! `sequence_number`, strictly increasing from 0; quirk events (`codex.rate_limits`,
//! `keepalive`) have none, like the ChatGPT backend's.

use serde_json::{json, Map, Value};

use super::script::{Ending, OutputSpec, ResponseStream, ScriptedUsage};
use crate::upstream::{split_in_three, split_text, MOCK_MODEL, MOCK_PROMPT_TOKENS};

/// Response id used when neither the script nor the server chose one.
pub const MOCK_RESPONSE_ID: &str = "resp_mock_0";
/// `created_at` of every scripted response.
const CREATED_AT: u64 = crate::upstream::MOCK_CREATED;

/// A compiled script: the events to stream and the JSON object to answer without streaming.
pub(crate) struct Compiled {
    pub(crate) events: Vec<Value>,
    pub(crate) object: Value,
}

impl ResponseStream {
    /// The events the mock streams for `request` (the parsed request body), in order, including
    /// quirk events and ignoring `stop_after` / `drop_after`.
    pub fn events(&self, request: &Value) -> Vec<Value> {
        self.compile(request).events
    }

    /// The `Response` object a non-streaming `request` gets: the terminal event's response,
    /// always with the full output.
    pub fn response_object(&self, request: &Value) -> Value {
        self.compile(request).object
    }

    pub(crate) fn compile(&self, request: &Value) -> Compiled {
        let id = self.id.as_deref().unwrap_or(MOCK_RESPONSE_ID);
        let model = self
            .model
            .as_deref()
            .or_else(|| request.get("model").and_then(Value::as_str))
            .unwrap_or(MOCK_MODEL);
        let shell = ResponseShell { request, id, model };
        let mut writer = Writer::new(self.quirks.single_delta, tag_of(id));

        let opening = shell.object("in_progress", Vec::new(), Value::Null);
        writer.emit("response.created", json!({ "response": opening }));
        writer.emit("response.in_progress", json!({ "response": opening }));
        let output: Vec<Value> = self
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| writer.item(index, item))
            .collect();

        let usage = usage_json(self.usage.unwrap_or(ScriptedUsage {
            input_tokens: MOCK_PROMPT_TOKENS,
            cached_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: writer.deltas,
            reasoning_tokens: writer.reasoning_deltas,
        }));
        let (kind, object) = match &self.ending {
            Ending::Completed => (
                "response.completed",
                shell.object("completed", output, usage),
            ),
            Ending::Incomplete(reason) => {
                let mut object = shell.object("incomplete", output, usage);
                object["incomplete_details"] = json!({ "reason": reason });
                ("response.incomplete", object)
            }
            Ending::Failed { code, message } => {
                let mut object = shell.object("failed", output, Value::Null);
                object["error"] = json!({ "code": code, "message": message });
                ("response.failed", object)
            }
        };
        let mut terminal = object.clone();
        if self.quirks.empty_completed_output {
            terminal["output"] = json!([]);
        }
        writer.emit(kind, json!({ "response": terminal }));

        Compiled {
            events: self.with_quirk_events(writer.events),
            object,
        }
    }

    fn with_quirk_events(&self, events: Vec<Value>) -> Vec<Value> {
        let mut out = Vec::with_capacity(events.len() + 4);
        if let Some(event) = &self.quirks.rate_limits_event {
            out.push(event.clone());
        }
        for (position, event) in events.into_iter().enumerate() {
            out.push(event);
            if let Some(every) = self.quirks.keepalive_every {
                if (position + 1) % every == 0 {
                    out.push(json!({"type": "keepalive"}));
                }
            }
        }
        out
    }
}

/// The part of a response id after `resp_`, used to make item ids unique per response.
fn tag_of(id: &str) -> String {
    id.strip_prefix("resp_").unwrap_or(id).to_owned()
}

fn usage_json(usage: ScriptedUsage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    })
}

/// Builds `Response` objects that echo the request's settings, like the OpenAI API does.
struct ResponseShell<'a> {
    request: &'a Value,
    id: &'a str,
    model: &'a str,
}

impl ResponseShell<'_> {
    fn echo(&self, field: &str, default: Value) -> Value {
        self.request
            .get(field)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    }

    fn object(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        json!({
            "id": self.id,
            "object": "response",
            "created_at": CREATED_AT,
            "status": status,
            "background": false,
            "error": null,
            "incomplete_details": null,
            "instructions": self.echo("instructions", Value::Null),
            "max_output_tokens": self.echo("max_output_tokens", Value::Null),
            "max_tool_calls": self.echo("max_tool_calls", Value::Null),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": self.echo("parallel_tool_calls", json!(true)),
            "previous_response_id": self.echo("previous_response_id", Value::Null),
            "prompt_cache_key": self.echo("prompt_cache_key", Value::Null),
            "reasoning": self.echo("reasoning", json!({"effort": null, "summary": null})),
            "safety_identifier": self.echo("safety_identifier", Value::Null),
            "service_tier": self.echo("service_tier", json!("default")),
            "store": self.echo("store", json!(true)),
            "temperature": self.echo("temperature", json!(1.0)),
            "text": self.echo("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
            "tool_choice": self.echo("tool_choice", json!("auto")),
            "tools": self.echo("tools", json!([])),
            "top_logprobs": self.echo("top_logprobs", json!(0)),
            "top_p": self.echo("top_p", json!(1.0)),
            "truncation": self.echo("truncation", json!("disabled")),
            "usage": usage,
            "user": self.echo("user", Value::Null),
            "metadata": self.echo("metadata", json!({})),
        })
    }
}

/// Accumulates events, numbering them, and counts the deltas for the computed usage.
struct Writer {
    events: Vec<Value>,
    single_delta: bool,
    tag: String,
    deltas: u64,
    reasoning_deltas: u64,
}

impl Writer {
    fn new(single_delta: bool, tag: String) -> Self {
        Self {
            events: Vec::new(),
            single_delta,
            tag,
            deltas: 0,
            reasoning_deltas: 0,
        }
    }

    fn emit(&mut self, kind: &str, fields: Value) {
        let mut event = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        event.insert("type".to_owned(), json!(kind));
        event.insert("sequence_number".to_owned(), json!(self.events.len()));
        self.events.push(Value::Object(event));
    }

    fn pieces(&self, text: &str, split: fn(&str) -> Vec<String>) -> Vec<String> {
        if self.single_delta {
            if text.is_empty() {
                Vec::new()
            } else {
                vec![text.to_owned()]
            }
        } else {
            split(text)
        }
    }

    /// Emits one item's events; returns the completed item.
    fn item(&mut self, index: usize, item: &OutputSpec) -> Value {
        let done = match item {
            OutputSpec::Message { text, phase } => self.message(index, text, phase.as_deref()),
            OutputSpec::FunctionCall {
                call_id,
                name,
                arguments,
                namespace,
            } => self.function_call(index, call_id, name, arguments, namespace.as_deref()),
            OutputSpec::CustomToolCall {
                call_id,
                name,
                input,
            } => self.custom_tool_call(index, call_id, name, input),
            OutputSpec::Reasoning {
                summary,
                text,
                encrypted_content,
            } => self.reasoning(
                index,
                summary,
                text.as_deref(),
                encrypted_content.as_deref(),
            ),
        };
        self.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        done
    }

    fn message(&mut self, index: usize, text: &str, phase: Option<&str>) -> Value {
        let id = format!("msg_{}_{index}", self.tag);
        let mut added = json!({"id": id, "type": "message", "status": "in_progress",
                               "role": "assistant", "content": []});
        if let Some(phase) = phase {
            added["phase"] = json!(phase);
        }
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        let at = json!({"item_id": id, "output_index": index, "content_index": 0});
        self.emit(
            "response.content_part.added",
            merge(&at, json!({"part": part("")})),
        );
        for delta in self.pieces(text, split_text) {
            self.deltas += 1;
            self.emit(
                "response.output_text.delta",
                merge(&at, json!({"delta": delta, "logprobs": []})),
            );
        }
        self.emit(
            "response.output_text.done",
            merge(&at, json!({"text": text, "logprobs": []})),
        );
        self.emit(
            "response.content_part.done",
            merge(&at, json!({"part": part(text)})),
        );
        let mut done = added;
        done["status"] = json!("completed");
        done["content"] = json!([part(text)]);
        done
    }

    fn function_call(
        &mut self,
        index: usize,
        call_id: &str,
        name: &str,
        arguments: &str,
        namespace: Option<&str>,
    ) -> Value {
        let id = format!("fc_{}_{index}", self.tag);
        let mut added = json!({"id": id, "type": "function_call", "status": "in_progress",
                               "arguments": "", "call_id": call_id, "name": name});
        if let Some(namespace) = namespace {
            added["namespace"] = json!(namespace);
        }
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        let at = json!({"item_id": id, "output_index": index});
        for delta in self.pieces(arguments, split_in_three) {
            self.deltas += 1;
            self.emit(
                "response.function_call_arguments.delta",
                merge(&at, json!({ "delta": delta })),
            );
        }
        self.emit(
            "response.function_call_arguments.done",
            merge(&at, json!({"name": name, "arguments": arguments})),
        );
        let mut done = added;
        done["status"] = json!("completed");
        done["arguments"] = json!(arguments);
        done
    }

    fn custom_tool_call(&mut self, index: usize, call_id: &str, name: &str, input: &str) -> Value {
        let id = format!("ctc_{}_{index}", self.tag);
        let added = json!({"id": id, "type": "custom_tool_call", "status": "in_progress",
                           "call_id": call_id, "name": name, "input": ""});
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        let at = json!({"item_id": id, "output_index": index});
        for delta in self.pieces(input, split_lines) {
            self.deltas += 1;
            self.emit(
                "response.custom_tool_call_input.delta",
                merge(&at, json!({ "delta": delta })),
            );
        }
        self.emit(
            "response.custom_tool_call_input.done",
            merge(&at, json!({ "input": input })),
        );
        let mut done = added;
        done["status"] = json!("completed");
        done["input"] = json!(input);
        done
    }

    fn reasoning(
        &mut self,
        index: usize,
        summary: &[String],
        text: Option<&str>,
        encrypted_content: Option<&str>,
    ) -> Value {
        let id = format!("rs_{}_{index}", self.tag);
        let added = json!({"id": id, "type": "reasoning", "summary": [],
                           "encrypted_content": encrypted_content});
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        let at = json!({"item_id": id, "output_index": index});
        for (summary_index, part_text) in summary.iter().enumerate() {
            let at = merge(&at, json!({ "summary_index": summary_index }));
            let part = |text: &str| json!({"type": "summary_text", "text": text});
            self.emit(
                "response.reasoning_summary_part.added",
                merge(&at, json!({"part": part("")})),
            );
            for delta in self.pieces(part_text, split_text) {
                self.reasoning_deltas += 1;
                self.deltas += 1;
                self.emit(
                    "response.reasoning_summary_text.delta",
                    merge(&at, json!({ "delta": delta })),
                );
            }
            self.emit(
                "response.reasoning_summary_text.done",
                merge(&at, json!({ "text": part_text })),
            );
            self.emit(
                "response.reasoning_summary_part.done",
                merge(&at, json!({"part": part(part_text)})),
            );
        }
        if let Some(text) = text {
            let at = merge(&at, json!({"content_index": 0}));
            for delta in self.pieces(text, split_text) {
                self.reasoning_deltas += 1;
                self.deltas += 1;
                self.emit(
                    "response.reasoning_text.delta",
                    merge(&at, json!({ "delta": delta })),
                );
            }
            self.emit(
                "response.reasoning_text.done",
                merge(&at, json!({ "text": text })),
            );
        }
        let summary: Vec<Value> = summary
            .iter()
            .map(|text| json!({"type": "summary_text", "text": text}))
            .collect();
        let mut done = json!({"id": id, "type": "reasoning", "summary": summary,
                              "encrypted_content": encrypted_content});
        if let Some(text) = text {
            done["content"] = json!([{"type": "reasoning_text", "text": text}]);
        }
        done
    }
}

/// `base` with `extra`'s fields added.
fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

/// Splits tool input into lines (each keeps its `\n`), as a patch streams.
fn split_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_owned).collect()
}
