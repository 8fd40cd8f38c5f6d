//! Tool-call fragments → `function_call` / `custom_tool_call` items.
//!
//! Fragment routing (providers disagree on all of it):
//! * With an `index`, a fragment belongs to the latest call with that index, unless it carries a
//!   non-empty `id` different from that call's id: then it starts a new call (some servers give
//!   every whole call index 0).
//! * Without an `index` (GLM-like whole calls), a non-empty `id` different from the last call's
//!   id starts a new call; anything else continues the last call.
//! * `""` ids and names are absent (DashScope repeats them on continuation fragments). The first
//!   non-empty id and name win.
//! * `arguments` is a string fragment, or a whole JSON value (serialized). With
//!   `cumulative_deltas`, a fragment that repeats everything received so far is cut to its suffix.
//!
//! An item is added only once both id and name are known; earlier argument fragments are
//! buffered and released as one delta. At the end a call that has a name but never got an id is
//! added with a synthesized `call_{S}_{n}`; a call that never got a name cannot be executed and
//! is dropped with a warning. Names resolve through the [`ToolNameMap`](crate::tools::ToolNameMap):
//! flattened namespace members get their original name and `namespace`, custom tools become
//! `custom_tool_call` items whose `input` is the `input` string field of the JSON arguments (or
//! the raw arguments when they are not such an object), unknown names stay plain function calls.

use ccp_types::chat::ToolCallDelta;
use ccp_types::events::{OutputCustomToolCall, OutputFunctionCall, OutputItem, ResponseEvent};
use serde_json::Value;

use super::{strip_snapshot_prefix, ChatToResponses};
use crate::tools::ToolOrigin;

/// What a call becomes on the Responses side.
#[derive(Debug, Clone)]
enum CallTarget {
    Function {
        name: String,
        namespace: Option<String>,
    },
    Custom {
        name: String,
        namespace: Option<String>,
    },
}

/// An added call's item identity.
#[derive(Debug, Clone)]
struct OpenCall {
    output_index: usize,
    item_id: String,
    call_id: String,
    target: CallTarget,
}

/// Lifecycle of one upstream call.
#[derive(Debug, Clone)]
enum CallPhase {
    /// Id or name still unknown: fragments are buffered.
    Pending,
    /// `output_item.added` sent.
    Open(OpenCall),
    /// `output_item.done` sent.
    Closed,
    /// Never got a name; nothing was sent.
    Dropped,
}

/// One upstream tool call being assembled.
#[derive(Debug, Clone)]
struct ToolCall {
    upstream_index: Option<u32>,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    phase: CallPhase,
}

/// All calls of the response, in order of first appearance.
#[derive(Debug, Default)]
pub(super) struct ToolCalls {
    calls: Vec<ToolCall>,
}

impl ToolCalls {
    /// Position of the call a fragment belongs to, creating it if needed.
    fn route(&mut self, fragment: &ToolCallDelta) -> usize {
        let id = non_empty(fragment.id.as_deref());
        let existing = match fragment.index {
            Some(index) => self
                .calls
                .iter()
                .rposition(|c| c.upstream_index == Some(index)),
            None => self.calls.len().checked_sub(1),
        };
        let starts_new_call = |call: &ToolCall| matches!((id, call.id.as_deref()), (Some(new), Some(old)) if new != old);
        match existing {
            Some(position)
                if self
                    .calls
                    .get(position)
                    .is_some_and(|c| !starts_new_call(c)) =>
            {
                position
            }
            _ => {
                self.calls.push(ToolCall {
                    upstream_index: fragment.index,
                    id: None,
                    name: None,
                    arguments: String::new(),
                    phase: CallPhase::Pending,
                });
                self.calls.len() - 1
            }
        }
    }

    /// Pending calls in upstream index order (calls without an index by first appearance).
    fn pending_positions(&self) -> Vec<usize> {
        let mut pending: Vec<usize> = (0..self.calls.len())
            .filter(|&p| matches!(self.calls[p].phase, CallPhase::Pending))
            .collect();
        pending.sort_by_key(|&p| (self.calls[p].upstream_index.unwrap_or(u32::MAX), p));
        pending
    }

    /// `(output_index, position)` of every open call.
    pub(super) fn open_positions(&self) -> Vec<(usize, usize)> {
        self.calls
            .iter()
            .enumerate()
            .filter_map(|(p, c)| match &c.phase {
                CallPhase::Open(open) => Some((open.output_index, p)),
                _ => None,
            })
            .collect()
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The string form of an `arguments` value.
fn arguments_fragment(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The freeform input of a custom tool call from its JSON arguments.
fn custom_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => match map.get("input") {
            Some(Value::String(input)) => input.clone(),
            _ => arguments.to_owned(),
        },
        _ => arguments.to_owned(),
    }
}

impl ChatToResponses {
    /// Applies one tool-call fragment.
    pub(super) fn tool_call_fragment(&mut self, fragment: &ToolCallDelta) {
        let position = self.calls.route(fragment);
        let cumulative = self.parse.cumulative_deltas;
        let Some(call) = self.calls.calls.get_mut(position) else {
            return;
        };
        if call.id.is_none() {
            call.id = non_empty(fragment.id.as_deref()).map(str::to_owned);
        }
        let function = fragment.function.as_ref();
        if call.name.is_none() {
            call.name = non_empty(function.and_then(|f| f.name.as_deref())).map(str::to_owned);
        }
        let fresh = function
            .and_then(|f| f.arguments.as_ref())
            .and_then(arguments_fragment)
            .map(|fragment| {
                let fresh = if cumulative {
                    strip_snapshot_prefix(&call.arguments, &fragment)
                } else {
                    &fragment
                };
                fresh.to_owned()
            });
        let fresh = fresh.filter(|f| !f.is_empty());
        if let Some(f) = &fresh {
            call.arguments.push_str(f);
        }
        match &call.phase {
            CallPhase::Pending if call.id.is_some() && call.name.is_some() => {
                self.open_call(position);
            }
            CallPhase::Open(OpenCall {
                output_index,
                item_id,
                target: CallTarget::Function { .. },
                ..
            }) => {
                if let Some(delta) = fresh {
                    self.out.push(|| ResponseEvent::FunctionCallArgumentsDelta {
                        item_id: item_id.clone(),
                        output_index: *output_index,
                        delta,
                    });
                }
            }
            // Custom input is released at close; pending calls keep buffering.
            _ => {}
        }
    }

    /// Adds pending calls at the end of the stream, in upstream index order.
    pub(super) fn open_pending_calls(&mut self) {
        for position in self.calls.pending_positions() {
            let Some(call) = self.calls.calls.get_mut(position) else {
                continue;
            };
            if call.name.is_none() {
                tracing::warn!(
                    upstream_index = ?call.upstream_index,
                    id = ?call.id,
                    "dropping an upstream tool call that never got a function name"
                );
                call.phase = CallPhase::Dropped;
                continue;
            }
            self.open_call(position);
        }
    }

    /// Sends `output_item.added` for a call whose name is known (and releases buffered
    /// arguments). The open text item closes first: the call comes after it.
    fn open_call(&mut self, position: usize) {
        let Some(name) = self.calls.calls.get(position).and_then(|c| c.name.clone()) else {
            return;
        };
        self.close_text();
        self.held_whitespace = None;
        let output_index = self.alloc_output_index();
        let target = match self.tools.resolve(&name) {
            Some(ToolOrigin::Function { namespace, name }) => CallTarget::Function {
                name: name.clone(),
                namespace: namespace.clone(),
            },
            Some(ToolOrigin::Custom { name, namespace }) => CallTarget::Custom {
                name: name.clone(),
                namespace: namespace.clone(),
            },
            None => CallTarget::Function {
                name,
                namespace: None,
            },
        };
        let synthesized_call_id = format!("call_{}_{output_index}", self.id_suffix);
        let item_prefix = if matches!(target, CallTarget::Custom { .. }) {
            "ctc"
        } else {
            "fc"
        };
        let item_id = self.item_id(item_prefix, output_index);
        let Some(call) = self.calls.calls.get_mut(position) else {
            return;
        };
        let call_id = call.id.clone().unwrap_or(synthesized_call_id);
        let open = OpenCall {
            output_index,
            item_id,
            call_id,
            target,
        };
        self.out.push(|| ResponseEvent::OutputItemAdded {
            output_index,
            item: call_item(&open, String::new(), "in_progress"),
        });
        if matches!(open.target, CallTarget::Function { .. }) && !call.arguments.is_empty() {
            self.out.push(|| ResponseEvent::FunctionCallArgumentsDelta {
                item_id: open.item_id.clone(),
                output_index,
                delta: call.arguments.clone(),
            });
        }
        call.phase = CallPhase::Open(open);
    }

    /// Sends the closing events of an open call; `status` is the item's final status.
    pub(super) fn close_call(&mut self, position: usize, status: &str) {
        let Some(call) = self.calls.calls.get_mut(position) else {
            return;
        };
        let CallPhase::Open(open) = std::mem::replace(&mut call.phase, CallPhase::Closed) else {
            return;
        };
        let arguments = std::mem::take(&mut call.arguments);
        let OpenCall {
            output_index,
            item_id,
            call_id,
            target,
        } = &open;
        let output_index = *output_index;
        let item = match target {
            CallTarget::Function { name, .. } => {
                let arguments = if arguments.trim().is_empty() {
                    // A call without arguments: `""` is not valid JSON for the tool handler.
                    let delta = "{}".to_owned();
                    self.out.push(|| ResponseEvent::FunctionCallArgumentsDelta {
                        item_id: item_id.clone(),
                        output_index,
                        delta: delta.clone(),
                    });
                    delta
                } else {
                    arguments
                };
                self.out.push(|| ResponseEvent::FunctionCallArgumentsDone {
                    item_id: item_id.clone(),
                    output_index,
                    name: name.clone(),
                    arguments: arguments.clone(),
                });
                call_item(&open, arguments, status)
            }
            CallTarget::Custom { .. } => {
                let input = custom_input(&arguments);
                if !input.is_empty() {
                    self.out.push(|| ResponseEvent::CustomToolCallInputDelta {
                        item_id: item_id.clone(),
                        output_index,
                        call_id: call_id.clone(),
                        delta: input.clone(),
                    });
                }
                self.out.push(|| ResponseEvent::CustomToolCallInputDone {
                    item_id: item_id.clone(),
                    output_index,
                    call_id: call_id.clone(),
                    input: input.clone(),
                });
                call_item(&open, input, status)
            }
        };
        self.record_done(output_index, item);
    }
}

/// The item for a call; `payload` is the arguments (function) or input (custom).
fn call_item(open: &OpenCall, payload: String, status: &str) -> OutputItem {
    let status = status.to_owned();
    match &open.target {
        CallTarget::Function { name, namespace } => OutputItem::FunctionCall(OutputFunctionCall {
            id: open.item_id.clone(),
            call_id: open.call_id.clone(),
            name: name.clone(),
            namespace: namespace.clone(),
            arguments: payload,
            status,
        }),
        CallTarget::Custom { name, namespace } => {
            OutputItem::CustomToolCall(OutputCustomToolCall {
                id: open.item_id.clone(),
                call_id: open.call_id.clone(),
                name: name.clone(),
                namespace: namespace.clone(),
                input: payload,
                status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_input_prefers_the_input_field() {
        assert_eq!(
            custom_input(r#"{"input":"*** Begin Patch\n"}"#),
            "*** Begin Patch\n"
        );
        assert_eq!(custom_input(r#"{"patch":"x"}"#), r#"{"patch":"x"}"#);
        assert_eq!(custom_input("*** Begin Patch"), "*** Begin Patch");
    }

    #[test]
    fn arguments_values_become_strings() {
        assert_eq!(arguments_fragment(&Value::Null), None);
        assert_eq!(
            arguments_fragment(&serde_json::json!("{\"a")),
            Some("{\"a".to_owned())
        );
        assert_eq!(
            arguments_fragment(&serde_json::json!({"a": 1})),
            Some("{\"a\":1}".to_owned())
        );
    }
}
