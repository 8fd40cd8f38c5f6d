//! Reasoning sources in a chunk delta, and OpenRouter-style `reasoning_details` that must be
//! round-tripped opaquely.
//!
//! Text comes from exactly one source per chunk, by priority: `reasoning_content` ›
//! `reasoning` › the text of `reasoning_details[]` (`reasoning.text` → `text`,
//! `reasoning.summary` → `summary`). The `<think>` fallback is handled on `content`.
//!
//! `reasoning_details` entries are also accumulated, whatever source supplied the text: entries
//! of one `(type, index)` are merged (string fields `text`/`summary`/`data` concatenated, other
//! fields replaced by the latest non-null value), which rebuilds the array a non-streaming answer
//! would have carried. When a reasoning item closes and the entries gathered since the previous
//! one include opaque state (an entry of type `reasoning.encrypted`, or any entry with a
//! `signature`), the merged array goes into that item's `encrypted_content` (see [`super::opaque`]).
//! Opaque state arriving while no reasoning item is open opens one, so it lands right before the
//! message or tool call it belongs to.

use ccp_types::chat::ChunkDelta;
use serde_json::{Map, Value};

use super::opaque;
use super::ChatToResponses;

/// The reasoning text of a delta from its highest-priority non-empty source.
pub(super) fn pick_reasoning_text(delta: &ChunkDelta) -> Option<String> {
    let non_empty = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    non_empty(&delta.reasoning_content)
        .or_else(|| non_empty(&delta.reasoning))
        .or_else(|| {
            delta
                .reasoning_details
                .as_deref()
                .map(details_text)
                .filter(|t| !t.is_empty())
        })
}

/// Concatenated visible text of `reasoning_details` entries.
fn details_text(entries: &[Value]) -> String {
    let mut text = String::new();
    for entry in entries {
        let field = match entry.get("type").and_then(Value::as_str) {
            Some("reasoning.text") => "text",
            Some("reasoning.summary") => "summary",
            _ => continue,
        };
        if let Some(t) = entry.get(field).and_then(Value::as_str) {
            text.push_str(t);
        }
    }
    text
}

/// True when the entry carries state the provider needs back verbatim.
fn is_opaque(entry: &Map<String, Value>) -> bool {
    let encrypted = entry.get("type").and_then(Value::as_str) == Some("reasoning.encrypted");
    let signed = entry
        .get("signature")
        .is_some_and(|s| !s.is_null() && s.as_str() != Some(""));
    encrypted || signed
}

/// String fields of a detail entry that arrive in fragments.
const CONCATENATED_FIELDS: [&str; 3] = ["text", "summary", "data"];

/// `reasoning_details` entries gathered since the last reasoning item closed.
#[derive(Debug, Default)]
pub(super) struct ReasoningDetails {
    entries: Vec<Map<String, Value>>,
    opaque: bool,
}

impl ReasoningDetails {
    /// Merges a chunk's entries; returns true when any of them is opaque.
    fn absorb(&mut self, incoming: &[Value]) -> bool {
        let mut saw_opaque = false;
        for entry in incoming {
            let Some(entry) = entry.as_object() else {
                continue;
            };
            saw_opaque |= is_opaque(entry);
            self.merge(entry);
        }
        self.opaque |= saw_opaque;
        saw_opaque
    }

    fn merge(&mut self, entry: &Map<String, Value>) {
        let kind = entry.get("type");
        let index = entry.get("index").filter(|i| !i.is_null());
        let target = match index {
            Some(index) => self
                .entries
                .iter_mut()
                .rev()
                .find(|e| e.get("type") == kind && e.get("index") == Some(index)),
            // Without an index only the latest entry can be a continuation.
            None => self
                .entries
                .last_mut()
                .filter(|e| e.get("type") == kind && e.get("index").is_none_or(Value::is_null)),
        };
        let Some(target) = target else {
            self.entries.push(entry.clone());
            return;
        };
        for (key, value) in entry {
            if value.is_null() {
                continue;
            }
            match (
                CONCATENATED_FIELDS.contains(&key.as_str()),
                target.get_mut(key),
                value.as_str(),
            ) {
                (true, Some(Value::String(existing)), Some(fragment)) => {
                    existing.push_str(fragment)
                }
                _ => {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
    }

    /// The `encrypted_content` for the reasoning item being closed; resets the accumulator.
    pub(super) fn take_encrypted_content(&mut self) -> Option<String> {
        let taken = std::mem::take(self);
        taken.opaque.then(|| {
            let entries = taken.entries.into_iter().map(Value::Object).collect();
            opaque::encode_encrypted_content(&opaque::OpaqueReasoning {
                reasoning_details: Some(entries),
                extra: Default::default(),
            })
        })
    }
}

impl ChatToResponses {
    /// Accumulates `reasoning_details`; opaque state opens a reasoning item if none is open.
    pub(super) fn note_reasoning_details(&mut self, entries: &[Value]) {
        if self.details.absorb(entries) {
            self.ensure_reasoning_item();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delta(v: Value) -> ChunkDelta {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn priority_is_reasoning_content_then_reasoning_then_details() {
        let all = delta(json!({
            "reasoning_content": "rc", "reasoning": "r",
            "reasoning_details": [{"type": "reasoning.text", "text": "d"}]
        }));
        assert_eq!(pick_reasoning_text(&all).as_deref(), Some("rc"));
        let no_rc = delta(json!({"reasoning_content": "", "reasoning": "r",
            "reasoning_details": [{"type": "reasoning.text", "text": "d"}]}));
        assert_eq!(pick_reasoning_text(&no_rc).as_deref(), Some("r"));
        let details = delta(json!({"reasoning_details": [
            {"type": "reasoning.summary", "summary": "s"},
            {"type": "reasoning.encrypted", "data": "xx"},
            {"type": "reasoning.text", "text": "t"}
        ]}));
        assert_eq!(pick_reasoning_text(&details).as_deref(), Some("st"));
        assert_eq!(pick_reasoning_text(&delta(json!({"content": "c"}))), None);
    }

    #[test]
    fn fragments_merge_by_type_and_index_and_signature_makes_opaque() {
        let mut d = ReasoningDetails::default();
        assert!(!d
            .absorb(&[json!({"type": "reasoning.text", "text": "ab", "index": 0, "format": "f"})]));
        assert!(!d.absorb(&[
            json!({"type": "reasoning.text", "text": "cd", "index": 0, "signature": null})
        ]));
        assert!(d.absorb(&[
            json!({"type": "reasoning.text", "text": "", "index": 0, "signature": "sig"})
        ]));
        let encoded = d.take_encrypted_content().unwrap();
        let decoded = opaque::decode_encrypted_content(&encoded).unwrap();
        assert_eq!(
            decoded.reasoning_details,
            Some(vec![
                json!({"type": "reasoning.text", "text": "abcd", "index": 0, "format": "f", "signature": "sig"})
            ])
        );
        assert_eq!(
            d.take_encrypted_content(),
            None,
            "taking resets the accumulator"
        );
    }

    #[test]
    fn plain_text_details_are_not_round_tripped() {
        let mut d = ReasoningDetails::default();
        d.absorb(&[json!({"type": "reasoning.text", "text": "ab", "index": 0})]);
        assert_eq!(d.take_encrypted_content(), None);
    }

    #[test]
    fn distinct_indices_stay_separate() {
        let mut d = ReasoningDetails::default();
        d.absorb(&[json!({"type": "reasoning.text", "text": "a", "index": 0})]);
        d.absorb(&[json!({"type": "reasoning.encrypted", "data": "e1", "index": 1})]);
        d.absorb(&[json!({"type": "reasoning.encrypted", "data": "e2", "index": 1})]);
        let decoded =
            opaque::decode_encrypted_content(&d.take_encrypted_content().unwrap()).unwrap();
        assert_eq!(
            decoded.reasoning_details,
            Some(vec![
                json!({"type": "reasoning.text", "text": "a", "index": 0}),
                json!({"type": "reasoning.encrypted", "data": "e1e2", "index": 1}),
            ])
        );
    }
}
