//! Splits a leading `<think>…</think>` block off streamed content.
//!
//! Some models (MiniMax native, GLM-Z1, Qwen/DeepSeek distills behind vLLM or llama.cpp without a
//! reasoning parser) put their reasoning inside `content`, wrapped in `<think>` tags. The
//! [`ThinkSplitter`] is fed content fragments as they arrive and yields [`Piece`]s saying which
//! part is reasoning and which is answer text.
//!
//! Invariants:
//! * The tags themselves are never emitted, however the fragments split them.
//! * Only a block at the very start (after optional whitespace) counts. Once answer text has been
//!   emitted, everything after passes through unchanged, `<think>` included.
//! * Buffering is minimal: while deciding whether content opens with `<think>` only a possible tag
//!   prefix (plus leading whitespace) is held; inside the block only a possible `</think>` prefix
//!   is held. Everything else is emitted by the `push` that received it.
//! * Whitespace between `</think>` and the first answer character is dropped, so an answer that is
//!   only `"\n\n"` before a tool call does not become an empty message.
//! * An unclosed block is reasoning to the end ([`ThinkSplitter::finish`]).

const OPEN_TAG: &str = "<think>";
const CLOSE_TAG: &str = "</think>";

/// A classified fragment of content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text inside the leading `<think>` block.
    Reasoning(String),
    /// Answer text.
    Content(String),
}

/// Where the splitter is in the content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Nothing but whitespace and a possible `<think>` prefix seen; `held` is all of it.
    Deciding { held: String },
    /// Inside the block; `held` is a suffix that may be the start of `</think>`.
    InThink { held: String },
    /// Just after `</think>`: leading whitespace is still being dropped.
    AfterThink,
    /// Everything is answer text.
    PassThrough,
}

/// Incremental `<think>` splitter; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkSplitter {
    state: State,
}

impl Default for ThinkSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ThinkSplitter {
    /// A splitter at the start of the content.
    pub fn new() -> Self {
        ThinkSplitter {
            state: State::Deciding {
                held: String::new(),
            },
        }
    }

    /// Feeds the next content fragment and returns what can be classified now.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        if !text.is_empty() {
            self.feed(text, &mut out);
        }
        out
    }

    /// Ends the content: releases anything held. Later pushes pass through unchanged.
    pub fn finish(&mut self) -> Vec<Piece> {
        let state = std::mem::replace(&mut self.state, State::PassThrough);
        let mut out = Vec::new();
        match state {
            State::Deciding { held } => push_piece(&mut out, Piece::Content(held)),
            State::InThink { held } => push_piece(&mut out, Piece::Reasoning(held)),
            State::AfterThink | State::PassThrough => {}
        }
        out
    }

    fn feed(&mut self, text: &str, out: &mut Vec<Piece>) {
        match &mut self.state {
            State::PassThrough => push_piece(out, Piece::Content(text.to_owned())),
            State::AfterThink => {
                let rest = text.trim_start();
                if !rest.is_empty() {
                    self.state = State::PassThrough;
                    push_piece(out, Piece::Content(rest.to_owned()));
                }
            }
            State::Deciding { held } => {
                held.push_str(text);
                let trimmed = held.trim_start();
                if let Some(after_tag) = trimmed.strip_prefix(OPEN_TAG) {
                    let after_tag = after_tag.to_owned();
                    self.state = State::InThink {
                        held: String::new(),
                    };
                    if !after_tag.is_empty() {
                        self.feed(&after_tag, out);
                    }
                } else if !OPEN_TAG.starts_with(trimmed) {
                    let held = std::mem::take(held);
                    self.state = State::PassThrough;
                    push_piece(out, Piece::Content(held));
                }
                // Otherwise `trimmed` is empty or a strict prefix of the tag: keep holding.
            }
            State::InThink { held } => {
                held.push_str(text);
                if let Some(pos) = held.find(CLOSE_TAG) {
                    let reasoning = held[..pos].to_owned();
                    let after = held[pos + CLOSE_TAG.len()..].to_owned();
                    self.state = State::AfterThink;
                    push_piece(out, Piece::Reasoning(reasoning));
                    if !after.is_empty() {
                        self.feed(&after, out);
                    }
                } else {
                    let keep = partial_suffix_len(held, CLOSE_TAG);
                    let emit_len = held.len() - keep;
                    let reasoning = held[..emit_len].to_owned();
                    held.replace_range(..emit_len, "");
                    push_piece(out, Piece::Reasoning(reasoning));
                }
            }
        }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`. The tags are ASCII
/// and start with `<`, so the cut is always on a char boundary.
fn partial_suffix_len(text: &str, tag: &str) -> usize {
    let max = (tag.len() - 1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

/// Appends a piece, merging with the previous one of the same kind and skipping empty text.
fn push_piece(out: &mut Vec<Piece>, piece: Piece) {
    match (out.last_mut(), piece) {
        (_, Piece::Reasoning(t) | Piece::Content(t)) if t.is_empty() => {}
        (Some(Piece::Reasoning(prev)), Piece::Reasoning(t))
        | (Some(Piece::Content(prev)), Piece::Content(t)) => prev.push_str(&t),
        (_, piece) => out.push(piece),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs fragments through a splitter and merges adjacent pieces of one kind.
    fn run(fragments: &[&str]) -> Vec<Piece> {
        let mut s = ThinkSplitter::new();
        let mut out = Vec::new();
        for f in fragments {
            for p in s.push(f) {
                push_piece(&mut out, p);
            }
        }
        for p in s.finish() {
            push_piece(&mut out, p);
        }
        out
    }

    fn reasoning(t: &str) -> Piece {
        Piece::Reasoning(t.to_owned())
    }

    fn content(t: &str) -> Piece {
        Piece::Content(t.to_owned())
    }

    #[test]
    fn every_single_split_of_a_think_block() {
        let text = "<think>abc</think>hello";
        for i in 0..=text.len() {
            let got = run(&[&text[..i], &text[i..]]);
            assert_eq!(
                got,
                vec![reasoning("abc"), content("hello")],
                "split at {i}"
            );
        }
    }

    #[test]
    fn every_pair_of_splits_of_a_think_block() {
        let text = "<think>abc</think>hello";
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let got = run(&[&text[..i], &text[i..j], &text[j..]]);
                assert_eq!(
                    got,
                    vec![reasoning("abc"), content("hello")],
                    "splits at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte_with_multibyte_reasoning() {
        let text = "  <think>ré<sumé</think>\n\nanswer ✓";
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let frags: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(run(&frags), vec![reasoning("ré<sumé"), content("answer ✓")]);
    }

    #[test]
    fn reasoning_is_released_promptly_except_a_possible_close_tag() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("<think>abc</th"), vec![reasoning("abc")]);
        assert_eq!(s.push("ink>"), vec![]);
        assert_eq!(s.push("x"), vec![content("x")]);
    }

    #[test]
    fn a_lookalike_close_tag_prefix_is_released_as_reasoning() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("<think>a</"), vec![reasoning("a")]);
        assert_eq!(s.push("b"), vec![reasoning("</b")]);
    }

    #[test]
    fn plain_content_passes_through_immediately() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("hello"), vec![content("hello")]);
        assert_eq!(
            s.push(" <think>not a block</think>"),
            vec![content(" <think>not a block</think>")]
        );
        assert_eq!(s.finish(), vec![]);
    }

    #[test]
    fn a_possible_tag_prefix_is_held_then_released() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("<th"), vec![]);
        assert_eq!(s.push("e answer"), vec![content("<the answer")]);
    }

    #[test]
    fn leading_whitespace_is_held_and_kept_for_plain_content() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("\n  "), vec![]);
        assert_eq!(s.push("    code"), vec![content("\n      code")]);
    }

    #[test]
    fn content_shorter_than_the_tag_is_released_at_finish() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("<thi"), vec![]);
        assert_eq!(s.finish(), vec![content("<thi")]);
    }

    #[test]
    fn unclosed_block_is_reasoning() {
        assert_eq!(
            run(&["<think>still thinking", " when cut</"]),
            vec![reasoning("still thinking when cut</")]
        );
    }

    #[test]
    fn empty_block_and_whitespace_only_answer_yield_nothing_extra() {
        assert_eq!(run(&["<think></think>", "\n\n"]), vec![]);
    }

    #[test]
    fn second_block_after_answer_is_content() {
        assert_eq!(
            run(&["<think>a</think>b<think>c</think>"]),
            vec![reasoning("a"), content("b<think>c</think>")]
        );
    }

    #[test]
    fn pushes_after_finish_pass_through() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("<think>x"), vec![reasoning("x")]);
        assert_eq!(s.finish(), vec![]);
        assert_eq!(s.push("<think>y"), vec![content("<think>y")]);
    }
}
