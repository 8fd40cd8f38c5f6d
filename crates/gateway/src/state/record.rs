//! The output side of Responses state: every answer passes through a [`Recorder`], which
//!
//! * seals the proxy's reasoning state into each reasoning item's `encrypted_content`
//!   (`seal.rs`) — the converters' inner formats, plus the reasoning text when the client asked
//!   for `reasoning.encrypted_content` — caching the blob per item so `output_item.done` and
//!   `response.completed` carry the same one;
//! * echoes `store` and `previous_response_id` on the response objects it built;
//! * with `store` on, writes the response (its own input items with ids assigned, its output
//!   items as the client got them, the whole Response object) when the terminal event passes.
//!
//! Invariants: the write happens before the terminal event is released, so a client that saw
//! `response.completed` can continue from it at once — and only then: nothing waits on the store
//! before the first byte. A failed write is logged and never costs the client its answer.
//! Events relayed verbatim from a Responses upstream are not modified (their reasoning is the
//! upstream's own).

use std::collections::HashMap;
use std::sync::Arc;

use ccp_store::{ItemRecord, ResponseRecord};
use ccp_types::events::{OutputItem, ResponseEvent, ResponseObject, StreamEvent};
use futures_util::StreamExt as _;
use serde_json::Value;

use super::seal::{Sealed, SEALED_PREFIX};
use super::ResponseState;
use crate::pipeline::EventStream;

/// What one answer is recorded and sealed with.
pub struct Recorder {
    pub(crate) state: Arc<ResponseState>,
    pub(crate) owner: String,
    /// Persist the response (`store`, default true, and a store is attached).
    pub(crate) store: bool,
    /// The client asked for `reasoning.encrypted_content`: seal the reasoning text too.
    pub(crate) include_encrypted: bool,
    pub(crate) previous_response_id: Option<String>,
    pub(crate) instructions: Option<String>,
    /// The request's own input items, ids assigned.
    pub(crate) own_items: Vec<Value>,
    pub(crate) sealed: HashMap<String, String>,
    /// The upstream that answered (kind and endpoint), sealed with its state: only it gets
    /// that state back (`replay.rs`).
    pub(crate) origin: Option<String>,
}

impl Recorder {
    /// Seals one output item in place.
    fn seal_item(&mut self, item: &mut OutputItem) {
        let OutputItem::Reasoning(r) = item else {
            return;
        };
        let inner = r
            .encrypted_content
            .as_deref()
            .filter(|e| e.starts_with("ccp:") && !e.starts_with(SEALED_PREFIX));
        let text: String = r
            .content
            .iter()
            .flatten()
            .map(|p| p.text.as_str())
            .collect();
        let seal_text = self.include_encrypted && !text.is_empty();
        if inner.is_none() && !seal_text {
            return;
        }
        if let Some(done) = self.sealed.get(&r.id) {
            r.encrypted_content = Some(done.clone());
            return;
        }
        let payload = Sealed {
            inner: inner.map(str::to_owned),
            text: (!text.is_empty()).then_some(text),
            origin: inner.and(self.origin.clone()),
        };
        if let Some(blob) = self.state.sealer.seal(&payload) {
            self.sealed.insert(r.id.clone(), blob.clone());
            r.encrypted_content = Some(blob);
        }
    }

    fn patch_response(&mut self, response: &mut ResponseObject) {
        response.store = self.store;
        if self.previous_response_id.is_some() {
            response.previous_response_id = self.previous_response_id.clone();
        }
        for item in &mut response.output {
            self.seal_item(item);
        }
    }

    /// Seals and echoes on one event; the record to write when it ends the response well.
    fn on_event(&mut self, ev: StreamEvent) -> (StreamEvent, Option<ResponseRecord>) {
        match ev {
            StreamEvent::Typed(mut typed) => {
                let mut record = None;
                match &mut typed {
                    ResponseEvent::Created { response }
                    | ResponseEvent::InProgress { response }
                    | ResponseEvent::Failed { response } => self.patch_response(response),
                    ResponseEvent::Completed { response }
                    | ResponseEvent::Incomplete { response } => {
                        self.patch_response(response);
                        record = self.typed_record(response);
                    }
                    ResponseEvent::OutputItemAdded { item, .. }
                    | ResponseEvent::OutputItemDone { item, .. } => self.seal_item(item),
                    _ => {}
                }
                (StreamEvent::Typed(typed), record)
            }
            StreamEvent::Raw(raw) => {
                let record = match raw.kind.as_str() {
                    "response.completed" | "response.incomplete" if self.store => {
                        serde_json::from_str::<Value>(&raw.data)
                            .ok()
                            .and_then(|mut v| self.value_record(v["response"].take()))
                    }
                    _ => None,
                };
                (StreamEvent::Raw(raw), record)
            }
        }
    }

    fn typed_record(&self, response: &ResponseObject) -> Option<ResponseRecord> {
        if !self.store {
            return None;
        }
        self.value_record(serde_json::to_value(response).ok()?)
    }

    /// The record of a finished response given as JSON (built or relayed).
    fn value_record(&self, response: Value) -> Option<ResponseRecord> {
        if !self.store {
            return None;
        }
        let id = response.get("id")?.as_str()?.to_owned();
        let str_of = |k: &str| response.get(k).and_then(Value::as_str).map(str::to_owned);
        let output: Vec<ItemRecord> = response
            .get("output")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(item_record).collect())
            .unwrap_or_default();
        let now = super::now_secs();
        Some(ResponseRecord {
            id,
            owner: self.owner.clone(),
            created_at: response
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or(now),
            expires_at: Some(now.saturating_add(self.state.ttl_secs)),
            model: str_of("model").unwrap_or_default(),
            previous_response_id: self.previous_response_id.clone(),
            instructions: self.instructions.clone(),
            input_items: self.own_items.iter().map(item_record).collect(),
            output_items: output,
            usage: response.get("usage").filter(|u| !u.is_null()).cloned(),
            status: str_of("status").unwrap_or_else(|| "completed".into()),
            response: Some(response),
        })
    }

    /// Seals (and records) a non-streaming answer the proxy built.
    pub async fn finish_json(mut self, response: &mut ResponseObject) {
        self.patch_response(response);
        if let Some(record) = self.typed_record(response) {
            self.state.put(&record).await;
        }
    }

    /// Records a non-streaming answer relayed verbatim.
    pub async fn finish_raw(self, body: &[u8]) {
        if !self.store {
            return;
        }
        let Ok(response) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if let Some(record) = self.value_record(response) {
            self.state.put(&record).await;
        }
    }

    /// Wraps a stream: every event sealed and echoed, the response written before its terminal
    /// event is released.
    pub fn wrap(self, events: EventStream) -> EventStream {
        Box::pin(futures_util::stream::unfold(
            (events, self),
            |(mut events, mut rec)| async move {
                let ev = events.next().await?;
                let (ev, record) = rec.on_event(ev);
                if let Some(record) = record {
                    rec.state.put(&record).await;
                }
                Some((ev, (events, rec)))
            },
        ))
    }
}

/// An item with its id (one is assigned when it has none).
fn item_record(item: &Value) -> ItemRecord {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default();
    ItemRecord {
        id,
        item: item.clone(),
    }
}

/// Gives every item without an id one of OpenAI's prefixes (`input_items` lists ids).
pub fn assign_ids(items: &mut [Value]) {
    for item in items {
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        if obj.get("id").and_then(Value::as_str).is_some() {
            continue;
        }
        let prefix = match obj.get("type").and_then(Value::as_str) {
            Some("message") | None => "msg",
            Some("reasoning") => "rs",
            Some("function_call") => "fc",
            Some("function_call_output") => "fco",
            Some("custom_tool_call") => "ctc",
            Some("custom_tool_call_output") => "ctco",
            Some(_) => "item",
        };
        let id = format!(
            "{prefix}_{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        obj.insert("id".into(), Value::String(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_assigned_only_where_missing() {
        let mut items = vec![
            json!({"role": "user", "content": "hi"}),
            json!({"type": "function_call_output", "call_id": "c", "output": "x"}),
            json!({"type": "message", "id": "msg_keep", "role": "user", "content": "x"}),
        ];
        assign_ids(&mut items);
        assert!(items[0]["id"].as_str().unwrap().starts_with("msg_"));
        assert!(items[1]["id"].as_str().unwrap().starts_with("fco_"));
        assert_eq!(items[2]["id"], "msg_keep");
    }
}
