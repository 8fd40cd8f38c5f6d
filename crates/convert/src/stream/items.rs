//! Text-like output items (reasoning and message): opening, streaming deltas, closing, and
//! recording completed items into the response snapshot in output-index order.

use ccp_types::events::{
    OutputItem, OutputMessage, OutputReasoning, OutputText, Part, ReasoningText, ResponseEvent,
    SummaryText,
};

use super::ChatToResponses;

/// Final status of an item that ended normally.
pub(super) const ITEM_COMPLETED: &str = "completed";
/// Final status of an item cut off by `length` or a content filter.
pub(super) const ITEM_INCOMPLETE: &str = "incomplete";

/// The two kinds of streamed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextKind {
    Reasoning,
    Message,
}

/// An open text item.
#[derive(Debug)]
pub(super) struct TextItem {
    id: String,
    output_index: usize,
    text: String,
}

/// The text item currently open, if any (at most one at a time).
#[derive(Debug)]
pub(super) enum OpenText {
    None,
    Reasoning(TextItem),
    Message(TextItem),
}

impl OpenText {
    pub(super) fn kind(&self) -> Option<TextKind> {
        match self {
            OpenText::None => None,
            OpenText::Reasoning(_) => Some(TextKind::Reasoning),
            OpenText::Message(_) => Some(TextKind::Message),
        }
    }

    pub(super) fn output_index(&self) -> Option<usize> {
        match self {
            OpenText::None => None,
            OpenText::Reasoning(item) | OpenText::Message(item) => Some(item.output_index),
        }
    }
}

impl ChatToResponses {
    /// Streams reasoning text, opening a reasoning item if needed.
    pub(super) fn reasoning_text(&mut self, text: &str) {
        self.text_fragment(TextKind::Reasoning, text);
    }

    /// Streams answer text, opening a message item if needed.
    pub(super) fn message_text(&mut self, text: &str) {
        self.text_fragment(TextKind::Message, text);
    }

    /// Makes sure a reasoning item is open (for opaque reasoning state that carries no text).
    pub(super) fn ensure_reasoning_item(&mut self) {
        if self.text.kind() != Some(TextKind::Reasoning) {
            self.close_text();
            self.open_text(TextKind::Reasoning);
        }
    }

    fn text_fragment(&mut self, kind: TextKind, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.text.kind() == Some(kind) {
            self.append_text(text);
            return;
        }
        if text.trim().is_empty() {
            match &mut self.held_whitespace {
                Some((held_kind, held)) if *held_kind == kind => held.push_str(text),
                _ => self.held_whitespace = Some((kind, text.to_owned())),
            }
            return;
        }
        let mut full = match self.held_whitespace.take() {
            Some((held_kind, held)) if held_kind == kind => held,
            _ => String::new(),
        };
        full.push_str(text);
        self.close_text();
        self.open_text(kind);
        self.append_text(&full);
    }

    fn open_text(&mut self, kind: TextKind) {
        self.held_whitespace = None;
        let output_index = self.alloc_output_index();
        match kind {
            TextKind::Reasoning => {
                let id = self.item_id("rs", output_index);
                self.out.push(|| ResponseEvent::OutputItemAdded {
                    output_index,
                    item: OutputItem::Reasoning(OutputReasoning {
                        id: id.clone(),
                        summary: Vec::new(),
                        content: None,
                        encrypted_content: None,
                        status: None,
                    }),
                });
                self.out.push(|| ResponseEvent::ReasoningSummaryPartAdded {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: Part::SummaryText {
                        text: String::new(),
                    },
                });
                self.text = OpenText::Reasoning(TextItem {
                    id,
                    output_index,
                    text: String::new(),
                });
            }
            TextKind::Message => {
                let id = self.item_id("msg", output_index);
                self.out.push(|| ResponseEvent::OutputItemAdded {
                    output_index,
                    item: OutputItem::Message(OutputMessage {
                        id: id.clone(),
                        status: "in_progress".to_owned(),
                        role: "assistant".to_owned(),
                        content: Vec::new(),
                    }),
                });
                self.out.push(|| ResponseEvent::ContentPartAdded {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    part: output_text_part(String::new()),
                });
                self.text = OpenText::Message(TextItem {
                    id,
                    output_index,
                    text: String::new(),
                });
            }
        }
    }

    fn append_text(&mut self, delta: &str) {
        match &mut self.text {
            OpenText::None => {}
            OpenText::Reasoning(item) => {
                item.text.push_str(delta);
                self.out.push(|| ResponseEvent::ReasoningSummaryTextDelta {
                    item_id: item.id.clone(),
                    output_index: item.output_index,
                    summary_index: 0,
                    delta: delta.to_owned(),
                });
                self.out.push(|| ResponseEvent::ReasoningTextDelta {
                    item_id: item.id.clone(),
                    output_index: item.output_index,
                    content_index: 0,
                    delta: delta.to_owned(),
                });
            }
            OpenText::Message(item) => {
                item.text.push_str(delta);
                self.out.push(|| ResponseEvent::OutputTextDelta {
                    item_id: item.id.clone(),
                    output_index: item.output_index,
                    content_index: 0,
                    delta: delta.to_owned(),
                    logprobs: Vec::new(),
                });
            }
        }
    }

    /// Closes the open text item, if any, with its `*.done` events.
    pub(super) fn close_text(&mut self) {
        self.close_text_with_status(ITEM_COMPLETED);
    }

    /// Closes the open text item; `status` is the message's final status (`completed`, or
    /// `incomplete` when the answer was cut off).
    pub(super) fn close_text_with_status(&mut self, status: &str) {
        match std::mem::replace(&mut self.text, OpenText::None) {
            OpenText::None => {}
            OpenText::Reasoning(TextItem {
                id,
                output_index,
                text,
            }) => {
                let encrypted_content = self.details.take_encrypted_content();
                self.out.push(|| ResponseEvent::ReasoningSummaryTextDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    text: text.clone(),
                });
                self.out.push(|| ResponseEvent::ReasoningSummaryPartDone {
                    item_id: id.clone(),
                    output_index,
                    summary_index: 0,
                    part: Part::SummaryText { text: text.clone() },
                });
                self.out.push(|| ResponseEvent::ReasoningTextDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    text: text.clone(),
                });
                let item = OutputItem::Reasoning(OutputReasoning {
                    id,
                    summary: vec![SummaryText::new(text.clone())],
                    content: Some(vec![ReasoningText::new(text)]),
                    encrypted_content,
                    status: None,
                });
                self.record_done(output_index, item);
            }
            OpenText::Message(TextItem {
                id,
                output_index,
                text,
            }) => {
                self.out.push(|| ResponseEvent::OutputTextDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    text: text.clone(),
                    logprobs: Vec::new(),
                });
                self.out.push(|| ResponseEvent::ContentPartDone {
                    item_id: id.clone(),
                    output_index,
                    content_index: 0,
                    part: output_text_part(text.clone()),
                });
                let item = OutputItem::Message(OutputMessage {
                    id,
                    status: status.to_owned(),
                    role: "assistant".to_owned(),
                    content: vec![OutputText::new(text)],
                });
                self.record_done(output_index, item);
            }
        }
    }

    /// Emits `output_item.done` and inserts the item into `response.output` at its index.
    pub(super) fn record_done(&mut self, output_index: usize, item: OutputItem) {
        self.out.push(|| ResponseEvent::OutputItemDone {
            output_index,
            item: item.clone(),
        });
        let position = self.done_indices.partition_point(|&i| i < output_index);
        self.done_indices.insert(position, output_index);
        self.response.output.insert(position, item);
    }
}

fn output_text_part(text: String) -> Part {
    Part::OutputText {
        text,
        annotations: Vec::new(),
        logprobs: Vec::new(),
    }
}
