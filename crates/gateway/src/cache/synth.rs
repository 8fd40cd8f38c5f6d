//! Events for a finished `Response` object: how a cached answer that was not streamed answers a
//! streamed request. The sequence is the one a live answer has — `response.created`,
//! `response.in_progress`, then per output item `output_item.added`, its parts with one delta
//! each, `output_item.done`, and finally `response.completed` — with the whole text of each
//! part in its single delta.

use ccp_types::events::{
    OutputCustomToolCall, OutputFunctionCall, OutputItem, OutputMessage, OutputReasoning, Part,
    ResponseEvent, ResponseObject, ResponseStatus,
};

/// The events of `response` (a completed one), in order.
pub(crate) fn response_to_events(response: &ResponseObject) -> Vec<ResponseEvent> {
    let mut started = response.clone();
    started.status = ResponseStatus::InProgress;
    started.output.clear();
    started.usage = None;
    let mut out = vec![
        ResponseEvent::Created {
            response: Box::new(started.clone()),
        },
        ResponseEvent::InProgress {
            response: Box::new(started),
        },
    ];
    for (output_index, item) in response.output.iter().enumerate() {
        out.push(ResponseEvent::OutputItemAdded {
            output_index,
            item: opened(item),
        });
        match item {
            OutputItem::Message(m) => message_events(&mut out, output_index, m),
            OutputItem::Reasoning(r) => reasoning_events(&mut out, output_index, r),
            OutputItem::FunctionCall(f) => {
                out.push(ResponseEvent::FunctionCallArgumentsDelta {
                    item_id: f.id.clone(),
                    output_index,
                    delta: f.arguments.clone(),
                });
                out.push(ResponseEvent::FunctionCallArgumentsDone {
                    item_id: f.id.clone(),
                    output_index,
                    name: f.name.clone(),
                    arguments: f.arguments.clone(),
                });
            }
            OutputItem::CustomToolCall(c) => {
                out.push(ResponseEvent::CustomToolCallInputDelta {
                    item_id: c.id.clone(),
                    output_index,
                    call_id: c.call_id.clone(),
                    delta: c.input.clone(),
                });
                out.push(ResponseEvent::CustomToolCallInputDone {
                    item_id: c.id.clone(),
                    output_index,
                    call_id: c.call_id.clone(),
                    input: c.input.clone(),
                });
            }
        }
        out.push(ResponseEvent::OutputItemDone {
            output_index,
            item: item.clone(),
        });
    }
    out.push(ResponseEvent::Completed {
        response: Box::new(response.clone()),
    });
    out
}

/// The item as `output_item.added` announces it: no content yet.
fn opened(item: &OutputItem) -> OutputItem {
    match item {
        OutputItem::Message(m) => OutputItem::Message(OutputMessage {
            status: "in_progress".to_owned(),
            content: Vec::new(),
            ..m.clone()
        }),
        OutputItem::Reasoning(r) => OutputItem::Reasoning(OutputReasoning {
            summary: Vec::new(),
            content: None,
            encrypted_content: None,
            ..r.clone()
        }),
        OutputItem::FunctionCall(f) => OutputItem::FunctionCall(OutputFunctionCall {
            arguments: String::new(),
            status: "in_progress".to_owned(),
            ..f.clone()
        }),
        OutputItem::CustomToolCall(c) => OutputItem::CustomToolCall(OutputCustomToolCall {
            input: String::new(),
            status: "in_progress".to_owned(),
            ..c.clone()
        }),
    }
}

fn message_events(out: &mut Vec<ResponseEvent>, output_index: usize, m: &OutputMessage) {
    for (content_index, part) in m.content.iter().enumerate() {
        let item_id = m.id.clone();
        let part_with = |text: String| Part::OutputText {
            text,
            annotations: part.annotations.clone(),
            logprobs: Vec::new(),
        };
        out.push(ResponseEvent::ContentPartAdded {
            item_id: item_id.clone(),
            output_index,
            content_index,
            part: part_with(String::new()),
        });
        out.push(ResponseEvent::OutputTextDelta {
            item_id: item_id.clone(),
            output_index,
            content_index,
            delta: part.text.clone(),
            logprobs: part.logprobs.clone(),
        });
        out.push(ResponseEvent::OutputTextDone {
            item_id: item_id.clone(),
            output_index,
            content_index,
            text: part.text.clone(),
            logprobs: part.logprobs.clone(),
        });
        out.push(ResponseEvent::ContentPartDone {
            item_id,
            output_index,
            content_index,
            part: part_with(part.text.clone()),
        });
    }
}

fn reasoning_events(out: &mut Vec<ResponseEvent>, output_index: usize, r: &OutputReasoning) {
    for (summary_index, summary) in r.summary.iter().enumerate() {
        let item_id = r.id.clone();
        out.push(ResponseEvent::ReasoningSummaryPartAdded {
            item_id: item_id.clone(),
            output_index,
            summary_index,
            part: Part::SummaryText {
                text: String::new(),
            },
        });
        out.push(ResponseEvent::ReasoningSummaryTextDelta {
            item_id: item_id.clone(),
            output_index,
            summary_index,
            delta: summary.text.clone(),
        });
        out.push(ResponseEvent::ReasoningSummaryTextDone {
            item_id: item_id.clone(),
            output_index,
            summary_index,
            text: summary.text.clone(),
        });
        out.push(ResponseEvent::ReasoningSummaryPartDone {
            item_id,
            output_index,
            summary_index,
            part: Part::SummaryText {
                text: summary.text.clone(),
            },
        });
    }
    for (content_index, text) in r.content.iter().flatten().enumerate() {
        out.push(ResponseEvent::ReasoningTextDelta {
            item_id: r.id.clone(),
            output_index,
            content_index,
            delta: text.text.clone(),
        });
        out.push(ResponseEvent::ReasoningTextDone {
            item_id: r.id.clone(),
            output_index,
            content_index,
            text: text.text.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_types::events::{OutputText, ReasoningText, SummaryText};

    #[test]
    fn every_item_is_announced_streamed_and_closed() {
        let mut r = ResponseObject::new("resp_1".into(), "m".into(), 1);
        r.status = ResponseStatus::Completed;
        r.output = vec![
            OutputItem::Reasoning(OutputReasoning {
                id: "rs_1".into(),
                summary: vec![SummaryText::new("think")],
                content: Some(vec![ReasoningText::new("think")]),
                encrypted_content: Some("ccp:x".into()),
                status: None,
            }),
            OutputItem::Message(OutputMessage {
                id: "msg_1".into(),
                status: "completed".into(),
                role: "assistant".into(),
                content: vec![OutputText::new("hello")],
            }),
            OutputItem::FunctionCall(OutputFunctionCall {
                id: "fc_1".into(),
                call_id: "call_1".into(),
                name: "f".into(),
                namespace: None,
                arguments: "{}".into(),
                status: "completed".into(),
            }),
        ];
        let events = response_to_events(&r);
        let kinds: Vec<&str> = events.iter().map(ResponseEvent::kind).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let ResponseEvent::Created { response } = &events[0] else {
            panic!("{:?}", events[0])
        };
        assert!(response.output.is_empty());
        assert_eq!(response.status, ResponseStatus::InProgress);
        assert_eq!(
            events.last(),
            Some(&ResponseEvent::Completed {
                response: Box::new(r)
            })
        );
    }
}
