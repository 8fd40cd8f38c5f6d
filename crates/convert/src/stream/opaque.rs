//! The proxy's `encrypted_content` format for reasoning items.
//!
//! Codex re-sends a reasoning item's `encrypted_content` verbatim on the next request, so the
//! proxy uses it to carry provider state that must go back upstream unmodified. The format is
//!
//! ```text
//! ccp:v1:<compact JSON object>
//! ```
//!
//! with these keys (all optional; unknown keys are kept and ignored):
//! * `reasoning_details`: the merged OpenRouter / MiniMax-split `reasoning_details` array of the
//!   turn, to be sent back as the assistant message's `reasoning_details`. Written only when it
//!   holds opaque state (a `reasoning.encrypted` entry or a `signature`).
//!
//! It is not encrypted: the proxy is stateless and the value only ever travels between the
//! proxy, its client and the upstream that produced it. A value without the `ccp:v1:` prefix
//! (e.g. real OpenAI encrypted reasoning) is not ours and decodes to `None`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Prefix of every `encrypted_content` the proxy writes.
pub const OPAQUE_PREFIX: &str = "ccp:v1:";

/// The JSON object after [`OPAQUE_PREFIX`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpaqueReasoning {
    /// Provider `reasoning_details` to replay verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<Value>>,
    /// Keys written by newer versions.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Encodes opaque reasoning state as an `encrypted_content` string.
pub fn encode_encrypted_content(state: &OpaqueReasoning) -> String {
    // Serializing a struct of `Value`s cannot fail; fall back to an empty object regardless.
    let json = serde_json::to_string(state).unwrap_or_else(|_| "{}".to_owned());
    format!("{OPAQUE_PREFIX}{json}")
}

/// Decodes an `encrypted_content` written by [`encode_encrypted_content`]; `None` for anything
/// else (foreign or corrupted values are ignored, never an error).
pub fn decode_encrypted_content(encrypted_content: &str) -> Option<OpaqueReasoning> {
    let json = encrypted_content.strip_prefix(OPAQUE_PREFIX)?;
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_rejects_foreign_values() {
        let state = OpaqueReasoning {
            reasoning_details: Some(vec![json!({"type": "reasoning.encrypted", "data": "abc"})]),
            extra: Map::new(),
        };
        let encoded = encode_encrypted_content(&state);
        let json = encoded.strip_prefix("ccp:v1:").unwrap();
        let parsed: Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed,
            json!({"reasoning_details": [{"type": "reasoning.encrypted", "data": "abc"}]})
        );
        assert_eq!(decode_encrypted_content(&encoded), Some(state));
        assert_eq!(decode_encrypted_content("gAAAAABopenai-blob"), None);
        assert_eq!(decode_encrypted_content("ccp:v1:not json"), None);
    }
}
