//! Sealed reasoning opened for the backend that receives the request.
//!
//! A `ccp:v2:` blob (`seal.rs`) carries a converter's state — `ccp:v1:` (a chat upstream's
//! `reasoning_details`) or `ccp:anthropic:v1:` (Anthropic thinking blocks with their
//! signatures) — the reasoning text, and its origin: the upstream (kind and endpoint) that
//! produced the state, the only one that accepts it back. When a model group moves a
//! conversation from one backend to another (a fallback, round robin), the history holds
//! another upstream's reasoning, so each attempt opens the blobs for its own backend:
//!
//! * a converting backend (chat, anthropic, mock) gets the state back only when it produced it
//!   (or when the blob names no origin: sealed before origins were recorded; the converters
//!   ignore the other kind's format). Otherwise the state is dropped and the reasoning is
//!   replayed as text (`reasoning_content` for a thinking chat model; Anthropic drops
//!   unsigned reasoning and, for a tool turn left without thinking blocks, turns thinking off
//!   rather than send an invalid signature).
//! * a passthrough backend (responses, codex) can read none of the proxy's blobs: a reasoning
//!   item the proxy sealed is removed from the body it is sent. Values that are not the
//!   proxy's (OpenAI's own encrypted reasoning) pass through untouched.
//!
//! Whoever receives it, a blob that does not authenticate is refused with 400
//! `invalid_encrypted_content`, before any upstream is called.

use ccp_types::responses::{Input, InputItem, TextPart};
use serde_json::Value;

use super::seal::{SealError, Sealed, Sealer, SEALED_PREFIX};
use crate::error::GatewayError;
use crate::pipeline::{ClientBody, PreparedRequest};

/// The backend a request's reasoning is opened for.
#[derive(Debug, Clone, Copy)]
pub struct ReplayTarget<'a> {
    /// Its origin (kind and endpoint), as written into the blobs it produces.
    pub origin: &'a str,
    /// It receives the client's body (responses, codex), not the typed request.
    pub passthrough: bool,
}

/// Opens every sealed reasoning blob of `prepared` for `target`.
pub fn open_for(
    sealer: &Sealer,
    prepared: &mut PreparedRequest,
    target: ReplayTarget<'_>,
) -> Result<(), GatewayError> {
    let offset = prepared.context_items;
    if !target.passthrough {
        if let Input::Items(items) = &mut prepared.request.input {
            open_typed(sealer, items, offset, target.origin)?;
        }
        return Ok(());
    }
    let mut body = match &prepared.body {
        ClientBody::Bytes(b) => {
            if memchr::memmem::find(b, SEALED_PREFIX.as_bytes()).is_none() {
                return Ok(());
            }
            match serde_json::from_slice::<Value>(b) {
                Ok(Value::Object(map)) => map,
                _ => return Ok(()),
            }
        }
        ClientBody::Frame(map) => {
            if !map.get("input").is_some_and(holds_sealed) {
                return Ok(());
            }
            map.clone()
        }
    };
    if let Some(Value::Array(items)) = body.get_mut("input") {
        remove_sealed(sealer, items, offset)?;
    }
    prepared.body = ClientBody::Frame(body);
    Ok(())
}

fn holds_sealed(input: &Value) -> bool {
    input.as_array().is_some_and(|items| {
        items.iter().any(|i| {
            i.get("encrypted_content")
                .and_then(Value::as_str)
                .is_some_and(|e| e.starts_with(SEALED_PREFIX))
        })
    })
}

/// Where an error about item `i` points the client: its own input, or the stored history.
fn error_path(i: usize, offset: usize) -> String {
    if i >= offset {
        format!("input[{}].encrypted_content", i - offset)
    } else {
        "previous_response_id".to_owned()
    }
}

/// Opens the typed items' blobs for a converting backend whose origin is `origin`.
pub fn open_typed(
    sealer: &Sealer,
    items: &mut [InputItem],
    offset: usize,
    origin: &str,
) -> Result<(), GatewayError> {
    for (i, item) in items.iter_mut().enumerate() {
        let InputItem::Reasoning(r) = item else {
            continue;
        };
        let Some(blob) = r.encrypted_content.as_deref() else {
            continue;
        };
        match sealer.open(blob) {
            Ok(None) => {}
            Ok(Some(sealed)) => {
                let (inner, text) = usable_by(sealed, origin);
                r.encrypted_content = inner;
                let has_text = r.content.iter().flatten().any(|p| !p.text.is_empty());
                if let Some(text) = text.filter(|t| !t.is_empty() && !has_text) {
                    r.content = Some(vec![TextPart {
                        kind: "reasoning_text".into(),
                        text,
                    }]);
                }
            }
            Err(e) => return Err(seal_error(e, error_path(i, offset))),
        }
    }
    Ok(())
}

/// The inner state, when the backend at `origin` may have it back, and the text.
fn usable_by(sealed: Sealed, origin: &str) -> (Option<String>, Option<String>) {
    let ours = sealed.origin.as_deref().is_none_or(|o| o == origin);
    if !ours && sealed.inner.is_some() {
        tracing::debug!(
            "reasoning state from another upstream dropped; its text is replayed instead"
        );
    }
    (sealed.inner.filter(|_| ours), sealed.text)
}

/// Removes the reasoning items the proxy sealed (checking each blob) from JSON items bound for
/// a passthrough backend.
pub fn remove_sealed(
    sealer: &Sealer,
    items: &mut Vec<Value>,
    offset: usize,
) -> Result<(), GatewayError> {
    let mut keep = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let blob = item
            .get("encrypted_content")
            .and_then(Value::as_str)
            .filter(|_| item.get("type").and_then(Value::as_str) == Some("reasoning"));
        let sealed = match blob.map(|b| sealer.open(b)) {
            None | Some(Ok(None)) => false,
            Some(Ok(Some(_))) => true,
            Some(Err(e)) => return Err(seal_error(e, error_path(i, offset))),
        };
        keep.push(!sealed);
    }
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(true));
    Ok(())
}

fn seal_error(e: SealError, path: String) -> GatewayError {
    let why = match e {
        SealError::Tampered => {
            "was modified or was not written by this proxy (it does not authenticate)"
        }
        SealError::Unsealed => {
            "is in an unsealed form this proxy no longer accepts (written by an older version, \
             or forged)"
        }
    };
    GatewayError::State {
        status: 400,
        code: "invalid_encrypted_content",
        param: Some(path.clone()),
        message: format!(
            "{path} {why}; send the reasoning item's `encrypted_content` back exactly as the \
             proxy returned it, or drop the reasoning item (in Codex: start a new session)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CHAT: &str = "chat http://chat/v1/chat/completions";
    const CLAUDE: &str = "anthropic http://claude/v1/messages";

    fn sealed(sealer: &Sealer, inner: &str, origin: Option<&str>) -> String {
        sealer
            .seal(&Sealed {
                inner: Some(inner.into()),
                text: Some("deep thought".into()),
                origin: origin.map(str::to_owned),
            })
            .unwrap()
    }

    fn reasoning(blob: &str) -> Value {
        json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "short"}], "encrypted_content": blob})
    }

    fn open(sealer: &Sealer, item: Value, origin: &str) -> ccp_types::responses::ReasoningItem {
        let mut typed = vec![InputItem::from_value(item).unwrap()];
        open_typed(sealer, &mut typed, 0, origin).unwrap();
        match typed.remove(0) {
            InputItem::Reasoning(r) => r,
            other => panic!("not reasoning: {other:?}"),
        }
    }

    #[test]
    fn the_state_goes_back_only_to_the_upstream_that_produced_it() {
        let sealer = Sealer::new(b"k").unwrap();
        let thinking = "ccp:anthropic:v1:[{\"type\":\"thinking\",\"signature\":\"sig\"}]";
        let blob = sealed(&sealer, thinking, Some(CLAUDE));
        let r = open(&sealer, reasoning(&blob), CLAUDE);
        assert_eq!(r.encrypted_content.as_deref(), Some(thinking));
        assert_eq!(r.content.as_ref().unwrap()[0].text, "deep thought");

        let r = open(&sealer, reasoning(&blob), CHAT);
        assert_eq!(r.encrypted_content, None, "no foreign signature");
        assert_eq!(
            r.content.as_ref().unwrap()[0].text,
            "deep thought",
            "text replay"
        );

        // Blobs without an origin (sealed before origins existed) keep their state.
        let old = sealed(&sealer, "ccp:v1:{\"reasoning_details\":[]}", None);
        let r = open(&sealer, reasoning(&old), CHAT);
        assert_eq!(
            r.encrypted_content.as_deref(),
            Some("ccp:v1:{\"reasoning_details\":[]}")
        );
    }

    #[test]
    fn a_passthrough_upstream_gets_none_of_the_proxys_reasoning() {
        let sealer = Sealer::new(b"k").unwrap();
        let blob = sealed(&sealer, "ccp:v1:{}", Some(CHAT));
        let mut items = vec![
            json!({"role": "user", "content": "hi"}),
            reasoning(&blob),
            json!({"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai"}),
        ];
        remove_sealed(&sealer, &mut items, 0).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["encrypted_content"], "gAAAA-openai");
    }

    #[test]
    fn tampered_blobs_are_refused_with_the_clients_path() {
        let sealer = Sealer::new(b"k").unwrap();
        let blob = sealed(&sealer, "ccp:v1:{}", None);
        let tampered = format!("{}x", &blob[..blob.len() - 1]);
        let mut typed = vec![
            InputItem::from_value(json!({"role": "user", "content": "hi"})).unwrap(),
            InputItem::from_value(reasoning(&tampered)).unwrap(),
        ];
        let e = open_typed(&sealer, &mut typed, 1, CHAT).unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_encrypted_content"));
        assert!(e.to_string().contains("input[0].encrypted_content"), "{e}");
        let mut items = vec![
            json!({"role": "user", "content": "hi"}),
            reasoning(&tampered),
        ];
        let e = remove_sealed(&sealer, &mut items, 2).unwrap_err();
        assert!(e.to_string().starts_with("previous_response_id"), "{e}");
    }
}
