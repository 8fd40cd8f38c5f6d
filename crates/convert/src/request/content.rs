//! Content conversion: Responses message parts, tool outputs and reasoning items → Chat content.
//!
//! Choices made here (all lossless for text):
//! * Text-only part lists become one string; parts are joined with [`MESSAGE_PART_SEPARATOR`]
//!   (a blank line, so Codex's separate `<skills_instructions>`/`<permissions …>` blocks stay
//!   apart) in messages, and with [`TOOL_OUTPUT_PART_SEPARATOR`] in tool outputs. Empty parts are
//!   skipped.
//! * Images become `image_url` parts only where Chat allows them (user messages and the user
//!   message that follows tool outputs); elsewhere, and for `file_id`-only images, a short text
//!   note stands in. `detail` is kept when it is `auto`, `low` or `high` (Chat rejects others).
//! * `input_file` becomes text: `[file: name]` followed by the decoded text when `file_data` is a
//!   base64 `data:` URL of a textual type, else followed by the `file_url` or `file_id`.
//! * `refusal` parts become their text; unknown parts (`input_audio`, …) are skipped.

use ccp_types::chat::{ChatContent, ChatContentPart, ImageUrl, ReasoningReplay};
use ccp_types::responses::{ContentPart, MessageContent, ReasoningItem, ToolOutput};
use serde_json::Value;

/// Joins the text parts of one message.
pub const MESSAGE_PART_SEPARATOR: &str = "\n\n";
/// Joins the text parts of one tool output.
pub const TOOL_OUTPUT_PART_SEPARATOR: &str = "\n";
/// Prefix of `encrypted_content` values the proxy itself wrote; the rest is JSON provider state.
pub use crate::stream::opaque::OPAQUE_PREFIX as OPAQUE_REASONING_PREFIX;

/// Chat content of a message, or `None` when it has no text and no image at all.
/// `images_allowed` is true for user messages only.
pub(crate) fn message_content(
    content: &MessageContent,
    images_allowed: bool,
) -> Option<ChatContent> {
    let parts = match content {
        MessageContent::Text(t) if t.is_empty() => return None,
        MessageContent::Text(t) => return Some(ChatContent::Text(t.clone())),
        MessageContent::Parts(parts) => parts,
    };
    let mut out: Vec<ChatContentPart> = Vec::new();
    for part in parts {
        match part_to_chat(part, images_allowed) {
            Some(ChatContentPart::Text { text }) if text.is_empty() => {}
            Some(p) => out.push(p),
            None => tracing::debug!("skipping an unsupported message content part"),
        }
    }
    if out.is_empty() {
        return None;
    }
    if out
        .iter()
        .all(|p| matches!(p, ChatContentPart::Text { .. }))
    {
        let texts: Vec<String> = out
            .into_iter()
            .filter_map(|p| match p {
                ChatContentPart::Text { text } => Some(text),
                ChatContentPart::ImageUrl { .. } => None,
            })
            .collect();
        return Some(ChatContent::Text(texts.join(MESSAGE_PART_SEPARATOR)));
    }
    Some(ChatContent::Parts(out))
}

/// A tool output split into what fits in a `tool` message and the images that must travel in a
/// following user message.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SplitToolOutput {
    pub text: String,
    pub images: Vec<ChatContentPart>,
}

pub(crate) fn split_tool_output(output: &ToolOutput) -> SplitToolOutput {
    let parts = match output {
        ToolOutput::Text(t) => {
            return SplitToolOutput {
                text: t.clone(),
                images: Vec::new(),
            }
        }
        ToolOutput::Parts(parts) => parts,
    };
    let mut texts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for part in parts {
        match part_to_chat(part, true) {
            Some(ChatContentPart::Text { text }) if text.is_empty() => {}
            Some(ChatContentPart::Text { text }) => texts.push(text),
            Some(image @ ChatContentPart::ImageUrl { .. }) => images.push(image),
            None => tracing::debug!("skipping an unsupported tool output part"),
        }
    }
    SplitToolOutput {
        text: texts.join(TOOL_OUTPUT_PART_SEPARATOR),
        images,
    }
}

fn part_to_chat(part: &ContentPart, images_allowed: bool) -> Option<ChatContentPart> {
    let text = |text: String| Some(ChatContentPart::Text { text });
    match part {
        ContentPart::InputText { text: t } | ContentPart::OutputText { text: t } => text(t.clone()),
        ContentPart::Refusal { refusal } => text(refusal.clone()),
        ContentPart::InputImage {
            image_url: Some(url),
            detail,
            ..
        } if !url.is_empty() => {
            if images_allowed {
                let detail = detail
                    .as_deref()
                    .filter(|d| matches!(*d, "auto" | "low" | "high"))
                    .map(str::to_owned);
                Some(ChatContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url: url.clone(),
                        detail,
                    },
                })
            } else {
                text("[image omitted: images can only be sent in user messages]".to_owned())
            }
        }
        ContentPart::InputImage {
            file_id: Some(id), ..
        } => text(format!("[image file_id: {id}]")),
        ContentPart::InputImage { .. } => text("[image without a URL]".to_owned()),
        ContentPart::InputFile {
            filename,
            file_data,
            file_id,
            file_url,
        } => text(file_note(
            filename.as_deref(),
            file_data.as_deref(),
            file_id.as_deref(),
            file_url.as_deref(),
        )),
        ContentPart::Other => None,
    }
}

fn file_note(
    filename: Option<&str>,
    file_data: Option<&str>,
    file_id: Option<&str>,
    file_url: Option<&str>,
) -> String {
    let name = filename.filter(|n| !n.is_empty()).unwrap_or("unnamed");
    if let Some(body) = file_data.and_then(decode_text_data_url) {
        return format!("[file: {name}]\n{body}");
    }
    match (file_url, file_id) {
        (Some(url), _) => format!("[file: {name}] {url}"),
        (None, Some(id)) => format!("[file: {name} (file_id: {id})]"),
        (None, None) => format!("[file: {name}]"),
    }
}

/// The text inside `data:<textual type>[;…];base64,<data>`, if it decodes to UTF-8.
fn decode_text_data_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mime = meta.split(';').next().unwrap_or("").to_ascii_lowercase();
    let textual = mime.starts_with("text/")
        || matches!(
            mime.as_str(),
            "application/json" | "application/xml" | "application/x-yaml" | "application/yaml"
        );
    if !textual || !meta.split(';').any(|p| p.eq_ignore_ascii_case("base64")) {
        return None;
    }
    String::from_utf8(decode_base64(data)?).ok()
}

/// Standard or URL-safe base64, padding optional, ASCII whitespace ignored.
fn decode_base64(input: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in input.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The replay of one reasoning item: `content` text (concatenated as streamed) or else the
/// summaries (joined by blank lines), plus opaque state decoded from a `ccp:v1:` blob.
/// `None` when the item carries neither.
pub(crate) fn reasoning_replay(item: &ReasoningItem) -> Option<ReasoningReplay> {
    let content: String = item
        .content
        .iter()
        .flatten()
        .map(|p| p.text.as_str())
        .collect();
    let text = if content.is_empty() {
        let summaries: Vec<&str> = item
            .summary
            .iter()
            .map(|p| p.text.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        summaries.join("\n\n")
    } else {
        content
    };
    let opaque = item
        .encrypted_content
        .as_deref()
        .and_then(decode_opaque_reasoning);
    if text.is_empty() && opaque.is_none() {
        return None;
    }
    Some(ReasoningReplay { text, opaque })
}

fn decode_opaque_reasoning(encrypted: &str) -> Option<Value> {
    let json = encrypted.strip_prefix(OPAQUE_REASONING_PREFIX)?;
    match serde_json::from_str(json) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!(error = %e, "ignoring an undecodable ccp:v1 reasoning blob");
            None
        }
    }
}

/// Adds `next` to the reasoning already attached to an assistant turn: texts are joined by a
/// blank line; opaque arrays are concatenated, otherwise the later state wins.
pub(crate) fn merge_reasoning(current: &mut Option<ReasoningReplay>, next: ReasoningReplay) {
    let Some(cur) = current else {
        *current = Some(next);
        return;
    };
    if !next.text.is_empty() {
        if !cur.text.is_empty() {
            cur.text.push_str("\n\n");
        }
        cur.text.push_str(&next.text);
    }
    cur.opaque = match (cur.opaque.take(), next.opaque) {
        (Some(Value::Array(mut a)), Some(Value::Array(b))) => {
            a.extend(b);
            Some(Value::Array(a))
        }
        (old, new) => new.or(old),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content(v: Value) -> MessageContent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_parts_join_with_a_blank_line() {
        let c = content(json!([
            {"type":"input_text","text":"<skills>"},
            {"type":"input_text","text":""},
            {"type":"input_text","text":"<permissions>"}
        ]));
        assert_eq!(
            message_content(&c, true),
            Some(ChatContent::Text("<skills>\n\n<permissions>".into()))
        );
    }

    #[test]
    fn images_become_parts_in_user_messages_and_notes_elsewhere() {
        let c = content(json!([
            {"type":"input_text","text":"look"},
            {"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"high"},
            {"type":"input_image","image_url":"https://x/y.png","detail":"original"},
            {"type":"input_image","file_id":"file-1"}
        ]));
        let got = serde_json::to_value(message_content(&c, true).unwrap()).unwrap();
        assert_eq!(
            got,
            json!([
                {"type":"text","text":"look"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}},
                {"type":"image_url","image_url":{"url":"https://x/y.png"}},
                {"type":"text","text":"[image file_id: file-1]"}
            ])
        );
        let ChatContent::Text(t) = message_content(&c, false).unwrap() else {
            panic!("text expected")
        };
        assert!(t.contains("[image omitted"), "{t}");
    }

    #[test]
    fn empty_content_is_none() {
        assert_eq!(message_content(&content(json!("")), true), None);
        assert_eq!(message_content(&content(json!([])), true), None);
        assert_eq!(
            message_content(
                &content(json!([{"type":"input_audio","audio_url":"x"}])),
                true
            ),
            None
        );
    }

    #[test]
    fn refusal_and_files_become_text() {
        // "hello\nworld" in base64.
        let c = content(json!([
            {"type":"refusal","refusal":"no"},
            {"type":"input_file","filename":"a.txt","file_data":"data:text/plain;base64,aGVsbG8Kd29ybGQ="},
            {"type":"input_file","filename":"b.pdf","file_data":"data:application/pdf;base64,JVBERg==","file_url":"https://f/b.pdf"},
            {"type":"input_file","file_id":"file-9"}
        ]));
        assert_eq!(
            message_content(&c, true),
            Some(ChatContent::Text(
                "no\n\n[file: a.txt]\nhello\nworld\n\n[file: b.pdf] https://f/b.pdf\n\n[file: unnamed (file_id: file-9)]".into()
            ))
        );
    }

    #[test]
    fn base64_decoder_handles_padding_and_url_safe_alphabet() {
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(decode_base64("-_8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("a*b"), None);
    }

    #[test]
    fn tool_output_splits_text_and_images() {
        let out: ToolOutput = serde_json::from_value(json!([
            {"type":"input_text","text":"line 1"},
            {"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"},
            {"type":"input_text","text":"line 2"}
        ]))
        .unwrap();
        let split = split_tool_output(&out);
        assert_eq!(split.text, "line 1\nline 2");
        assert_eq!(
            split.images,
            vec![ChatContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: Some("low".into())
                }
            }]
        );
        let plain = split_tool_output(&ToolOutput::Text("ok".into()));
        assert_eq!(
            plain,
            SplitToolOutput {
                text: "ok".into(),
                images: vec![]
            }
        );
    }

    fn reasoning(v: Value) -> ReasoningItem {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reasoning_prefers_content_then_summary() {
        let r = reasoning(json!({
            "summary":[{"type":"summary_text","text":"S1"}],
            "content":[{"type":"reasoning_text","text":"raw "},{"type":"reasoning_text","text":"thoughts"}],
            "encrypted_content":"OPENAI-BLOB"
        }));
        assert_eq!(
            reasoning_replay(&r),
            Some(ReasoningReplay {
                text: "raw thoughts".into(),
                opaque: None
            })
        );
        let r = reasoning(
            json!({"summary":[{"type":"summary_text","text":"A"},{"type":"summary_text","text":"B"}]}),
        );
        assert_eq!(reasoning_replay(&r).unwrap().text, "A\n\nB");
        assert_eq!(
            reasoning_replay(&reasoning(json!({"summary":[],"encrypted_content":null}))),
            None
        );
    }

    #[test]
    fn ccp_blob_decodes_to_opaque_state() {
        let r = reasoning(json!({
            "summary":[],
            "encrypted_content":"ccp:v1:{\"reasoning_details\":[{\"type\":\"reasoning.encrypted\",\"data\":\"x\"}]}"
        }));
        let replay = reasoning_replay(&r).unwrap();
        assert_eq!(replay.text, "");
        assert_eq!(
            replay.opaque,
            Some(json!({"reasoning_details":[{"type":"reasoning.encrypted","data":"x"}]}))
        );
        let bad = reasoning(
            json!({"summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"ccp:v1:{not json"}),
        );
        assert_eq!(reasoning_replay(&bad).unwrap().opaque, None);
    }

    #[test]
    fn merging_reasoning_joins_text_and_arrays() {
        let mut cur = None;
        merge_reasoning(
            &mut cur,
            ReasoningReplay {
                text: "a".into(),
                opaque: Some(json!([1])),
            },
        );
        merge_reasoning(
            &mut cur,
            ReasoningReplay {
                text: "b".into(),
                opaque: Some(json!([2])),
            },
        );
        merge_reasoning(
            &mut cur,
            ReasoningReplay {
                text: String::new(),
                opaque: None,
            },
        );
        assert_eq!(
            cur,
            Some(ReasoningReplay {
                text: "a\n\nb".into(),
                opaque: Some(json!([1, 2]))
            })
        );
    }
}
