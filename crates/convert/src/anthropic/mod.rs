//! Responses ↔ Anthropic Messages.
//!
//! * [`request::responses_request_to_messages`]: a Responses request → a Messages request plus
//!   the [`ToolNameMap`](crate::tools::ToolNameMap) (the same tool names as the Chat conversion:
//!   namespaces flattened with `__`, freeform tools as a function with one `input` string).
//! * [`stream::AnthropicToResponses`]: a synchronous state machine fed Messages stream events
//!   (`push`) that yields Responses events; non-streaming answers go through the same machine
//!   ([`stream::message_to_response`]).
//!
//! Thinking blocks travel through the client inside a reasoning item's `encrypted_content`, in
//! the format of [`encode_thinking_blocks`]: Codex sends the value back on the next request, and
//! the request conversion puts the blocks back, unchanged and in order, into the assistant turn
//! they came from — Anthropic refuses a tool turn whose thinking was altered or dropped.

pub mod request;
pub mod stream;

use ccp_types::anthropic::ContentBlock;

/// Prefix of an `encrypted_content` holding Anthropic thinking blocks; the rest is the JSON array
/// of the blocks (`thinking` with its `signature`, or `redacted_thinking`) exactly as the API
/// sent them. Distinct from the Chat kind's `ccp:v1:` so neither reads the other's state.
pub const THINKING_PREFIX: &str = "ccp:anthropic:v1:";

/// Encodes thinking blocks as an `encrypted_content` value.
pub fn encode_thinking_blocks(blocks: &[ContentBlock]) -> String {
    // Serializing plain strings cannot fail; an empty array keeps the value well-formed anyway.
    let json = serde_json::to_string(blocks).unwrap_or_else(|_| "[]".to_owned());
    format!("{THINKING_PREFIX}{json}")
}

/// The thinking blocks of an `encrypted_content` written by [`encode_thinking_blocks`]; `None`
/// for any other value (OpenAI's encrypted reasoning, another kind's state, a corrupted value).
/// Blocks of other types inside are dropped: only thinking goes back this way.
pub fn decode_thinking_blocks(encrypted_content: &str) -> Option<Vec<ContentBlock>> {
    let json = encrypted_content.strip_prefix(THINKING_PREFIX)?;
    let blocks: Vec<ContentBlock> = serde_json::from_str(json).ok()?;
    let blocks: Vec<ContentBlock> = blocks
        .into_iter()
        .filter(|b| {
            matches!(
                b,
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. }
            )
        })
        .collect();
    (!blocks.is_empty()).then_some(blocks)
}

/// The `max_tokens` to send when neither the request nor the config gives one: the model's
/// output limit for the Claude families that publish one, else 8192.
pub fn default_max_tokens(model: &str) -> u64 {
    let m = model.to_ascii_lowercase();
    if m.contains("opus-4") {
        32_000
    } else if m.contains("sonnet-4")
        || m.contains("3-7-sonnet")
        || m.contains("haiku-4")
        || m.contains("opus-5")
        || m.contains("sonnet-5")
    {
        64_000
    } else {
        8192
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_blocks_round_trip_and_foreign_values_are_ignored() {
        let blocks = vec![
            ContentBlock::Thinking {
                thinking: "let me see \"quoted\" ✓".into(),
                signature: "EqQBCkYIBxgCKkD+/=".into(),
            },
            ContentBlock::RedactedThinking {
                data: "opaque==".into(),
            },
        ];
        let encoded = encode_thinking_blocks(&blocks);
        assert!(encoded.starts_with("ccp:anthropic:v1:["));
        assert_eq!(decode_thinking_blocks(&encoded), Some(blocks));
        assert_eq!(decode_thinking_blocks("ccp:v1:{}"), None);
        assert_eq!(decode_thinking_blocks("gAAAAB-openai"), None);
        assert_eq!(decode_thinking_blocks("ccp:anthropic:v1:[oops"), None);
        assert_eq!(
            decode_thinking_blocks(r#"ccp:anthropic:v1:[{"type":"text","text":"x"}]"#),
            None
        );
    }

    #[test]
    fn default_max_tokens_by_family() {
        assert_eq!(default_max_tokens("claude-sonnet-4-5-20250929"), 64_000);
        assert_eq!(default_max_tokens("claude-opus-4-1"), 32_000);
        assert_eq!(default_max_tokens("kimi-k2"), 8192);
    }
}
