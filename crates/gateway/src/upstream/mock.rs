//! The `mock` kind: the built-in backend that answers without any network, so a newcomer can run
//! the proxy and Codex with no API key.
//!
//! Anatomy (as every kind): what it "sends" (the request converted to Chat exactly as for a chat
//! backend, see [`super::chat::convert`]), with no credentials, and how its answer becomes
//! Responses events: deterministic text derived from the request, produced as Chat chunks so it
//! travels through exactly the same stream conversion as a real chat upstream's answer.

use std::collections::VecDeque;

use ccp_convert::stream::{chat_chunks_to_response, ChatToResponses};
use ccp_types::chat::{
    ChatChunk, ChatContent, ChatRequest, ChatRole, ChatUsage, ChunkChoice, ChunkDelta,
};
use ccp_types::events::StreamEvent;

use super::{stream, Call};
use crate::error::GatewayError;
use crate::pipeline::GatewayResponse;

/// The built-in mock backend.
pub struct MockUpstream;

impl MockUpstream {
    pub(crate) fn call(&self, call: Call<'_>) -> Result<GatewayResponse, GatewayError> {
        let (chat, ctx) = super::chat::convert(&call)?;
        if call.log.log_body {
            call.log
                .upstream_request(&serde_json::to_string(&chat).unwrap_or_default());
        }
        if !call.prepared.request.stream {
            let resp = chat_chunks_to_response(mock_chunks(&chat), ctx);
            call.log.finish(&resp, 200);
            return Ok(GatewayResponse::json(resp));
        }
        let mut machine = ChatToResponses::new(ctx);
        let mut out: VecDeque<StreamEvent> = machine
            .start()
            .into_iter()
            .map(StreamEvent::Typed)
            .collect();
        for c in mock_chunks(&chat) {
            out.extend(machine.push(c).into_iter().map(StreamEvent::Typed));
        }
        out.extend(machine.finish().into_iter().map(StreamEvent::Typed));
        Ok(GatewayResponse::stream(stream::finished_stream(
            out, call.log,
        )))
    }
}

/// The chunks the mock backend "streams" for a request.
pub fn mock_chunks(req: &ChatRequest) -> Vec<ChatChunk> {
    let answer = mock_answer(req);
    let mut chunks = Vec::new();
    chunks.push(chunk(Some("assistant"), None, None));
    for piece in split_pieces(&answer, 6) {
        chunks.push(chunk(None, Some(piece), None));
    }
    chunks.push(chunk(None, None, Some("stop")));
    let prompt_chars: usize = req
        .messages
        .iter()
        .map(|m| {
            m.content
                .as_ref()
                .map(|c| c.joined_text().len())
                .unwrap_or(0)
        })
        .sum();
    let prompt_tokens = (prompt_chars as u64).div_ceil(4).max(1);
    let completion_tokens = (answer.len() as u64).div_ceil(4).max(1);
    chunks.push(ChatChunk {
        usage: Some(ChatUsage {
            prompt_tokens: Some(prompt_tokens),
            completion_tokens: Some(completion_tokens),
            total_tokens: Some(prompt_tokens + completion_tokens),
            ..ChatUsage::default()
        }),
        ..ChatChunk::default()
    });
    chunks
}

/// The deterministic answer text.
pub fn mock_answer(req: &ChatRequest) -> String {
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| matches!(m.role, ChatRole::User | ChatRole::Tool));
    let Some(m) = last else {
        return "Hello from the codex-convert-proxy mock backend.".to_owned();
    };
    let text = m
        .content
        .as_ref()
        .map(ChatContent::joined_text)
        .unwrap_or_default();
    match m.role {
        ChatRole::Tool => format!(
            "Mock backend: the tool returned {} characters: {}",
            text.len(),
            clip(&text, 200)
        ),
        _ => {
            format!(
                "Hello from the codex-convert-proxy mock backend (model {}). You said: \"{}\". Configure a real backend in config.json to talk to a model.",
                req.model,
                clip(text.trim(), 200)
            )
        }
    }
}

fn chunk(role: Option<&str>, content: Option<String>, finish: Option<&str>) -> ChatChunk {
    ChatChunk {
        id: Some("chatcmpl-mock".to_owned()),
        choices: vec![ChunkChoice {
            index: Some(0),
            delta: ChunkDelta {
                role: role.map(str::to_owned),
                content,
                ..ChunkDelta::default()
            },
            finish_reason: finish.map(str::to_owned),
            usage: None,
        }],
        ..ChatChunk::default()
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Splits text into about `n` pieces on char boundaries (pieces concatenate to the input).
fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_types::chat::ChatMessage;

    #[test]
    fn answer_echoes_the_last_user_message_and_pieces_rejoin() {
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::text(ChatRole::System, "sys"),
                ChatMessage::text(ChatRole::User, "héllo wörld"),
            ],
            ..ChatRequest::default()
        };
        let chunks = mock_chunks(&req);
        let text: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .filter_map(|c| c.delta.content.clone())
            .collect();
        assert_eq!(text, mock_answer(&req));
        assert!(text.contains("héllo wörld"));
        assert!(
            chunks.iter().filter(|c| c.choices.is_empty()).count() == 1,
            "one usage chunk"
        );
        assert!(chunks.len() > 5, "several deltas");
    }
}
