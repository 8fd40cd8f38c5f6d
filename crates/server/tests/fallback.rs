//! Model groups (`model_groups`), the whole app against strict mock upstreams: each trigger
//! (an upstream 500 and 429, a first-byte timeout, a refused connection) moves the request on to
//! the next backend, which answers with `x-ccp-backend`, `x-ccp-attempts` and
//! `x-ccp-fallback-count`; a context overflow moves on only to a larger window; a failure outside
//! `on` is the answer; a failed backend cools down and
//! is probed again (on an injected clock); nothing falls back once a byte reached the client; the
//! strategies spread requests as configured; Chat Completions and WebSocket clients fall back
//! too; and reasoning crosses from one upstream to another as text, never as a foreign
//! signature. Every assertion is on what each mock saw.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccp_gateway::Gateway;
use ccp_testkit::upstream::{MockUpstream, Reply, Strictness};
use ccp_testkit::{AnthropicScript, AnthropicUpstream, ResponseStream, ResponsesUpstream};
use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};

const MODEL: &str = "gpt-4o";

/// A chat backend in front of `url`, no transport retries (so each mock sees one request per
/// attempt), with `settings` merged in.
fn chat(name: &str, url: &str, settings: Value) -> Value {
    let mut b = json!({"name": name, "url": url, "api_key": UPSTREAM_KEY,
        "model": format!("{name}-model"), "max_retries": 0});
    for (k, v) in settings.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn anthropic(name: &str, url: &str) -> Value {
    json!({"name": name, "protocol": "anthropic", "url": url, "api_key": UPSTREAM_KEY,
        "model": format!("{name}-model"), "max_retries": 0})
}

/// A config with these backends (the first is the default) and one group serving [`MODEL`].
fn config(mut backends: Vec<Value>, group: Value) -> String {
    backends[0]["match_rules"] = json!({"default": true});
    let mut group = group;
    group["model"] = json!(MODEL);
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "client_keys": [CLIENT_KEY],
        "backends": backends,
        "model_groups": [group],
    })
    .to_string()
}

/// A cooldown clock the test moves by hand.
#[derive(Clone, Default)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    fn clock(&self) -> ccp_gateway::groups::Clock {
        let t = self.0.clone();
        Arc::new(move || Duration::from_secs(t.load(Ordering::SeqCst)))
    }
}

async fn start_with_clock(config: &str, clock: &ManualClock) -> App {
    let config = ccp_gateway::config::parse_str(config, &|_| None).unwrap();
    start_gateway(
        Gateway::new(config)
            .unwrap()
            .with_group_clock(clock.clock()),
    )
    .await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    /// (`x-ccp-backend`, `x-ccp-attempts`, `x-ccp-fallback-count`).
    fn route(&self) -> (String, String, String) {
        let h = |n: &str| {
            self.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("no {n} header: {:?}", self.headers))
                .to_owned()
        };
        (
            h("x-ccp-backend"),
            h("x-ccp-attempts"),
            h("x-ccp-fallback-count"),
        )
    }

    fn backend(&self) -> String {
        self.route().0
    }

    /// The SSE events' types.
    fn types(&self) -> Vec<String> {
        event_types(&parse_sse(&self.text))
    }

    /// The text of the first message of the terminal event's response.
    fn output_text(&self) -> String {
        let events = parse_sse(&self.text);
        let (_, last) = events.last().unwrap_or_else(|| panic!("{}", self.text));
        let output = last["response"]["output"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        output
            .iter()
            .find(|i| i["type"] == "message")
            .and_then(|m| m["content"][0]["text"].as_str())
            .unwrap_or_else(|| panic!("no message in {}", self.text))
            .to_owned()
    }
}

async fn post(app: &App, path: &str, body: &Value) -> Answer {
    let resp = post_json(&app.url(path), body, Some(CLIENT_KEY)).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    Answer {
        status,
        headers,
        text,
    }
}

async fn ask(app: &App, stream: bool) -> Answer {
    let body = json!({"model": MODEL, "input": "Say hi", "stream": stream});
    post(app, "/v1/responses", &body).await
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trigger_moves_on_to_the_next_backend_which_answers_with_the_headers() {
    for case in ["500", "429", "first byte timeout", "refused connection"] {
        let primary = MockUpstream::strict().await;
        let fallback = MockUpstream::strict().await;
        let mut primary_settings = json!({});
        let mut primary_url = primary.url();
        match case {
            "500" => primary.push(Reply::error(500, "server_error", "boom")),
            "429" => primary.push(Reply::error(429, "rate_limit_exceeded", "slow down")),
            "first byte timeout" => {
                primary_settings = json!({"first_byte_timeout_secs": 1});
                primary
                    .push(Reply::text_stream("too late").header_delay(Duration::from_millis(2500)));
            }
            _ => primary_url = format!("http://127.0.0.1:{}/v1", closed_port().await),
        }
        fallback.push(Reply::text_stream("from the fallback"));
        let app = start(&config(
            vec![
                chat("primary", &primary_url, primary_settings),
                chat("fallback", &fallback.url(), json!({})),
            ],
            json!({"backends": ["primary", "fallback"], "strategy": "fallback",
                "on": ["5xx", "timeout", "429", "connect"], "cooldown_secs": 30}),
        ))
        .await;
        let answer = ask(&app, true).await;
        assert_eq!(answer.status, 200, "{case}: {}", answer.text);
        assert_eq!(
            answer.route(),
            ("fallback".into(), "2".into(), "1".into()),
            "{case}"
        );
        assert_eq!(answer.headers["x-ccp-upstream-model"], "fallback-model");
        let types = answer.types();
        assert_eq!(
            types.first().map(String::as_str),
            Some("response.created"),
            "{case}"
        );
        assert_eq!(
            types.iter().filter(|t| *t == "response.created").count(),
            1,
            "{case}: the failed attempt's events never reached the client: {types:?}"
        );
        assert_eq!(types.last().map(String::as_str), Some("response.completed"));
        assert_eq!(answer.output_text(), "from the fallback", "{case}");
        let expected_primary = usize::from(case != "refused connection");
        assert_eq!(primary.chat_requests().len(), expected_primary, "{case}");
        let sent = fallback.chat_requests();
        assert_eq!(sent.len(), 1, "{case}");
        assert_eq!(sent[0].body["model"], "fallback-model");
        assert_eq!(
            sent[0].authorization(),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
        primary.assert_no_violations();
        fallback.assert_no_violations();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_streaming_request_falls_back_too() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    primary.push(Reply::error(503, "server_error", "unavailable"));
    fallback.push(Reply::completion_text("whole answer"));
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            chat("fallback", &fallback.url(), json!({})),
        ],
        json!({"backends": ["primary", "fallback"]}),
    ))
    .await;
    let answer = ask(&app, false).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.route(), ("fallback".into(), "2".into(), "1".into()));
    let body: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(body["output"][0]["content"][0]["text"], "whole answer");
    assert_eq!(body["model"], MODEL, "the client's model is echoed");
    assert_eq!(primary.chat_requests().len(), 1);
    assert_eq!(fallback.chat_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_outside_on_is_the_answer() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            chat("fallback", &fallback.url(), json!({})),
        ],
        json!({"backends": ["primary", "fallback"], "on": ["5xx"]}),
    ))
    .await;
    // A 429 is not in `on`: the client gets the rate limit, with the primary named.
    primary.push(Reply::error(429, "rate_limit_exceeded", "slow down"));
    let answer = ask(&app, false).await;
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert_eq!(answer.route(), ("primary".into(), "1".into(), "0".into()));
    let body: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    // A rejected request is no trigger at all (and leaves the primary in service).
    primary.push(Reply::error(400, "invalid_request_error", "bad field"));
    let answer = ask(&app, true).await;
    assert_eq!(answer.route(), ("primary".into(), "1".into(), "0".into()));
    let events = parse_sse(&answer.text);
    let (_, last) = events.last().unwrap();
    assert_eq!(last["type"], "response.failed", "{}", answer.text);
    assert_eq!(primary.chat_requests().len(), 2);
    assert!(
        fallback.chat_requests().is_empty(),
        "the fallback was called for a failure outside `on`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_overflow_moves_on_only_to_a_larger_window_and_cools_nothing() {
    let [small, same, big] = [
        MockUpstream::strict().await,
        MockUpstream::strict().await,
        MockUpstream::strict().await,
    ];
    let app = start(&config(
        vec![
            chat("small", &small.url(), json!({"context_window": 8000})),
            chat("same", &same.url(), json!({"context_window": 8000})),
            chat("big", &big.url(), json!({"context_window": 200_000})),
        ],
        json!({"backends": ["small", "same", "big"], "on": ["context_overflow"]}),
    ))
    .await;
    small.push(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 8000 tokens",
    ));
    big.push(Reply::text_stream("it fits"));
    let answer = ask(&app, true).await;
    assert_eq!(answer.route(), ("big".into(), "2".into(), "1".into()));
    assert_eq!(answer.output_text(), "it fits");
    assert!(
        same.chat_requests().is_empty(),
        "a window no larger was tried"
    );
    // The overflow said nothing about the backend: the next request starts there again.
    small.push(Reply::text_stream("short one"));
    assert_eq!(ask(&app, true).await.backend(), "small");
    assert_eq!(small.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backend_cools_down_then_one_request_probes_it() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    let clock = ManualClock::default();
    let app = start_with_clock(
        &config(
            vec![
                chat("primary", &primary.url(), json!({})),
                chat("fallback", &fallback.url(), json!({})),
            ],
            json!({"backends": ["primary", "fallback"], "cooldown_secs": 30}),
        ),
        &clock,
    )
    .await;
    primary.push(Reply::error(500, "server_error", "boom"));
    fallback.push_all([Reply::text_stream("one"), Reply::text_stream("two")]);
    let first = ask(&app, true).await;
    assert_eq!(first.route(), ("fallback".into(), "2".into(), "1".into()));
    clock.advance(10);
    let second = ask(&app, true).await;
    assert_eq!(
        second.route(),
        ("fallback".into(), "1".into(), "0".into()),
        "the cooling primary is skipped"
    );
    assert_eq!(primary.chat_requests().len(), 1);
    clock.advance(21);
    primary.push_all([Reply::text_stream("back"), Reply::text_stream("again")]);
    let third = ask(&app, true).await;
    assert_eq!(
        third.route(),
        ("primary".into(), "1".into(), "0".into()),
        "after the cooldown the primary is probed"
    );
    assert_eq!(third.output_text(), "back");
    let fourth = ask(&app, true).await;
    assert_eq!(
        fourth.backend(),
        "primary",
        "the good probe closed the breaker"
    );
    assert_eq!(primary.chat_requests().len(), 3);
    assert_eq!(fallback.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_backend_cools_down_the_least_recently_failed_is_tried() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    let clock = ManualClock::default();
    let app = start_with_clock(
        &config(
            vec![
                chat("primary", &primary.url(), json!({})),
                chat("fallback", &fallback.url(), json!({})),
            ],
            json!({"backends": ["primary", "fallback"], "cooldown_secs": 30}),
        ),
        &clock,
    )
    .await;
    primary.push(Reply::error(500, "server_error", "boom"));
    fallback.push(Reply::text_stream("one"));
    assert_eq!(ask(&app, true).await.backend(), "fallback");
    clock.advance(10);
    // The fallback, the only one in service, fails too: its failure is the answer.
    fallback.push(Reply::error(502, "server_error", "bad gateway"));
    let second = ask(&app, true).await;
    assert_eq!(second.route(), ("fallback".into(), "1".into(), "0".into()));
    assert_eq!(
        second.types().last().map(String::as_str),
        Some("response.failed")
    );
    clock.advance(5);
    // Both cool down: the primary failed longest ago, so it goes first instead of a refusal.
    primary.push(Reply::text_stream("recovered"));
    let third = ask(&app, true).await;
    assert_eq!(third.route(), ("primary".into(), "1".into(), "0".into()));
    assert_eq!(third.output_text(), "recovered");
    assert_eq!(primary.chat_requests().len(), 2);
    assert_eq!(fallback.chat_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_falls_back_once_a_byte_reached_the_client() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            chat("fallback", &fallback.url(), json!({})),
        ],
        json!({"backends": ["primary", "fallback"]}),
    ))
    .await;
    primary.push(Reply::text_stream("a long answer that breaks off midway").drop_after(3));
    let answer = ask(&app, true).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.route(), ("primary".into(), "1".into(), "0".into()));
    let types = answer.types();
    assert!(
        types.iter().any(|t| t == "response.output_text.delta"),
        "{types:?}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("response.failed"),
        "{types:?}"
    );
    assert!(
        fallback.chat_requests().is_empty(),
        "a stream was re-sent after its first byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_and_weighted_spread_requests_as_configured() {
    for (strategy, extra, expected) in [
        ("round_robin", json!({}), vec!["a", "b", "a", "b"]),
        (
            "weighted",
            json!({"weights": [3, 1]}),
            vec!["a", "a", "b", "a", "a", "a", "b", "a"],
        ),
    ] {
        let a = MockUpstream::strict().await;
        let b = MockUpstream::strict().await;
        let mut group = json!({"backends": ["a", "b"], "strategy": strategy});
        for (k, v) in extra.as_object().unwrap() {
            group[k] = v.clone();
        }
        let app = start(&config(
            vec![
                chat("a", &a.url(), json!({})),
                chat("b", &b.url(), json!({})),
            ],
            group,
        ))
        .await;
        for name in &expected {
            let mock = if *name == "a" { &a } else { &b };
            mock.push(Reply::text_stream(&format!("from {name}")));
        }
        let mut served = Vec::new();
        for _ in &expected {
            let answer = ask(&app, true).await;
            assert_eq!(answer.route().1, "1", "{strategy}: no fallback needed");
            assert_eq!(answer.output_text(), format!("from {}", answer.backend()));
            served.push(answer.backend());
        }
        assert_eq!(served, expected, "{strategy}");
        let count = |n: &str| expected.iter().filter(|x| **x == n).count();
        assert_eq!(a.chat_requests().len(), count("a"), "{strategy}");
        assert_eq!(b.chat_requests().len(), count("b"), "{strategy}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_busy_prefers_the_backend_with_fewer_requests_in_flight() {
    let a = MockUpstream::strict().await;
    let b = MockUpstream::strict().await;
    let app = start(&config(
        vec![
            chat("a", &a.url(), json!({})),
            chat("b", &b.url(), json!({})),
        ],
        json!({"backends": ["a", "b"], "strategy": "least_busy"}),
    ))
    .await;
    a.push(Reply::text_stream("slow answer from a").pause_after(2, Duration::from_millis(1500)));
    b.push(Reply::text_stream("from b"));
    a.push(Reply::text_stream("from a"));
    let body = json!({"model": MODEL, "input": "Say hi", "stream": true});
    // The first request is answered by a and still streaming when the second arrives.
    let slow = post_json(&app.url("/v1/responses"), &body, Some(CLIENT_KEY)).await;
    assert_eq!(slow.headers()["x-ccp-backend"], "a");
    let second = ask(&app, true).await;
    assert_eq!(second.backend(), "b", "a has a request in flight");
    let slow_text = slow.text().await.unwrap();
    assert!(slow_text.contains("response.completed"), "{slow_text}");
    let third = ask(&app, true).await;
    assert_eq!(third.backend(), "a", "both idle again: config order");
    assert_eq!(a.chat_requests().len(), 2);
    assert_eq!(b.chat_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completions_fall_back_to_another_kind() {
    let primary = MockUpstream::strict().await;
    let claude = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            anthropic("claude", &claude.url()),
        ],
        json!({"backends": ["primary", "claude"], "cooldown_secs": 0}),
    ))
    .await;
    // An error as the stream's first event is still before the first byte.
    primary.push(Reply::sse_json([
        json!({"error": {"message": "upstream overloaded", "type": "server_error"}}),
    ]));
    claude.push(AnthropicScript::text("Hello from Claude."));
    let body = json!({"model": MODEL, "stream": true,
        "messages": [{"role": "user", "content": "Say hi"}]});
    let answer = post(&app, "/v1/chat/completions", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.route(), ("claude".into(), "2".into(), "1".into()));
    assert_eq!(answer.headers["x-ccp-upstream-model"], "claude-model");
    assert!(
        !answer.text.contains("upstream overloaded"),
        "{}",
        answer.text
    );
    let text: String = answer
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hello from Claude.");
    // Not streaming: the primary's 500 (a 0 s cooldown: it is tried again).
    primary.push(Reply::error(500, "server_error", "boom"));
    claude.push(AnthropicScript::text("Whole."));
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Again"}]});
    let answer = post(&app, "/v1/chat/completions", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.route(), ("claude".into(), "2".into(), "1".into()));
    let completion: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "Whole.");
    assert_eq!(primary.chat_requests().len(), 2);
    assert_eq!(claude.requests().len(), 2);
    assert_eq!(claude.requests()[1].body["model"], "claude-model");
    claude.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_request_falls_back_too() {
    let primary = MockUpstream::strict().await;
    let fallback = MockUpstream::strict().await;
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            chat("fallback", &fallback.url(), json!({})),
        ],
        json!({"backends": ["primary", "fallback"]}),
    ))
    .await;
    primary.push(Reply::error(500, "server_error", "boom"));
    fallback.push(Reply::text_stream("over the socket"));
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/v1/responses",
            app.addr
        ))
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let create = json!({"type": "response.create", "model": MODEL, "input": "Say hi"});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        create.to_string().into(),
    ))
    .await
    .unwrap();
    let events = read_ws_response(&mut ws).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "response.created").count(),
        1,
        "{types:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{events:?}");
    assert_eq!(
        last["response"]["output"][0]["content"][0]["text"],
        "over the socket"
    );
    assert_eq!(primary.chat_requests().len(), 1);
    assert_eq!(fallback.chat_requests().len(), 1);
    ws.close(None).await.ok();
    let _ = ws.next().await;
}

fn tools() -> Value {
    json!([{"type": "function", "name": "exec_command", "description": "run",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}])
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_crosses_upstreams_as_text_never_as_a_foreign_signature() {
    let claude_a = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let claude_b = AnthropicUpstream::start(UPSTREAM_KEY).await;
    let thinker = MockUpstream::start(Strictness {
        require_reasoning_on_tool_calls: true,
        ..Strictness::default()
    })
    .await;
    let app = start(&config(
        vec![
            anthropic("claude-a", &claude_a.url()),
            anthropic("claude-b", &claude_b.url()),
            chat("thinker", &thinker.url(), json!({})),
        ],
        json!({"backends": ["claude-a", "claude-b", "thinker"], "strategy": "round_robin"}),
    ))
    .await;
    let signature = "sig-of-claude-a";
    claude_a.push(
        AnthropicScript::default()
            .thinking("List the files first.", signature)
            .tool_use("toolu_1", "exec_command", json!({"cmd": "ls"})),
    );
    let request = |input: Value| {
        json!({"model": MODEL, "stream": true, "store": false, "tools": tools(),
            "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "medium"},
            "input": input})
    };
    let first = post(&app, "/v1/responses", &request(json!([user("list files")]))).await;
    assert_eq!(first.backend(), "claude-a");
    let events = parse_sse(&first.text);
    let output = events.last().unwrap().1["response"]["output"].clone();
    assert_eq!(output[0]["type"], "reasoning", "{}", first.text);
    assert!(output[0]["encrypted_content"]
        .as_str()
        .unwrap()
        .starts_with("ccp:v2:"));
    let mut history = vec![user("list files")];
    history.extend(output.as_array().unwrap().iter().cloned());
    history.push(json!({"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"}));

    // Another Anthropic endpoint: claude-a's signature would be invalid there.
    claude_b.push(AnthropicScript::text("b: one file."));
    let second = post(&app, "/v1/responses", &request(json!(history))).await;
    assert_eq!(second.backend(), "claude-b", "{}", second.text);
    assert_eq!(second.output_text(), "b: one file.");
    let sent_b = &claude_b.requests()[0];
    let raw_b = String::from_utf8_lossy(&sent_b.raw_body).into_owned();
    assert!(
        !raw_b.contains(signature) && !raw_b.contains("ccp:"),
        "{raw_b}"
    );
    assert_ne!(
        sent_b.body["thinking"]["type"], "enabled",
        "a tool turn without its own thinking blocks turns thinking off"
    );
    claude_b.assert_no_violations();

    // A thinking chat model needs the reasoning as text on the tool turn.
    thinker.push(Reply::text_stream("thinker: one file."));
    let third = post(&app, "/v1/responses", &request(json!(history))).await;
    assert_eq!(third.backend(), "thinker", "{}", third.text);
    assert_eq!(third.output_text(), "thinker: one file.");
    let sent = &thinker.chat_requests()[0];
    let raw = String::from_utf8_lossy(&sent.raw_body).into_owned();
    assert!(!raw.contains(signature) && !raw.contains("ccp:"), "{raw}");
    let assistant = sent
        .messages()
        .iter()
        .find(|m| m["tool_calls"].is_array())
        .unwrap()
        .clone();
    assert_eq!(assistant["reasoning_content"], "List the files first.");
    thinker.assert_no_violations();

    // Back at claude-a: its own thinking block comes back byte-identical.
    claude_a.push(AnthropicScript::text("a: one file."));
    let fourth = post(&app, "/v1/responses", &request(json!(history))).await;
    assert_eq!(fourth.backend(), "claude-a", "{}", fourth.text);
    let replayed = &claude_a.requests()[1].body["messages"][1]["content"][0];
    assert_eq!(
        *replayed,
        json!({"type": "thinking", "thinking": "List the files first.", "signature": signature})
    );
    claude_a.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passthrough_fallback_gets_none_of_the_proxys_reasoning() {
    let primary = MockUpstream::strict().await;
    let openai = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    let app = start(&config(
        vec![
            chat("primary", &primary.url(), json!({})),
            json!({"name": "openai", "protocol": "responses", "url": openai.url(),
                "api_key": UPSTREAM_KEY, "model": "gpt-4o", "max_retries": 0}),
        ],
        json!({"backends": ["primary", "openai"]}),
    ))
    .await;
    let blob = app
        .gateway
        .state()
        .sealer()
        .seal(&ccp_gateway::state::seal::Sealed {
            inner: Some("ccp:v1:{\"reasoning_details\":[{\"type\":\"reasoning.text\"}]}".into()),
            text: Some("a chat model's thought".into()),
            origin: Some("chat http://elsewhere/v1/chat/completions".into()),
        })
        .unwrap();
    primary.push(Reply::error(500, "server_error", "boom"));
    openai.push(ResponseStream::text("from OpenAI"));
    let body = json!({"model": MODEL, "stream": true, "store": false, "tools": tools(),
    "input": [
        user("list files"),
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": blob},
        {"type": "function_call", "call_id": "call_1", "name": "exec_command",
            "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
    ]});
    let answer = post(&app, "/v1/responses", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.route(), ("openai".into(), "2".into(), "1".into()));
    let sent = &openai.responses_requests()[0];
    let raw = String::from_utf8_lossy(&sent.raw_body).into_owned();
    assert!(
        !raw.contains("ccp:"),
        "the proxy's reasoning reached OpenAI: {raw}"
    );
    let kinds: Vec<&str> = sent
        .input_items()
        .iter()
        .map(|i| i["type"].as_str().unwrap_or("message"))
        .collect();
    assert_eq!(kinds, ["message", "function_call", "function_call_output"]);
    // The chat primary got it as text (it failed, but what it saw is checked).
    let to_chat = String::from_utf8_lossy(&primary.chat_requests()[0].raw_body).into_owned();
    assert!(
        to_chat.contains("a chat model's thought") && !to_chat.contains("ccp:"),
        "{to_chat}"
    );
    openai.assert_no_violations();
}
