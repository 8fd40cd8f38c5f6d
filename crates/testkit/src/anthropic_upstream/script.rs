//! Scripted Anthropic answers: a list of content blocks compiled into the Messages SSE events a
//! real server sends (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`,
//! `message_stop`, optional `ping`s) or into the whole `Message` JSON for non-streaming requests.

use serde_json::{json, Value};

/// One content block of a scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptBlock {
    Text(String),
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// Usage the answer reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnthropicUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

/// A scripted model answer (builder style).
#[derive(Debug, Clone)]
pub struct AnthropicScript {
    pub blocks: Vec<ScriptBlock>,
    pub stop_reason: String,
    pub usage: AnthropicUsage,
    /// A `ping` after `message_start` and between blocks.
    pub pings: bool,
    /// `input_json_delta` pieces of at most this many characters (0: one piece).
    pub json_piece: usize,
    /// Stop after this many events and send an `error` event (`type`, `message`) instead.
    pub error_after: Option<(usize, String, String)>,
}

impl Default for AnthropicScript {
    fn default() -> Self {
        AnthropicScript {
            blocks: Vec::new(),
            stop_reason: "end_turn".to_owned(),
            usage: AnthropicUsage {
                input_tokens: 10,
                output_tokens: 5,
                ..Default::default()
            },
            pings: false,
            json_piece: 0,
            error_after: None,
        }
    }
}

impl AnthropicScript {
    /// An answer of one text block, ending with `end_turn`.
    pub fn text(text: &str) -> Self {
        AnthropicScript::default().then_text(text)
    }

    /// Appends a text block.
    pub fn then_text(mut self, text: &str) -> Self {
        self.blocks.push(ScriptBlock::Text(text.to_owned()));
        self
    }

    /// Appends a thinking block with its signature.
    pub fn thinking(mut self, thinking: &str, signature: &str) -> Self {
        self.blocks.push(ScriptBlock::Thinking {
            thinking: thinking.to_owned(),
            signature: signature.to_owned(),
        });
        self
    }

    /// Appends a `redacted_thinking` block.
    pub fn redacted_thinking(mut self, data: &str) -> Self {
        self.blocks
            .push(ScriptBlock::RedactedThinking(data.to_owned()));
        self
    }

    /// Appends a `tool_use` block and makes the stop reason `tool_use`.
    pub fn tool_use(mut self, id: &str, name: &str, input: Value) -> Self {
        self.blocks.push(ScriptBlock::ToolUse {
            id: id.to_owned(),
            name: name.to_owned(),
            input,
        });
        self.stop_reason = "tool_use".to_owned();
        self
    }

    pub fn stop_reason(mut self, reason: &str) -> Self {
        self.stop_reason = reason.to_owned();
        self
    }

    pub fn usage(mut self, usage: AnthropicUsage) -> Self {
        self.usage = usage;
        self
    }

    pub fn with_pings(mut self) -> Self {
        self.pings = true;
        self
    }

    /// Streams tool input in pieces of `n` characters.
    pub fn json_pieces(mut self, n: usize) -> Self {
        self.json_piece = n;
        self
    }

    /// After `n` events, an `error` event of type `kind` ends the stream.
    pub fn error_after(mut self, n: usize, kind: &str, message: &str) -> Self {
        self.error_after = Some((n, kind.to_owned(), message.to_owned()));
        self
    }

    /// The thinking blocks that precede each `tool_use` id (what the next request must replay).
    pub fn thinking_before_tools(&self) -> Vec<(String, Vec<Value>)> {
        let thinking: Vec<Value> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                ScriptBlock::Thinking { .. } | ScriptBlock::RedactedThinking(_) => {
                    Some(block_json(b))
                }
                _ => None,
            })
            .collect();
        if thinking.is_empty() {
            return Vec::new();
        }
        self.blocks
            .iter()
            .filter_map(|b| match b {
                ScriptBlock::ToolUse { id, .. } => Some((id.clone(), thinking.clone())),
                _ => None,
            })
            .collect()
    }

    /// The whole `Message` object.
    pub fn message(&self, id: &str, model: &str) -> Value {
        json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": self.blocks.iter().map(block_json).collect::<Vec<_>>(),
            "stop_reason": self.stop_reason, "stop_sequence": null,
            "usage": self.usage_json(true),
        })
    }

    fn usage_json(&self, with_output: bool) -> Value {
        let u = self.usage;
        json!({
            "input_tokens": u.input_tokens,
            "cache_creation_input_tokens": u.cache_creation_input_tokens,
            "cache_read_input_tokens": u.cache_read_input_tokens,
            "output_tokens": if with_output { u.output_tokens } else { 1 },
        })
    }

    /// The stream events, in order.
    pub fn events(&self, id: &str, model: &str) -> Vec<Value> {
        let mut start = self.message(id, model);
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        start["usage"] = self.usage_json(false);
        let mut events = vec![json!({"type": "message_start", "message": start})];
        let ping = json!({"type": "ping"});
        if self.pings {
            events.push(ping.clone());
        }
        for (index, block) in self.blocks.iter().enumerate() {
            events.extend(block_events(index, block, self.json_piece));
            if self.pings {
                events.push(ping.clone());
            }
        }
        events.push(json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": self.usage.output_tokens}}));
        events.push(json!({"type": "message_stop"}));
        if let Some((n, kind, message)) = &self.error_after {
            events.truncate(*n);
            events.push(json!({"type": "error", "error": {"type": kind, "message": message}}));
        }
        events
    }
}

/// A block as the API writes it in a `Message` (and as it must be replayed).
pub fn block_json(block: &ScriptBlock) -> Value {
    match block {
        ScriptBlock::Text(text) => json!({"type": "text", "text": text}),
        ScriptBlock::Thinking {
            thinking,
            signature,
        } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
        ScriptBlock::RedactedThinking(data) => json!({"type": "redacted_thinking", "data": data}),
        ScriptBlock::ToolUse { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    }
}

fn block_events(index: usize, block: &ScriptBlock, json_piece: usize) -> Vec<Value> {
    let start =
        |b: Value| json!({"type": "content_block_start", "index": index, "content_block": b});
    let delta = |d: Value| json!({"type": "content_block_delta", "index": index, "delta": d});
    let mut out = Vec::new();
    match block {
        ScriptBlock::Text(text) => {
            out.push(start(json!({"type": "text", "text": ""})));
            for piece in halves(text) {
                out.push(delta(json!({"type": "text_delta", "text": piece})));
            }
        }
        ScriptBlock::Thinking {
            thinking,
            signature,
        } => {
            out.push(start(
                json!({"type": "thinking", "thinking": "", "signature": ""}),
            ));
            for piece in halves(thinking) {
                out.push(delta(json!({"type": "thinking_delta", "thinking": piece})));
            }
            out.push(delta(
                json!({"type": "signature_delta", "signature": signature}),
            ));
        }
        ScriptBlock::RedactedThinking(_) => out.push(start(block_json(block))),
        ScriptBlock::ToolUse { id, name, input } => {
            out.push(start(
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            ));
            let text = input.to_string();
            let chars: Vec<char> = text.chars().collect();
            let size = if json_piece == 0 {
                chars.len().max(1)
            } else {
                json_piece
            };
            out.push(delta(
                json!({"type": "input_json_delta", "partial_json": ""}),
            ));
            for piece in chars.chunks(size) {
                let piece: String = piece.iter().collect();
                out.push(delta(
                    json!({"type": "input_json_delta", "partial_json": piece}),
                ));
            }
        }
    }
    out.push(json!({"type": "content_block_stop", "index": index}));
    out
}

/// The text in two deltas (one when it is a single character or empty).
fn halves(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return vec![text.to_owned()];
    }
    let mid = chars.len() / 2;
    vec![chars[..mid].iter().collect(), chars[mid..].iter().collect()]
}
