//! Responses API output: the `Response` object, output items, and the streaming events.
//!
//! Events carry no `sequence_number`; the one SSE/WebSocket writer assigns it when it frames the
//! event ([`Sequenced`]), so numbering is strictly increasing per stream by construction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `status` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

/// The `Response` object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResponseObject {
    pub id: String,
    pub object: String,
    pub created_at: u64,
    pub status: ResponseStatus,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub usage: Option<ResponseUsage>,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub parallel_tool_calls: bool,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub instructions: Option<String>,
    pub metadata: Map<String, Value>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<u64>,
    pub previous_response_id: Option<String>,
    pub reasoning: Option<Value>,
    pub store: bool,
    pub text: Value,
    pub truncation: String,
    pub user: Option<String>,
}

impl ResponseObject {
    /// A `response.in_progress` keep-alive for this response, without `output` so keep-alives
    /// stay small on long answers (Codex's idle timer is reset by events, not SSE comments).
    pub fn keepalive_event(&self) -> ResponseEvent {
        let mut response = self.clone();
        response.output.clear();
        ResponseEvent::InProgress {
            response: Box::new(response),
        }
    }

    /// A fresh in-progress response with no output.
    pub fn new(id: String, model: String, created_at: u64) -> Self {
        ResponseObject {
            id,
            object: "response".to_owned(),
            created_at,
            status: ResponseStatus::InProgress,
            model,
            output: Vec::new(),
            usage: None,
            error: None,
            incomplete_details: None,
            parallel_tool_calls: true,
            tool_choice: Value::String("auto".to_owned()),
            tools: Vec::new(),
            instructions: None,
            metadata: Map::new(),
            temperature: None,
            top_p: None,
            max_output_tokens: None,
            previous_response_id: None,
            reasoning: None,
            store: false,
            text: serde_json::json!({"format": {"type": "text"}}),
            truncation: "disabled".to_owned(),
            user: None,
        }
    }
}

/// Token usage in Responses form.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IncompleteDetails {
    pub reason: String,
}

/// An output item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message(OutputMessage),
    Reasoning(OutputReasoning),
    FunctionCall(OutputFunctionCall),
    CustomToolCall(OutputCustomToolCall),
}

impl OutputItem {
    /// The item's `id`.
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Message(m) => &m.id,
            OutputItem::Reasoning(r) => &r.id,
            OutputItem::FunctionCall(f) => &f.id,
            OutputItem::CustomToolCall(c) => &c.id,
        }
    }
}

/// An assistant message item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputMessage {
    pub id: String,
    pub status: String,
    pub role: String,
    pub content: Vec<OutputText>,
}

/// An `output_text` content part.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub annotations: Vec<Value>,
    pub logprobs: Vec<Value>,
}

impl OutputText {
    /// An `output_text` part with the given text.
    pub fn new(text: impl Into<String>) -> Self {
        OutputText {
            kind: "output_text".to_owned(),
            text: text.into(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// A reasoning item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputReasoning {
    pub id: String,
    pub summary: Vec<SummaryText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ReasoningText>>,
    pub encrypted_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `{"type":"summary_text","text"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

impl SummaryText {
    /// A `summary_text` part.
    pub fn new(text: impl Into<String>) -> Self {
        SummaryText {
            kind: "summary_text".to_owned(),
            text: text.into(),
        }
    }
}

/// `{"type":"reasoning_text","text"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReasoningText {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

impl ReasoningText {
    /// A `reasoning_text` part.
    pub fn new(text: impl Into<String>) -> Self {
        ReasoningText {
            kind: "reasoning_text".to_owned(),
            text: text.into(),
        }
    }
}

/// A function call item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputFunctionCall {
    pub id: String,
    pub call_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub arguments: String,
    pub status: String,
}

/// A custom (freeform) tool call item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutputCustomToolCall {
    pub id: String,
    pub call_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub input: String,
    pub status: String,
}

/// A content part as announced in `content_part.*` events.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    OutputText {
        text: String,
        annotations: Vec<Value>,
        logprobs: Vec<Value>,
    },
    ReasoningText {
        text: String,
    },
    SummaryText {
        text: String,
    },
}

/// A Responses streaming event (without `sequence_number`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum ResponseEvent {
    #[serde(rename = "response.created")]
    Created { response: Box<ResponseObject> },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Box<ResponseObject> },
    #[serde(rename = "response.completed")]
    Completed { response: Box<ResponseObject> },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Box<ResponseObject> },
    #[serde(rename = "response.failed")]
    Failed { response: Box<ResponseObject> },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: Part,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: Part,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: Vec<Value>,
    },
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: Part,
    },
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        part: Part,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        item_id: String,
        output_index: usize,
        summary_index: usize,
        text: String,
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_text.done")]
    ReasoningTextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        item_id: String,
        output_index: usize,
        name: String,
        arguments: String,
    },
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomToolCallInputDelta {
        item_id: String,
        output_index: usize,
        call_id: String,
        delta: String,
    },
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomToolCallInputDone {
        item_id: String,
        output_index: usize,
        call_id: String,
        input: String,
    },
}

impl ResponseEvent {
    /// The event's `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            ResponseEvent::Created { .. } => "response.created",
            ResponseEvent::InProgress { .. } => "response.in_progress",
            ResponseEvent::Completed { .. } => "response.completed",
            ResponseEvent::Incomplete { .. } => "response.incomplete",
            ResponseEvent::Failed { .. } => "response.failed",
            ResponseEvent::OutputItemAdded { .. } => "response.output_item.added",
            ResponseEvent::OutputItemDone { .. } => "response.output_item.done",
            ResponseEvent::ContentPartAdded { .. } => "response.content_part.added",
            ResponseEvent::ContentPartDone { .. } => "response.content_part.done",
            ResponseEvent::OutputTextDelta { .. } => "response.output_text.delta",
            ResponseEvent::OutputTextDone { .. } => "response.output_text.done",
            ResponseEvent::ReasoningSummaryPartAdded { .. } => {
                "response.reasoning_summary_part.added"
            }
            ResponseEvent::ReasoningSummaryPartDone { .. } => {
                "response.reasoning_summary_part.done"
            }
            ResponseEvent::ReasoningSummaryTextDelta { .. } => {
                "response.reasoning_summary_text.delta"
            }
            ResponseEvent::ReasoningSummaryTextDone { .. } => {
                "response.reasoning_summary_text.done"
            }
            ResponseEvent::ReasoningTextDelta { .. } => "response.reasoning_text.delta",
            ResponseEvent::ReasoningTextDone { .. } => "response.reasoning_text.done",
            ResponseEvent::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            ResponseEvent::FunctionCallArgumentsDone { .. } => {
                "response.function_call_arguments.done"
            }
            ResponseEvent::CustomToolCallInputDelta { .. } => {
                "response.custom_tool_call_input.delta"
            }
            ResponseEvent::CustomToolCallInputDone { .. } => "response.custom_tool_call_input.done",
        }
    }

    /// Appends the event's JSON with `sequence_number` as its last field. Equivalent to
    /// serializing [`Sequenced`], but without serde's `flatten` machinery on the hot path.
    pub fn write_sequenced_json(
        &self,
        out: &mut Vec<u8>,
        sequence_number: u64,
    ) -> serde_json::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        // An internally tagged enum always serializes as a JSON object, so the last byte is '}'.
        if out.last() == Some(&b'}') {
            out.pop();
            out.extend_from_slice(b",\"sequence_number\":");
            out.extend_from_slice(sequence_number.to_string().as_bytes());
            out.push(b'}');
        }
        Ok(())
    }

    /// The output item a delta/part/done event belongs to (`None` for response-level events and
    /// for `output_item.*`, which carry the whole item).
    pub fn item_id(&self) -> Option<&str> {
        match self {
            ResponseEvent::ContentPartAdded { item_id, .. }
            | ResponseEvent::ContentPartDone { item_id, .. }
            | ResponseEvent::OutputTextDelta { item_id, .. }
            | ResponseEvent::OutputTextDone { item_id, .. }
            | ResponseEvent::ReasoningSummaryPartAdded { item_id, .. }
            | ResponseEvent::ReasoningSummaryPartDone { item_id, .. }
            | ResponseEvent::ReasoningSummaryTextDelta { item_id, .. }
            | ResponseEvent::ReasoningSummaryTextDone { item_id, .. }
            | ResponseEvent::ReasoningTextDelta { item_id, .. }
            | ResponseEvent::ReasoningTextDone { item_id, .. }
            | ResponseEvent::FunctionCallArgumentsDelta { item_id, .. }
            | ResponseEvent::FunctionCallArgumentsDone { item_id, .. }
            | ResponseEvent::CustomToolCallInputDelta { item_id, .. }
            | ResponseEvent::CustomToolCallInputDone { item_id, .. } => Some(item_id),
            _ => None,
        }
    }

    /// True for the events that end a response.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ResponseEvent::Completed { .. }
                | ResponseEvent::Incomplete { .. }
                | ResponseEvent::Failed { .. }
        )
    }
}

/// An event with its `sequence_number`, as framed on the wire (see also
/// [`ResponseEvent::write_sequenced_json`], which the writers use).
#[derive(Debug, Serialize)]
pub struct Sequenced<'a> {
    #[serde(flatten)]
    pub event: &'a ResponseEvent,
    pub sequence_number: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequenced_writer_matches_the_flattened_form() {
        let events = [
            ResponseEvent::Created {
                response: Box::new(ResponseObject::new("resp_1".into(), "m".into(), 7)),
            },
            ResponseEvent::OutputTextDelta {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                delta: "h\u{e9}\"llo}".into(),
                logprobs: vec![],
            },
        ];
        for (n, ev) in events.iter().enumerate() {
            let mut out = Vec::new();
            ev.write_sequenced_json(&mut out, n as u64 + 41).unwrap();
            let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let slow = serde_json::to_value(Sequenced {
                event: ev,
                sequence_number: n as u64 + 41,
            })
            .unwrap();
            assert_eq!(fast, slow);
        }
    }
}

/// An upstream Responses event relayed without re-serializing it: its `type` and its JSON text
/// exactly as the upstream sent it (with the upstream's own `sequence_number`, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// The event's `type`.
    pub kind: String,
    /// The event's JSON object, verbatim.
    pub data: String,
    /// The upstream's `sequence_number`, when it sent one.
    pub sequence_number: Option<u64>,
}

impl RawEvent {
    /// True for the events that end a response.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "response.completed" | "response.incomplete" | "response.failed"
        )
    }

    /// The `response` object of a response-level event (`response.created`, `…completed`, …),
    /// read leniently; `None` for other events or when it does not parse.
    pub fn response(&self) -> Option<ResponseSummary> {
        #[derive(Deserialize)]
        struct Envelope {
            response: ResponseSummary,
        }
        serde_json::from_str::<Envelope>(&self.data)
            .ok()
            .map(|e| e.response)
    }
}

/// What the proxy needs from a relayed upstream `Response` object, read leniently (every field
/// optional; items kept as JSON so nothing an upstream adds is lost).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResponseSummary {
    pub id: String,
    pub status: String,
    pub model: String,
    pub output: Vec<Value>,
    pub usage: Option<ResponseUsage>,
    pub error: Option<Value>,
}

/// One event of a stream handed to the edge: built by the proxy, or relayed from a Responses
/// upstream as it came.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// An event the proxy built; the edge assigns its `sequence_number`.
    Typed(ResponseEvent),
    /// An upstream event relayed verbatim.
    Raw(RawEvent),
}

impl StreamEvent {
    /// The event's `type` string.
    pub fn kind(&self) -> &str {
        match self {
            StreamEvent::Typed(e) => e.kind(),
            StreamEvent::Raw(r) => &r.kind,
        }
    }

    /// True for the events that end a response.
    pub fn is_terminal(&self) -> bool {
        match self {
            StreamEvent::Typed(e) => e.is_terminal(),
            StreamEvent::Raw(r) => r.is_terminal(),
        }
    }

    /// Appends the event's JSON text: a typed event with `sequence_number`, a relayed one
    /// verbatim. Returns the sequence number the next event should get.
    pub fn write_json(&self, out: &mut Vec<u8>, sequence_number: u64) -> serde_json::Result<u64> {
        match self {
            StreamEvent::Typed(e) => {
                e.write_sequenced_json(out, sequence_number)?;
                Ok(sequence_number + 1)
            }
            StreamEvent::Raw(r) => {
                out.extend_from_slice(r.data.as_bytes());
                Ok(r.sequence_number
                    .map_or(sequence_number + 1, |n| n.max(sequence_number) + 1))
            }
        }
    }
}

impl From<ResponseEvent> for StreamEvent {
    fn from(e: ResponseEvent) -> Self {
        StreamEvent::Typed(e)
    }
}
