//! Scripted answers for [`ResponsesUpstream`](super::ResponsesUpstream).
//!
//! A [`ResponseStream`] describes one model answer (output items, usage, how it ends) plus how
//! it is delivered (timing, faults, headers, ChatGPT-backend quirks). The mock compiles it per
//! request (`events.rs`): as a complete Responses event stream when the request has
//! `"stream": true`, otherwise collapsed into the JSON `Response` object, so one script serves
//! both. [`ResponsesReply`] adds the replies that are not a model answer: errors, raw bodies,
//! hand-written SSE.

use std::time::Duration;

use serde_json::{json, Value};

use crate::serve::SseScript;
use crate::upstream::{error_body, Reply};

/// One output item of a scripted response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// An assistant `message` with one `output_text` part.
    Message {
        /// The full text (streamed in word-sized deltas).
        text: String,
        /// Optional `phase` (`commentary` / `final_answer`).
        phase: Option<String>,
    },
    /// A `function_call`.
    FunctionCall {
        /// `call_id`.
        call_id: String,
        /// Function name.
        name: String,
        /// Arguments as JSON text (streamed in up to three fragments).
        arguments: String,
        /// Optional `namespace` (Codex namespace tools).
        namespace: Option<String>,
    },
    /// A `custom_tool_call` (freeform tool such as `apply_patch`).
    CustomToolCall {
        /// `call_id`.
        call_id: String,
        /// Tool name.
        name: String,
        /// The raw input (streamed line by line).
        input: String,
    },
    /// A `reasoning` item.
    Reasoning {
        /// Summary parts (`summary_text`), each streamed.
        summary: Vec<String>,
        /// Raw reasoning (`content: [{type: "reasoning_text"}]`), if any.
        text: Option<String>,
        /// `encrypted_content` (always serialized, `null` when absent).
        encrypted_content: Option<String>,
    },
}

/// How a scripted response ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// `response.completed`, status `completed`.
    Completed,
    /// `response.incomplete` with `incomplete_details.reason` (e.g. `max_output_tokens`).
    Incomplete(String),
    /// `response.failed` with `error: {code, message}`.
    Failed {
        /// `error.code`, e.g. `rate_limit_exceeded`, `context_length_exceeded`.
        code: String,
        /// `error.message`.
        message: String,
    },
}

/// Token counts reported in `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptedUsage {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `input_tokens_details.cached_tokens`.
    pub cached_tokens: u64,
    /// `input_tokens_details.cache_write_tokens` (required by the current OpenAI SDK).
    pub cache_write_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// `output_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: u64,
}

/// Deviations of the ChatGPT Codex backend from the OpenAI stream (upstreams.md §1.7).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quirks {
    /// Emit this `{"type":"codex.rate_limits",…}` event before `response.created`.
    pub rate_limits_event: Option<Value>,
    /// Emit `{"type":"keepalive"}` after every `n` standard events.
    pub keepalive_every: Option<usize>,
    /// `response.completed.response.output` is `[]` (items only in `output_item.done`).
    pub empty_completed_output: bool,
    /// `Some(None)`: no `Content-Type` header; `Some(Some(ct))`: that one instead of
    /// `text/event-stream`.
    pub content_type: Option<Option<String>>,
    /// Each text/argument/input arrives as one single delta (the huge final delta).
    pub single_delta: bool,
}

/// A scripted model answer, delivered as a Responses stream or collapsed into JSON.
///
/// Build with [`ResponseStream::text`], [`ResponseStream::function_call`], … and the builder
/// methods. Ids are deterministic: the response id is `resp_mock_<request index>` unless set
/// with [`ResponseStream::id`]; item ids are `<prefix>_<response tag>_<output index>`.
#[derive(Debug, Clone)]
pub struct ResponseStream {
    /// Output items in `output_index` order.
    pub items: Vec<OutputSpec>,
    /// How the response ends.
    pub ending: Ending,
    /// Reported usage; computed from the deltas when `None`.
    pub usage: Option<ScriptedUsage>,
    /// Response id (default `resp_mock_<request index>`).
    pub id: Option<String>,
    /// Model reported (default: the request's `model`).
    pub model: Option<String>,
    /// ChatGPT-backend stream quirks.
    pub quirks: Quirks,
    /// Delivery: status, headers, delays, `drop_after`, pauses (its frames are ignored).
    pub transport: SseScript,
    /// End the stream cleanly (EOF, no terminal event) after this many events.
    pub stop_after: Option<usize>,
}

impl Default for ResponseStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseStream {
    /// A response with no output yet.
    pub fn new() -> Self {
        Self {
            items: Vec::new(),
            ending: Ending::Completed,
            usage: None,
            id: None,
            model: None,
            quirks: Quirks::default(),
            transport: SseScript::new(Vec::<String>::new()).no_done(),
            stop_after: None,
        }
    }

    /// A text answer.
    pub fn text(text: &str) -> Self {
        Self::new().message(text)
    }

    /// One function call.
    pub fn function_call(call_id: &str, name: &str, arguments: &str) -> Self {
        Self::new().call(call_id, name, arguments)
    }

    /// One custom tool call, e.g. `("call_patch", "apply_patch", "*** Begin Patch\n…")`.
    pub fn custom_tool_call(call_id: &str, name: &str, input: &str) -> Self {
        Self::new().custom_call(call_id, name, input)
    }

    /// Several function calls in one response (`(call_id, name, arguments)` each).
    pub fn parallel_calls(calls: &[(&str, &str, &str)]) -> Self {
        calls
            .iter()
            .fold(Self::new(), |s, (id, name, args)| s.call(id, name, args))
    }

    /// Appends an assistant message.
    pub fn message(mut self, text: &str) -> Self {
        self.items.push(OutputSpec::Message {
            text: text.to_owned(),
            phase: None,
        });
        self
    }

    /// Appends an assistant message with a `phase`.
    pub fn message_with_phase(mut self, text: &str, phase: &str) -> Self {
        self.items.push(OutputSpec::Message {
            text: text.to_owned(),
            phase: Some(phase.to_owned()),
        });
        self
    }

    /// Appends a function call.
    pub fn call(mut self, call_id: &str, name: &str, arguments: &str) -> Self {
        self.items.push(OutputSpec::FunctionCall {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            namespace: None,
        });
        self
    }

    /// Appends a function call of a namespace tool.
    pub fn namespaced_call(
        mut self,
        call_id: &str,
        namespace: &str,
        name: &str,
        arguments: &str,
    ) -> Self {
        self.items.push(OutputSpec::FunctionCall {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            namespace: Some(namespace.to_owned()),
        });
        self
    }

    /// Appends a custom tool call.
    pub fn custom_call(mut self, call_id: &str, name: &str, input: &str) -> Self {
        self.items.push(OutputSpec::CustomToolCall {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            input: input.to_owned(),
        });
        self
    }

    /// Appends a reasoning item with one summary part and `encrypted_content`.
    pub fn reasoning(mut self, summary: &str, encrypted_content: &str) -> Self {
        self.items.push(OutputSpec::Reasoning {
            summary: vec![summary.to_owned()],
            text: None,
            encrypted_content: Some(encrypted_content.to_owned()),
        });
        self
    }

    /// Appends any item.
    pub fn item(mut self, item: OutputSpec) -> Self {
        self.items.push(item);
        self
    }

    /// Reports these token counts instead of the computed ones.
    pub fn usage(
        mut self,
        input_tokens: u64,
        cached_tokens: u64,
        output_tokens: u64,
        reasoning_tokens: u64,
    ) -> Self {
        self.usage = Some(ScriptedUsage {
            input_tokens,
            cached_tokens,
            cache_write_tokens: 0,
            output_tokens,
            reasoning_tokens,
        });
        self
    }

    /// Sets the response id.
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    /// Reports this model instead of the requested one.
    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// Ends with `response.incomplete` (`incomplete_details.reason`).
    pub fn incomplete(mut self, reason: &str) -> Self {
        self.ending = Ending::Incomplete(reason.to_owned());
        self
    }

    /// Ends with `response.failed` carrying `error: {code, message}`.
    pub fn failed(mut self, code: &str, message: &str) -> Self {
        self.ending = Ending::Failed {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        self
    }

    /// HTTP status of the answer (default 200).
    pub fn status(mut self, status: u16) -> Self {
        self.transport = self.transport.status(status);
        self
    }

    /// Adds a response header (overrides a default one of the same name).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.transport = self.transport.header(name, value);
        self
    }

    /// Pause before the response headers.
    pub fn header_delay(mut self, delay: Duration) -> Self {
        self.transport = self.transport.header_delay(delay);
        self
    }

    /// Pause before every event but the first.
    pub fn chunk_delay(mut self, delay: Duration) -> Self {
        self.transport = self.transport.chunk_delay(delay);
        self
    }

    /// Stay silent for `pause` after the first event.
    pub fn silence_after_first(mut self, pause: Duration) -> Self {
        self.transport = self.transport.silence_after_first(pause);
        self
    }

    /// Stay silent for `pause` after the `n`-th event.
    pub fn pause_after(mut self, n: usize, pause: Duration) -> Self {
        self.transport = self.transport.pause_after(n, pause);
        self
    }

    /// Abort the connection (no terminating chunk) after `n` events. A non-streaming answer is
    /// aborted right after its headers.
    pub fn drop_after(mut self, n: usize) -> Self {
        self.transport = self.transport.drop_after(n);
        self
    }

    /// End the body cleanly after `n` events, without a terminal event. A non-streaming answer
    /// is aborted right after its headers.
    pub fn stop_after(mut self, n: usize) -> Self {
        self.stop_after = Some(n);
        self
    }

    /// Quirk: a `codex.rate_limits` event (see [`codex_rate_limits_event`]) before
    /// `response.created`.
    pub fn rate_limits_event(mut self, event: Value) -> Self {
        self.quirks.rate_limits_event = Some(event);
        self
    }

    /// Quirk: `{"type":"keepalive"}` after every `n` standard events.
    pub fn keepalive_every(mut self, n: usize) -> Self {
        self.quirks.keepalive_every = Some(n.max(1));
        self
    }

    /// Quirk: `response.completed` carries `output: []`.
    pub fn empty_completed_output(mut self) -> Self {
        self.quirks.empty_completed_output = true;
        self
    }

    /// Quirk: this `Content-Type` on the 2xx SSE answer; `None` sends none at all.
    pub fn content_type(mut self, content_type: Option<&str>) -> Self {
        self.quirks.content_type = Some(content_type.map(str::to_owned));
        self
    }

    /// Quirk: every text, argument string and tool input arrives as one delta.
    pub fn single_delta(mut self) -> Self {
        self.quirks.single_delta = true;
        self
    }

    /// Always answer as a JSON `Response` object, even to a streaming request.
    pub fn as_object(self) -> ResponsesReply {
        ResponsesReply::Object(self)
    }
}

/// One scripted answer of the Responses mock.
#[derive(Debug, Clone)]
pub enum ResponsesReply {
    /// A model answer: streamed to `"stream": true` requests, collapsed to JSON otherwise.
    Stream(ResponseStream),
    /// A model answer always sent as the JSON `Response` object.
    Object(ResponseStream),
    /// Anything else, served as the Chat mock serves it: a JSON body with status and headers
    /// (errors), a raw body, or a hand-written [`SseScript`] (use `.no_done()`: the Responses API
    /// sends no `[DONE]`).
    Plain(Reply),
}

impl From<ResponseStream> for ResponsesReply {
    fn from(stream: ResponseStream) -> Self {
        ResponsesReply::Stream(stream)
    }
}

impl From<Reply> for ResponsesReply {
    fn from(reply: Reply) -> Self {
        ResponsesReply::Plain(reply)
    }
}

impl From<SseScript> for ResponsesReply {
    fn from(script: SseScript) -> Self {
        ResponsesReply::Plain(Reply::Sse(script))
    }
}

impl ResponsesReply {
    /// An OpenAI-shaped error `{"error":{"message","type","param","code"}}` (type from status).
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::error(status, code, message).into()
    }

    /// A ChatGPT-backend (FastAPI) error `{"detail": "<detail>"}`.
    pub fn detail(status: u16, detail: &str) -> Self {
        Reply::json(status, json!({ "detail": detail })).into()
    }

    /// Any JSON body with a status.
    pub fn json(status: u16, body: Value) -> Self {
        Reply::json(status, body).into()
    }

    /// The ChatGPT usage-limit 429: `{"error":{"type":"usage_limit_reached",…}}` with
    /// `resets_at` = now + `resets_in_seconds` and the `x-codex-*` rate-limit headers of an
    /// exhausted primary window.
    pub fn usage_limit(plan_type: &str, resets_in_seconds: u64) -> Self {
        let resets_at = unix_now() + resets_in_seconds;
        let body = json!({"error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": plan_type,
            "resets_at": resets_at,
            "resets_in_seconds": resets_in_seconds,
        }});
        let headers = [
            ("x-codex-primary-used-percent", "100.0".to_owned()),
            ("x-codex-primary-window-minutes", "300".to_owned()),
            ("x-codex-primary-reset-at", resets_at.to_string()),
            ("x-codex-secondary-used-percent", "42.0".to_owned()),
            ("x-codex-secondary-window-minutes", "10080".to_owned()),
            (
                "x-codex-secondary-reset-at",
                (resets_at + 86_400).to_string(),
            ),
            ("x-codex-credits-has-credits", "false".to_owned()),
            ("x-codex-credits-unlimited", "false".to_owned()),
        ];
        let headers = headers
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        ResponsesReply::Plain(Reply::Json(429, body, headers))
    }

    /// A 503 `server_is_overloaded` (what Codex shows as "model at capacity").
    pub fn overloaded() -> Self {
        let body = error_body(
            "server_error",
            "server_is_overloaded",
            "Selected model is at capacity. Please try a different model.",
            None,
        );
        Reply::json(503, body).into()
    }

    /// Adds a response header.
    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            ResponsesReply::Stream(s) => ResponsesReply::Stream(s.header(name, value)),
            ResponsesReply::Object(s) => ResponsesReply::Object(s.header(name, value)),
            ResponsesReply::Plain(r) => ResponsesReply::Plain(r.with_header(name, value)),
        }
    }
}

/// A `codex.rate_limits` event like the ChatGPT backend's (primary 5 h and secondary weekly
/// windows, `used_percent` as given).
pub fn codex_rate_limits_event(primary_used_percent: f64) -> Value {
    let now = unix_now();
    json!({
        "type": "codex.rate_limits",
        "plan_type": "plus",
        "rate_limits": {
            "allowed": true,
            "limit_reached": false,
            "primary": {"used_percent": primary_used_percent, "window_minutes": 300,
                        "reset_at": now + 3_600},
            "secondary": {"used_percent": 10.0, "window_minutes": 10_080,
                          "reset_at": now + 86_400},
        },
        "credits": null,
    })
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
