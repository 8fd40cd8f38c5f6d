//! Collect-only parity: every recorded upstream stream (`fixtures/chat-streams/*.sse` and
//! `fixtures/provider-streams/<profile>/*.sse`) goes through the SSE decoder and
//! `parse_chat_data` into two machines side by side, one streaming and one
//! `ChatToResponses::collect_only` (what `chat_completion_to_response` uses). The collect-only
//! machine must return no events at all and end with exactly the streaming machine's response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use ccp_convert::stream::{ChatToResponses, ParseOptions};
use ccp_providers::profile::{ProviderId, ResolvedProfile};
use ccp_providers::sse::{parse_chat_data, ChatData, SseDecoder, SseItem};
use ccp_types::events::{ResponseEvent, ResponseStatus};
use serde_json::{json, Value};

/// The `.sse` files directly in `dir`, sorted.
fn sse_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sse"))
        .collect();
    files.sort();
    files
}

/// What one call on each machine returned.
struct Pair {
    collected: Vec<ResponseEvent>,
    streamed: Vec<ResponseEvent>,
}

/// Feeds `body` to both machines the way the gateway adapter does; in-band errors are classified
/// with `profile` when given. Returns how many events the streaming machine produced and asserts
/// the collect-only machine produced none.
fn run_both(
    label: &str,
    body: &[u8],
    parse: ParseOptions,
    profile: Option<&ResolvedProfile>,
) -> (ChatToResponses, ChatToResponses, usize) {
    let mut collector = ChatToResponses::collect_only(common::golden_context(parse.clone()));
    let mut streaming = ChatToResponses::new(common::golden_context(parse));
    let mut streamed = 0;
    let mut check = |pair: Pair| {
        assert!(
            pair.collected.is_empty(),
            "{label}: collect-only machine emitted {:?}",
            pair.collected
        );
        streamed += pair.streamed.len();
    };
    check(Pair {
        collected: collector.start(),
        streamed: streaming.start(),
    });
    let mut decoder = SseDecoder::new();
    let mut items = decoder.push(body);
    items.extend(decoder.finish());
    for item in items {
        let SseItem::Event(event) = item else {
            continue;
        };
        let pair = match parse_chat_data(&event.data) {
            ChatData::Done => Pair {
                collected: collector.finish(),
                streamed: streaming.finish(),
            },
            ChatData::Chunk(chunk) => Pair {
                collected: collector.push(chunk.clone()),
                streamed: streaming.push(chunk),
            },
            ChatData::Error(payload) => {
                let (code, message) = match profile.and_then(|p| p.classify_error(0, &payload)) {
                    Some(class) => (class.code.as_str().to_owned(), class.message),
                    None => (
                        "server_error".to_owned(),
                        payload
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("upstream error")
                            .to_owned(),
                    ),
                };
                Pair {
                    collected: collector.fail(&code, &message),
                    streamed: streaming.fail(&code, &message),
                }
            }
            ChatData::Malformed(detail) => Pair {
                collected: collector.fail("server_error", &detail),
                streamed: streaming.fail("server_error", &detail),
            },
        };
        check(pair);
    }
    check(Pair {
        collected: collector.finish(),
        streamed: streaming.finish(),
    });
    (collector, streaming, streamed)
}

/// Runs `body` through both machines and asserts they end with the same response.
fn assert_parity(
    label: &str,
    body: &[u8],
    parse: ParseOptions,
    profile: Option<&ResolvedProfile>,
) -> ResponseStatus {
    let (collector, streaming, streamed) = run_both(label, body, parse, profile);
    assert!(
        streamed >= 3,
        "{label}: the streaming machine really streamed"
    );
    assert!(
        collector.is_finished() && streaming.is_finished(),
        "{label}"
    );
    assert_eq!(
        serde_json::to_value(collector.response()).unwrap(),
        serde_json::to_value(streaming.response()).unwrap(),
        "{label}: collect-only response differs from the streamed one"
    );
    collector.response().status
}

/// Every parse option combination, so think-tag splitting and cumulative-snapshot undoing run in
/// both modes even on fixtures whose profile does not enable them.
fn all_parse_options(base: ParseOptions) -> Vec<ParseOptions> {
    let mut all = vec![base.clone()];
    for think_tags in [false, true] {
        for cumulative_deltas in [false, true] {
            let p = ParseOptions {
                think_tags,
                cumulative_deltas,
            };
            if p != base {
                all.push(p);
            }
        }
    }
    all
}

#[test]
fn collect_only_matches_streaming_on_every_chat_stream_fixture() {
    let files = sse_files(&common::repo_path(&["fixtures", "chat-streams"]));
    assert!(
        files.len() >= 16,
        "only {} chat stream fixtures",
        files.len()
    );
    let mut statuses = Vec::new();
    for path in &files {
        let body = std::fs::read(path).unwrap();
        for parse in all_parse_options(ParseOptions::default()) {
            let label = format!("{} {parse:?}", path.display());
            statuses.push(assert_parity(&label, &body, parse, None));
        }
    }
    for status in [
        ResponseStatus::Completed,
        ResponseStatus::Incomplete,
        ResponseStatus::Failed,
    ] {
        assert!(
            statuses.contains(&status),
            "the fixtures cover a {status:?} ending"
        );
    }
}

#[test]
fn collect_only_matches_streaming_on_every_provider_stream_fixture() {
    let mut checked = 0;
    for id in ProviderId::all() {
        let profile = common::profile(id.as_str(), json!({}));
        let dir = common::repo_path(&["fixtures", "provider-streams", id.as_str()]);
        for path in sse_files(&dir) {
            let body = std::fs::read(&path).unwrap();
            for parse in all_parse_options(profile.parse_options()) {
                let label = format!("{} {parse:?}", path.display());
                assert_parity(&label, &body, parse, Some(&profile));
                checked += 1;
            }
        }
    }
    assert!(checked >= 4 * 33, "only {checked} provider stream runs");
}
