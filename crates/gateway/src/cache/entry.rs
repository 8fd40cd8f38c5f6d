//! One cached answer: the final `Response` object and, when it was streamed, every event in
//! order — written as the upstream's answer left `execute`, before the state layer sealed or
//! stored anything, so a hit goes through the same `Recorder` as a fresh answer.
//!
//! Replay: a streamed request gets the stored event sequence (same types, order and deltas;
//! repeated `response.in_progress` keep-alives are not kept), or, for an answer that was not
//! streamed, events built from the `Response` object (`synth`). A non-streamed request gets the
//! `Response` object. Either way the ids are fresh: a new `resp_…` id and new item ids (same
//! prefixes), consistently across events, so stored-response and item ids stay unique; and
//! `created_at` is now. `call_id`s and usage are kept as the upstream sent them. A relayed
//! answer (Responses passthrough) also echoes this request's `metadata`, `user` and
//! `previous_response_id`.

use std::collections::HashMap;
use std::sync::Arc;

use ccp_types::events::{RawEvent, ResponseEvent, ResponseObject, ResponseStatus, StreamEvent};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::key::Echo;
use super::{synth, ResponseCache};
use crate::pipeline::{EventStream, GatewayResponse, ResponseBody};
use crate::upstream::new_response_id;

/// Larger answers are not cached (nor collected past this size while streaming).
pub(crate) const MAX_ENTRY_BYTES: usize = 8 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Unix ms after which the entry is not served, whatever the store still holds.
    pub expires_at_ms: u64,
    /// The final `Response` was relayed verbatim from a Responses upstream (else the proxy
    /// built it, and it parses as a [`ResponseObject`]).
    pub relayed: bool,
    pub response: Box<RawValue>,
    /// The events in order, when the answer was streamed.
    pub events: Option<Vec<CachedEvent>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CachedEvent {
    /// Relayed verbatim (a [`RawEvent`]), else built by the proxy (a [`ResponseEvent`]).
    pub relayed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    pub event: Box<RawValue>,
}

impl CachedEvent {
    fn of(ev: &StreamEvent) -> Option<Self> {
        Some(match ev {
            StreamEvent::Typed(typed) => CachedEvent {
                relayed: false,
                sequence_number: None,
                event: serde_json::value::to_raw_value(typed).ok()?,
            },
            StreamEvent::Raw(raw) => CachedEvent {
                relayed: true,
                sequence_number: raw.sequence_number,
                event: RawValue::from_string(raw.data.clone()).ok()?,
            },
        })
    }

    fn size(&self) -> usize {
        self.event.get().len() + 32
    }
}

impl Entry {
    pub fn encode(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(self).ok()
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// This entry as an answer to a request now (`now_secs`), with fresh ids; `None` when it
    /// cannot be (a relayed answer that was not streamed and holds items the proxy cannot
    /// rebuild events for, or an entry that no longer parses).
    pub fn replay(self, stream: bool, echo: &Echo, now_secs: u64) -> Option<GatewayResponse> {
        let mut response: Value = serde_json::from_str(self.response.get()).ok()?;
        let fresh = Fresh::for_response(&response, echo, now_secs)?;
        if !stream {
            fresh.rewrite(&mut response, self.relayed);
            let body = if self.relayed {
                ResponseBody::RawJson(serde_json::to_vec(&response).ok()?.into())
            } else {
                ResponseBody::Json(Box::new(serde_json::from_value(response).ok()?))
            };
            return Some(GatewayResponse {
                headers: http::HeaderMap::new(),
                body,
            });
        }
        let events = match self.events {
            Some(events) => events
                .into_iter()
                .map(|e| fresh.event(e))
                .collect::<Option<Vec<StreamEvent>>>()?,
            None => {
                // Built from the Response object, then freshened like stored typed events.
                let typed: ResponseObject = serde_json::from_value(response).ok()?;
                let mut out = Vec::new();
                for ev in synth::response_to_events(&typed) {
                    out.push(fresh.event(CachedEvent::of(&StreamEvent::Typed(ev))?)?);
                }
                out
            }
        };
        Some(GatewayResponse::stream(Box::pin(
            futures_util::stream::iter(events),
        )))
    }
}

/// The fresh ids and echoed fields of one replay.
struct Fresh<'a> {
    /// Old id → new id: the response's and every output item's.
    ids: HashMap<String, String>,
    echo: &'a Echo,
    now_secs: u64,
}

impl<'a> Fresh<'a> {
    fn for_response(response: &Value, echo: &'a Echo, now_secs: u64) -> Option<Self> {
        let mut ids = HashMap::new();
        ids.insert(response.get("id")?.as_str()?.to_owned(), new_response_id());
        let items = response.get("output").and_then(Value::as_array);
        for id in items
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("id")?.as_str())
        {
            let prefix = id.split_once('_').map_or("item", |(p, _)| p);
            let fresh = format!(
                "{prefix}_{:016x}{:016x}",
                fastrand::u64(..),
                fastrand::u64(..)
            );
            ids.insert(id.to_owned(), fresh);
        }
        Some(Fresh {
            ids,
            echo,
            now_secs,
        })
    }

    fn event(&self, cached: CachedEvent) -> Option<StreamEvent> {
        let mut value: Value = serde_json::from_str(cached.event.get()).ok()?;
        self.rewrite(&mut value, cached.relayed);
        if !cached.relayed {
            return Some(StreamEvent::Typed(serde_json::from_value(value).ok()?));
        }
        Some(StreamEvent::Raw(RawEvent {
            kind: value.get("type")?.as_str()?.to_owned(),
            data: serde_json::to_string(&value).ok()?,
            sequence_number: cached.sequence_number,
        }))
    }

    /// Replaces every old id (as a whole string) by its new one; gives every `Response` object
    /// the new `created_at`, and a relayed one this request's echoed fields.
    fn rewrite(&self, value: &mut Value, relayed: bool) {
        match value {
            Value::String(s) => {
                if let Some(new) = self.ids.get(s.as_str()) {
                    new.clone_into(s);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.rewrite(v, relayed)),
            Value::Object(map) => {
                if map.get("object").and_then(Value::as_str) == Some("response") {
                    if map.contains_key("created_at") {
                        map.insert("created_at".into(), self.now_secs.into());
                    }
                    if relayed {
                        self.echo_into(map);
                    }
                }
                map.values_mut().for_each(|v| self.rewrite(v, relayed));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn echo_into(&self, response: &mut serde_json::Map<String, Value>) {
        let echo = self.echo;
        let fields = [
            (
                "previous_response_id",
                echo.previous_response_id.clone().map(Value::String),
            ),
            ("metadata", echo.metadata.clone()),
            ("user", echo.user.clone()),
        ];
        for (name, value) in fields {
            if response.contains_key(name) {
                let empty = if name == "metadata" {
                    Value::Object(Default::default())
                } else {
                    Value::Null
                };
                response.insert(name.into(), value.unwrap_or(empty));
            }
        }
    }
}

/// The upstream's answer, passed on unchanged and written under `key` once it completed.
pub(crate) async fn capture(
    cache: Arc<ResponseCache>,
    key: String,
    mut response: GatewayResponse,
) -> GatewayResponse {
    let entry = match &response.body {
        ResponseBody::Json(resp) if resp.status == ResponseStatus::Completed => {
            serde_json::value::to_raw_value(resp)
                .ok()
                .map(|raw| (false, raw))
        }
        ResponseBody::RawJson(bytes) => completed_raw_response(bytes).map(|raw| (true, raw)),
        ResponseBody::Json(_) => None,
        ResponseBody::Stream(_) => {
            let ResponseBody::Stream(events) = response.body else {
                return response;
            };
            response.body = ResponseBody::Stream(tee(cache, key, events));
            return response;
        }
    };
    if let Some((relayed, raw)) = entry {
        let entry = Entry {
            expires_at_ms: cache.expires_at_ms(),
            relayed,
            response: raw,
            events: None,
        };
        cache.put(&key, entry).await;
    }
    response
}

/// A relayed `Response` object's JSON if it completed.
fn completed_raw_response(bytes: &[u8]) -> Option<Box<RawValue>> {
    #[derive(Deserialize)]
    struct Status<'a> {
        #[serde(borrow)]
        status: Option<&'a str>,
    }
    let status: Status<'_> = serde_json::from_slice(bytes).ok()?;
    if status.status != Some("completed") {
        return None;
    }
    RawValue::from_string(String::from_utf8(bytes.to_vec()).ok()?).ok()
}

/// Events collected from a stream on its way to the client.
struct Collected {
    events: Vec<CachedEvent>,
    size: usize,
    in_progress_seen: bool,
}

impl Collected {
    /// Keeps `ev`; `false` once the answer is too large to cache (or an event does not encode).
    fn push(&mut self, ev: &StreamEvent) -> bool {
        if ev.kind() == "response.in_progress" {
            if self.in_progress_seen {
                return true; // a keep-alive
            }
            self.in_progress_seen = true;
        }
        let Some(cached) = CachedEvent::of(ev) else {
            return false;
        };
        self.size += cached.size();
        self.events.push(cached);
        self.size <= MAX_ENTRY_BYTES
    }

    /// The entry for a stream that ended with `terminal`, if it completed.
    fn into_entry(mut self, terminal: &StreamEvent, expires_at_ms: u64) -> Option<Entry> {
        let (relayed, response) = match terminal {
            StreamEvent::Typed(ResponseEvent::Completed { response }) => {
                (false, serde_json::value::to_raw_value(response).ok()?)
            }
            StreamEvent::Raw(raw) if raw.kind == "response.completed" => {
                #[derive(Deserialize)]
                struct Completed {
                    response: Box<RawValue>,
                }
                let completed: Completed = serde_json::from_str(&raw.data).ok()?;
                (true, completed.response)
            }
            _ => return None,
        };
        if !self.push(terminal) {
            return None;
        }
        Some(Entry {
            expires_at_ms,
            relayed,
            response,
            events: Some(self.events),
        })
    }
}

/// `events`, unchanged, with every event collected; when `response.completed` comes, the entry is
/// written before that event is released (so the next identical request finds it).
fn tee(cache: Arc<ResponseCache>, key: String, events: EventStream) -> EventStream {
    let collected = Some(Collected {
        events: Vec::new(),
        size: 0,
        in_progress_seen: false,
    });
    Box::pin(futures_util::stream::unfold(
        (events, collected, cache, key),
        |(mut events, mut collected, cache, key)| async move {
            let ev = events.next().await?;
            if ev.is_terminal() {
                if let Some(entry) = collected
                    .take()
                    .and_then(|c| c.into_entry(&ev, cache.expires_at_ms()))
                {
                    cache.put(&key, entry).await;
                }
            } else if let Some(c) = collected.as_mut() {
                if !c.push(&ev) {
                    collected = None;
                }
            }
            Some((ev, (events, collected, cache, key)))
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_types::events::{OutputItem, OutputMessage, OutputText};
    use serde_json::json;

    fn completed() -> ResponseObject {
        let mut r = ResponseObject::new("resp_old".into(), "m".into(), 1);
        r.status = ResponseStatus::Completed;
        r.output.push(OutputItem::Message(OutputMessage {
            id: "msg_old".into(),
            status: "completed".into(),
            role: "assistant".into(),
            content: vec![OutputText::new("hi")],
        }));
        r
    }

    fn stream_entry() -> Entry {
        let r = completed();
        let events = [
            ResponseEvent::Created {
                response: Box::new(ResponseObject::new("resp_old".into(), "m".into(), 1)),
            },
            ResponseEvent::OutputTextDelta {
                item_id: "msg_old".into(),
                output_index: 0,
                content_index: 0,
                delta: "hi".into(),
                logprobs: vec![],
            },
        ];
        let mut c = Collected {
            events: Vec::new(),
            size: 0,
            in_progress_seen: false,
        };
        for ev in events {
            assert!(c.push(&StreamEvent::Typed(ev)));
        }
        let terminal = StreamEvent::Typed(ResponseEvent::Completed {
            response: Box::new(r),
        });
        c.into_entry(&terminal, 10).unwrap()
    }

    async fn collect(resp: GatewayResponse) -> Vec<Value> {
        let ResponseBody::Stream(events) = resp.body else {
            panic!("expected a stream")
        };
        events
            .map(|ev| match ev {
                StreamEvent::Typed(t) => serde_json::to_value(t).unwrap(),
                StreamEvent::Raw(r) => serde_json::from_str(&r.data).unwrap(),
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_replay_has_fresh_consistent_ids_and_the_same_deltas() {
        let entry = Entry::decode(&stream_entry().encode().unwrap()).unwrap();
        let events = collect(entry.replay(true, &Echo::default(), 99).unwrap()).await;
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_text.delta",
                "response.completed"
            ]
        );
        let id = events[0]["response"]["id"].as_str().unwrap();
        assert!(id.starts_with("resp_") && id != "resp_old", "{id}");
        assert_eq!(events[2]["response"]["id"], id);
        assert_eq!(events[2]["response"]["created_at"], 99);
        let item = events[1]["item_id"].as_str().unwrap();
        assert!(item.starts_with("msg_") && item != "msg_old", "{item}");
        assert_eq!(events[2]["response"]["output"][0]["id"], item);
        assert_eq!(events[1]["delta"], "hi");
    }

    #[tokio::test]
    async fn a_stream_answers_a_json_request_and_the_reverse() {
        let entry = stream_entry();
        let Some(GatewayResponse {
            body: ResponseBody::Json(resp),
            ..
        }) = entry.replay(false, &Echo::default(), 5)
        else {
            panic!("expected JSON")
        };
        assert_eq!(resp.status, ResponseStatus::Completed);
        assert_ne!(resp.id, "resp_old");
        assert_eq!(resp.output[0].id().len(), "msg_".len() + 32);

        let json_only = Entry {
            expires_at_ms: 10,
            relayed: false,
            response: serde_json::value::to_raw_value(&completed()).unwrap(),
            events: None,
        };
        let events = collect(json_only.replay(true, &Echo::default(), 5).unwrap()).await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(last["response"]["output"][0]["content"][0]["text"], "hi");
        assert!(events
            .iter()
            .any(|e| e["type"] == "response.output_text.delta" && e["delta"] == "hi"));
    }

    #[test]
    fn relayed_answers_echo_this_request() {
        let raw = json!({"id": "resp_old", "object": "response", "created_at": 1,
                         "status": "completed", "output": [], "metadata": {"old": 1},
                         "user": "old", "previous_response_id": "resp_prev"});
        let entry = Entry {
            expires_at_ms: 10,
            relayed: true,
            response: serde_json::value::to_raw_value(&raw).unwrap(),
            events: None,
        };
        let echo = Echo {
            previous_response_id: None,
            metadata: Some(json!({"new": 2})),
            user: None,
        };
        let Some(GatewayResponse {
            body: ResponseBody::RawJson(bytes),
            ..
        }) = entry.replay(false, &echo, 5)
        else {
            panic!("expected relayed JSON")
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["metadata"], json!({"new": 2}));
        assert_eq!(v["user"], Value::Null);
        assert_eq!(v["previous_response_id"], Value::Null);
        assert_eq!(v["created_at"], 5);
    }

    #[test]
    fn only_completed_answers_make_entries() {
        let c = || Collected {
            events: Vec::new(),
            size: 0,
            in_progress_seen: false,
        };
        let mut failed = completed();
        failed.status = ResponseStatus::Failed;
        let failed = StreamEvent::Typed(ResponseEvent::Failed {
            response: Box::new(failed.clone()),
        });
        assert!(c().into_entry(&failed, 1).is_none());
        let incomplete = StreamEvent::Typed(ResponseEvent::Incomplete {
            response: Box::new(completed()),
        });
        assert!(c().into_entry(&incomplete, 1).is_none());
        assert!(completed_raw_response(br#"{"status":"incomplete"}"#).is_none());
        assert!(completed_raw_response(br#"{"status":"completed"}"#).is_some());
    }
}
