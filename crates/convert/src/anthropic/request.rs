//! Responses request → Anthropic Messages request.
//!
//! Invariants of the output:
//! * `instructions` and the `system`/`developer` messages before the first conversation item
//!   form `system` (one text block each, in order); later ones become user text, so the cached
//!   prefix does not change when Codex adds a developer note mid-session.
//! * Roles alternate: consecutive same-role content is merged into one message. One model turn
//!   is **one** assistant message: its thinking blocks (replayed from `encrypted_content`,
//!   unchanged and in their original order), text and every `tool_use`. The user message that
//!   follows starts with a `tool_result` for each of them (`"aborted"` when Codex has none), then
//!   any user text. Outputs without their call are dropped.
//! * Tools carry the same upstream names as the Chat conversion ([`crate::tools`]); a freeform
//!   tool is a function whose `input` string is the freeform text.
//! * `max_tokens` is always sent; `thinking` only with a budget of at least 1024 tokens below
//!   `max_tokens`, and then without `temperature`/`top_p` and with `tool_choice` `auto`
//!   (Anthropic refuses the others with thinking). Thinking is left off when the tool turn being
//!   answered lost its thinking blocks (a 400 otherwise).
//! * With `prompt_cache`, at most three `cache_control` breakpoints: the last system block, the
//!   last tool and the last cacheable block of the last message.

use std::collections::HashSet;

use ccp_types::anthropic::{
    CacheControl, ContentBlock, ImageSource, Message, MessagesRequest, Role, SystemBlock, Thinking,
    Tool, ToolChoice,
};
use ccp_types::chat::{ChatContent, ChatContentPart};
use ccp_types::responses::{Input, InputItem, MessageItem, ResponsesRequest, Role as InRole};
use serde_json::{json, Map, Value};

use super::decode_thinking_blocks;
use crate::request::content::{message_content, split_tool_output};
use crate::request::ABORTED_OUTPUT;
use crate::tools::{responses_tools_to_chat, tool_choice_to_chat, ConvertedTools, ToolNameMap};
use crate::ConvertError;

/// Smallest thinking budget the API accepts.
pub const MIN_THINKING_BUDGET: u64 = 1024;

/// What the conversion needs to know about the upstream call.
#[derive(Debug, Clone)]
pub struct MessagesOptions {
    /// The model name to send upstream.
    pub upstream_model: String,
    pub stream: bool,
    /// `max_tokens` when the request has no `max_output_tokens`.
    pub default_max_tokens: u64,
    /// Place `cache_control` breakpoints.
    pub prompt_cache: bool,
}

/// The converted request and what is needed to convert the answer back.
#[derive(Debug, Clone)]
pub struct ConvertedMessages {
    pub request: MessagesRequest,
    pub tools: ToolNameMap,
}

/// Converts a Responses request to a Messages request. The only error is a request that leaves
/// no message to send.
pub fn responses_request_to_messages(
    req: &ResponsesRequest,
    opts: &MessagesOptions,
) -> Result<ConvertedMessages, ConvertError> {
    let ConvertedTools { tools, names } = responses_tools_to_chat(&req.tools);
    let mut walk = Walk::new(&names);
    if let Some(instructions) = req.instructions.as_deref().filter(|s| !s.is_empty()) {
        walk.system.push(SystemBlock::text(instructions));
    }
    match &req.input {
        Input::Text(text) if text.is_empty() => {}
        Input::Text(text) => walk.push(Role::User, ContentBlock::text(text.as_str())),
        Input::Items(items) => items.iter().for_each(|item| walk.item(item)),
    }
    walk.close_turn();
    let Walk {
        system, messages, ..
    } = walk;
    if messages.is_empty() {
        return Err(ConvertError::InvalidRequest {
            path: "input".to_owned(),
            message: "must contain at least one user or assistant message".to_owned(),
        });
    }
    let tools: Vec<Tool> = tools
        .into_iter()
        .map(|t| Tool {
            name: t.function.name,
            description: t.function.description,
            input_schema: t
                .function
                .parameters
                .unwrap_or_else(|| json!({"type": "object"})),
            cache_control: None,
        })
        .collect();
    let max_tokens = req
        .max_output_tokens
        .filter(|&n| n > 0)
        .unwrap_or(opts.default_max_tokens);
    let thinking = thinking_for(req, max_tokens, &messages);
    let mut request = MessagesRequest {
        model: opts.upstream_model.clone(),
        max_tokens,
        tool_choice: tool_choice_for(req, &names, !tools.is_empty(), thinking.is_some()),
        temperature: req
            .temperature
            .filter(|_| thinking.is_none())
            .map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p.filter(|_| thinking.is_none()),
        stop_sequences: stop_sequences(req.stop.as_ref()),
        thinking,
        messages,
        system,
        tools,
        metadata: None,
        stream: opts.stream,
    };
    if opts.prompt_cache {
        place_cache_breakpoints(&mut request);
    }
    Ok(ConvertedMessages {
        request,
        tools: names,
    })
}

/// Puts `cache_control` on the last system block, the last tool and the last cacheable block of
/// the last message (three of the four breakpoints the API allows).
pub fn place_cache_breakpoints(req: &mut MessagesRequest) {
    if let Some(last) = req.system.last_mut() {
        last.cache_control = Some(CacheControl::ephemeral());
    }
    if let Some(last) = req.tools.last_mut() {
        last.cache_control = Some(CacheControl::ephemeral());
    }
    if let Some(last) = req.messages.last_mut() {
        if let Some(slot) = last
            .content
            .iter_mut()
            .rev()
            .find_map(ContentBlock::cache_control_mut)
        {
            *slot = Some(CacheControl::ephemeral());
        }
    }
}

/// The thinking budget for `reasoning.effort`, kept below `max_tokens`; `None` when the effort
/// asks for no thinking, the budget does not fit, or the tool turn being answered has no thinking
/// blocks to replay.
fn thinking_for(req: &ResponsesRequest, max_tokens: u64, messages: &[Message]) -> Option<Thinking> {
    let effort = req.reasoning.as_ref()?.effort.as_deref()?;
    let wanted: u64 = match effort {
        "low" => 2048,
        "medium" => 8192,
        "high" => 16_384,
        "xhigh" | "max" => 32_000,
        _ => return None, // "none", "minimal", unknown
    };
    let budget = wanted.min(max_tokens.saturating_sub(MIN_THINKING_BUDGET));
    if budget < MIN_THINKING_BUDGET {
        return None;
    }
    let last_assistant = messages.iter().rev().find(|m| m.role == Role::Assistant);
    if let Some(turn) = last_assistant {
        let has_tool_use = turn
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse { .. }));
        let starts_with_thinking = matches!(
            turn.content.first(),
            Some(ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. })
        );
        if has_tool_use && !starts_with_thinking {
            tracing::debug!("the tool turn has no thinking blocks to replay; thinking disabled");
            return None;
        }
    }
    Some(Thinking::Enabled {
        budget_tokens: budget,
    })
}

fn tool_choice_for(
    req: &ResponsesRequest,
    names: &ToolNameMap,
    has_tools: bool,
    thinking: bool,
) -> Option<ToolChoice> {
    if !has_tools {
        return None;
    }
    let disable_parallel_tool_use = (req.parallel_tool_calls == Some(false)).then_some(true);
    let chat = req
        .tool_choice
        .as_ref()
        .map(|c| tool_choice_to_chat(c, names));
    let choice = match chat.as_ref() {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" && !thinking => ToolChoice::Any {
            disable_parallel_tool_use,
        },
        Some(Value::Object(o)) if !thinking => {
            match o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) => ToolChoice::Tool {
                    name: name.to_owned(),
                    disable_parallel_tool_use,
                },
                None => ToolChoice::Auto {
                    disable_parallel_tool_use,
                },
            }
        }
        _ if disable_parallel_tool_use.is_none() && req.tool_choice.is_none() => return None,
        _ => ToolChoice::Auto {
            disable_parallel_tool_use,
        },
    };
    Some(choice)
}

fn stop_sequences(stop: Option<&Value>) -> Vec<String> {
    match stop {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The walk over `input` items.
struct Walk<'a> {
    names: &'a ToolNameMap,
    system: Vec<SystemBlock>,
    messages: Vec<Message>,
    /// True while the last message is an assistant turn that text and calls still merge into.
    assistant_open: bool,
    /// Calls of the open turn without a result yet, in call order.
    unanswered: Vec<String>,
    seen_calls: HashSet<String>,
    /// Thinking blocks waiting for the assistant content they precede.
    thinking: Vec<ContentBlock>,
}

impl<'a> Walk<'a> {
    fn new(names: &'a ToolNameMap) -> Self {
        Walk {
            names,
            system: Vec::new(),
            messages: Vec::new(),
            assistant_open: false,
            unanswered: Vec::new(),
            seen_calls: HashSet::new(),
            thinking: Vec::new(),
        }
    }

    /// Appends a block, merging into the last message when it has the same role.
    fn push(&mut self, role: Role, block: ContentBlock) {
        match self.messages.last_mut() {
            Some(last) if last.role == role => last.content.push(block),
            _ => self.messages.push(Message {
                role,
                content: vec![block],
            }),
        }
    }

    fn item(&mut self, item: &InputItem) {
        match item {
            InputItem::Message(m) => self.message(m),
            InputItem::Reasoning(r) => {
                match r
                    .encrypted_content
                    .as_deref()
                    .and_then(decode_thinking_blocks)
                {
                    Some(blocks) => self.thinking.extend(blocks),
                    None => tracing::debug!("skipping a reasoning item without Anthropic thinking"),
                }
            }
            InputItem::FunctionCall(c) => {
                let name =
                    self.names
                        .upstream_name_for_call(c.namespace.as_deref(), &c.name, false);
                let input = match serde_json::from_str::<Value>(&c.arguments) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => Value::Object(Map::new()),
                };
                self.call(&c.call_id, name, input);
            }
            InputItem::CustomToolCall(c) => {
                let name = self
                    .names
                    .upstream_name_for_call(c.namespace.as_deref(), &c.name, true);
                self.call(&c.call_id, name, json!({ "input": c.input }));
            }
            InputItem::LocalShellCall(c) => {
                if let Some(id) = c.call_id.as_deref().or(c.id.as_deref()) {
                    let input = match &c.action {
                        v @ Value::Object(_) => v.clone(),
                        _ => Value::Object(Map::new()),
                    };
                    self.call(id, crate::request::LOCAL_SHELL_TOOL_NAME.to_owned(), input);
                }
            }
            InputItem::FunctionCallOutput(o)
            | InputItem::CustomToolCallOutput(o)
            | InputItem::LocalShellCallOutput(o) => self.output(&o.call_id, &o.output),
            InputItem::Other { item_type } => {
                tracing::debug!(item_type = %item_type, "skipping input item")
            }
        }
    }

    fn message(&mut self, m: &MessageItem) {
        match m.role {
            InRole::Assistant => {
                let text = message_content(&m.content, false)
                    .map(|c| c.joined_text())
                    .filter(|t| !t.trim().is_empty());
                if let Some(text) = text {
                    self.open_assistant();
                    self.push(Role::Assistant, ContentBlock::text(text));
                }
            }
            InRole::System | InRole::Developer if self.messages.is_empty() => {
                if let Some(c) = message_content(&m.content, false) {
                    self.system.push(SystemBlock::text(c.joined_text()));
                }
            }
            InRole::User | InRole::System | InRole::Developer => {
                self.close_turn();
                let images = m.role == InRole::User;
                for block in message_content(&m.content, images)
                    .map(content_to_blocks)
                    .unwrap_or_default()
                {
                    self.push(Role::User, block);
                }
            }
        }
    }

    /// Makes the last message an open assistant turn, starting with the pending thinking.
    fn open_assistant(&mut self) {
        // After results, the next assistant content is a new turn.
        let after_results = self.messages.last().is_some_and(|m| m.role == Role::User);
        let thinking = std::mem::take(&mut self.thinking);
        if !self.assistant_open || after_results {
            self.close_turn();
            self.assistant_open = true;
        }
        for block in thinking {
            self.push(Role::Assistant, block);
        }
    }

    fn call(&mut self, call_id: &str, name: String, input: Value) {
        if !self.seen_calls.insert(call_id.to_owned()) {
            tracing::debug!(call_id, "dropping a repeated tool call id");
            return;
        }
        self.open_assistant();
        self.push(
            Role::Assistant,
            ContentBlock::ToolUse {
                id: call_id.to_owned(),
                name,
                input,
                cache_control: None,
            },
        );
        self.unanswered.push(call_id.to_owned());
    }

    fn output(&mut self, call_id: &str, output: &ccp_types::responses::ToolOutput) {
        let Some(pos) = self.unanswered.iter().position(|id| id == call_id) else {
            tracing::debug!(call_id, "dropping a tool output without its open call");
            return;
        };
        self.unanswered.remove(pos);
        let split = split_tool_output(output);
        let mut content = Vec::new();
        if !split.text.is_empty() {
            content.push(ContentBlock::text(split.text));
        }
        content.extend(split.images.into_iter().filter_map(part_to_block));
        self.push(
            Role::User,
            ContentBlock::ToolResult {
                tool_use_id: call_id.to_owned(),
                content,
                is_error: None,
                cache_control: None,
            },
        );
    }

    /// Ends the open assistant turn: its unanswered calls get an `"aborted"` result.
    fn close_turn(&mut self) {
        for call_id in std::mem::take(&mut self.unanswered) {
            tracing::debug!(call_id = %call_id, "tool call has no output; answering \"aborted\"");
            self.push(
                Role::User,
                ContentBlock::ToolResult {
                    tool_use_id: call_id,
                    content: vec![ContentBlock::text(ABORTED_OUTPUT)],
                    is_error: None,
                    cache_control: None,
                },
            );
        }
        self.assistant_open = false;
        if !self.thinking.is_empty() {
            tracing::debug!("dropping thinking not followed by assistant content");
            self.thinking.clear();
        }
    }
}

fn content_to_blocks(content: ChatContent) -> Vec<ContentBlock> {
    match content {
        // The API refuses text blocks without non-whitespace text.
        ChatContent::Text(t) if t.trim().is_empty() => Vec::new(),
        ChatContent::Text(t) => vec![ContentBlock::text(t)],
        ChatContent::Parts(parts) => parts.into_iter().filter_map(part_to_block).collect(),
    }
}

fn part_to_block(part: ChatContentPart) -> Option<ContentBlock> {
    match part {
        ChatContentPart::Text { text } if text.trim().is_empty() => None,
        ChatContentPart::Text { text } => Some(ContentBlock::text(text)),
        ChatContentPart::ImageUrl { image_url } => Some(ContentBlock::Image {
            source: image_source(&image_url.url),
            cache_control: None,
        }),
    }
}

/// `data:<type>;base64,<data>` → a base64 source; anything else → a URL source.
fn image_source(url: &str) -> ImageSource {
    if let Some((meta, data)) = url.strip_prefix("data:").and_then(|r| r.split_once(',')) {
        let media_type = meta.split(';').next().unwrap_or("image/png");
        if meta.contains(";base64") {
            return ImageSource::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            };
        }
    }
    ImageSource::Url {
        url: url.to_owned(),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
