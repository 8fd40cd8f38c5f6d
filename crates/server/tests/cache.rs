//! The response cache through the whole app (issue 14): hits and misses as the strict Chat
//! Completions mock sees them (a hit never reaches it; an empty script answers 500), streamed
//! replays, identity scopes, `Cache-Control`, expiry on an injected clock, and Redis shared by two
//! gateways — which must be reachable at `CCP_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`;
//! `.ci/start-redis.sh` starts one): these tests fail, never skip, without it. Each Redis test
//! uses its own random key prefix and deletes its keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ccp_gateway::{Gateway, ResponseCache};
use ccp_testkit::locate::TempDir;
use ccp_testkit::responses_upstream::{ResponseStream, ResponsesUpstream};
use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use futures_util::SinkExt as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

const KEY_B: &str = "sk-client-test-key-B-1122334455";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// One chat backend at `upstream` behind two client keys, `extra` merged at the top level.
fn config(upstream: &str, extra: Value) -> String {
    let mut config: Value =
        serde_json::from_str(&backend_config(upstream, json!({"max_retries": 0}), true)).unwrap();
    config["client_keys"] = json!([CLIENT_KEY, KEY_B]);
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

/// A gateway for `config` whose cache reads time from `clock` (unix ms).
async fn start_clocked(config: &str, clock: &Arc<AtomicU64>) -> App {
    let config = ccp_gateway::config::parse_str(config, &|_| None).unwrap();
    let clock = clock.clone();
    let cache = ResponseCache::from_config(&config)
        .unwrap()
        .map(|c| c.with_clock(Arc::new(move || clock.load(Ordering::SeqCst))));
    let gateway = Gateway::new(config).unwrap().with_response_cache(cache);
    start_gateway(gateway).await
}

fn redis_url() -> String {
    std::env::var("CCP_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A connection to the test Redis; panics (never skips) when it does not answer.
async fn redis() -> redis::aio::MultiplexedConnection {
    let url = redis_url();
    let connect = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "Redis at {url} is unreachable ({e}); start it (.ci/start-redis.sh) or set CCP_TEST_REDIS_URL"
        ),
        Err(_) => panic!("Redis at {url} did not answer within 5 s; start it or set CCP_TEST_REDIS_URL"),
    }
}

fn random_prefix() -> String {
    format!("ccp-test:{:016x}:", fastrand::u64(..))
}

async fn redis_keys(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(conn)
        .await
        .unwrap()
}

async fn delete_keys(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    for key in redis_keys(conn, prefix).await {
        redis::cmd("DEL")
            .arg(key)
            .query_async::<i64>(conn)
            .await
            .unwrap();
    }
}

/// One answer: status, `x-ccp-cache` (empty when absent), body text.
struct Answer {
    status: u16,
    cache: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The output text of a JSON answer, or of a stream's `response.completed`.
    fn output_text(&self) -> String {
        let response = if self.text.starts_with('{') {
            self.json()
        } else {
            let events = parse_sse(&self.text);
            let (_, done) = events.last().unwrap();
            assert_eq!(done["type"], "response.completed", "{}", self.text);
            done["response"].clone()
        };
        response["output"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
            .map(|part| part["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn ask(app: &App, body: &Value, key: &str, cache_control: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .bearer_auth(key)
        .json(body);
    if let Some(cc) = cache_control {
        req = req.header("cache-control", cc);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cache = resp
        .headers()
        .get("x-ccp-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        cache,
        text,
    }
}

fn question(stream: bool) -> Value {
    json!({"model": "client-model", "input": "Say hi", "instructions": "Be brief.",
           "temperature": 0.2, "stream": stream, "store": false})
}

/// A Response object with the ids and times a replay renews blanked out.
fn without_fresh_fields(mut response: Value) -> Value {
    response["id"] = Value::Null;
    response["created_at"] = Value::Null;
    for item in response["output"].as_array_mut().unwrap() {
        item["id"] = Value::Null;
    }
    response
}

/// (type, delta) of every event of an SSE body.
fn types_and_deltas(sse: &str) -> Vec<(String, Option<String>)> {
    parse_sse(sse)
        .into_iter()
        .map(|(_, ev)| {
            let kind = ev["type"].as_str().unwrap().to_owned();
            (kind, ev["delta"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_request_hits_and_never_reaches_the_upstream() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::completion_text("Hi there."));
    let app = start(&config(&upstream.url(), json!({"cache": {"ttl_secs": 60}}))).await;

    let first = ask(&app, &question(false), CLIENT_KEY, None).await;
    assert_eq!(
        (first.status, first.cache.as_str()),
        (200, "miss"),
        "{}",
        first.text
    );
    let second = ask(&app, &question(false), CLIENT_KEY, None).await;
    assert_eq!(
        (second.status, second.cache.as_str()),
        (200, "hit"),
        "{}",
        second.text
    );
    assert_eq!(
        upstream.requests().len(),
        1,
        "a hit must not call the upstream"
    );

    let (a, b) = (first.json(), second.json());
    assert_ne!(a["id"], b["id"], "a hit gets its own response id");
    assert_ne!(a["output"][0]["id"], b["output"][0]["id"]);
    assert_eq!(without_fresh_fields(a), without_fresh_fields(b));
    assert_eq!(second.output_text(), "Hi there.");
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_hit_replays_the_same_events_and_serves_either_kind() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::text_stream("Hello there, my friend!"));
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;

    let first = ask(&app, &question(true), CLIENT_KEY, None).await;
    assert_eq!(
        (first.status, first.cache.as_str()),
        (200, "miss"),
        "{}",
        first.text
    );
    let second = ask(&app, &question(true), CLIENT_KEY, None).await;
    assert_eq!(
        (second.status, second.cache.as_str()),
        (200, "hit"),
        "{}",
        second.text
    );
    let replayed = types_and_deltas(&second.text);
    assert_eq!(types_and_deltas(&first.text), replayed);
    let deltas = replayed
        .iter()
        .filter(|(t, _)| t == "response.output_text.delta")
        .count();
    assert!(
        deltas >= 2,
        "the deltas are replayed as they came: {replayed:?}"
    );
    let sequence: Vec<u64> = parse_sse(&second.text)
        .iter()
        .map(|(_, ev)| ev["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(sequence, (0..sequence.len() as u64).collect::<Vec<_>>());

    // The stored stream answers a request that does not stream, with the same text.
    let json = ask(&app, &question(false), CLIENT_KEY, None).await;
    assert_eq!(json.cache, "hit", "{}", json.text);
    assert_eq!(json.json()["status"], "completed");
    assert_eq!(json.output_text(), "Hello there, my friend!");
    assert_eq!(upstream.requests().len(), 1);

    // And the reverse: an answer cached as JSON is streamed to a streaming request.
    upstream.push(Reply::completion_text("Plain answer."));
    let mut other = question(false);
    other["input"] = json!("Something else");
    assert_eq!(ask(&app, &other, CLIENT_KEY, None).await.cache, "miss");
    other["stream"] = json!(true);
    let streamed = ask(&app, &other, CLIENT_KEY, None).await;
    assert_eq!(streamed.cache, "hit", "{}", streamed.text);
    let events = types_and_deltas(&streamed.text);
    assert_eq!(events[0].0, "response.created");
    assert!(events.contains(&(
        "response.output_text.delta".to_owned(),
        Some("Plain answer.".to_owned())
    )));
    assert_eq!(streamed.output_text(), "Plain answer.");
    assert_eq!(upstream.requests().len(), 2);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_identity_misses_unless_the_cache_is_shared() {
    let upstream = MockUpstream::strict().await;
    upstream.push_all([
        Reply::completion_text("for A"),
        Reply::completion_text("for B"),
    ]);
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;
    assert_eq!(
        ask(&app, &question(false), CLIENT_KEY, None).await.cache,
        "miss"
    );
    let b = ask(&app, &question(false), KEY_B, None).await;
    assert_eq!(
        (b.cache.as_str(), b.output_text()),
        ("miss", "for B".to_owned())
    );
    let a = ask(&app, &question(false), CLIENT_KEY, None).await;
    assert_eq!(
        (a.cache.as_str(), a.output_text()),
        ("hit", "for A".to_owned())
    );
    assert_eq!(upstream.requests().len(), 2);

    let shared = MockUpstream::strict().await;
    shared.push(Reply::completion_text("for all"));
    let app = start(&config(&shared.url(), json!({"cache": {"shared": true}}))).await;
    assert_eq!(
        ask(&app, &question(false), CLIENT_KEY, None).await.cache,
        "miss"
    );
    let b = ask(&app, &question(false), KEY_B, None).await;
    assert_eq!(
        (b.cache.as_str(), b.output_text()),
        ("hit", "for all".to_owned())
    );
    assert_eq!(shared.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_refreshes_the_entry_and_no_store_leaves_it_alone() {
    let upstream = MockUpstream::strict().await;
    upstream.push_all([
        Reply::completion_text("one"),
        Reply::completion_text("two"),
        Reply::completion_text("three"),
    ]);
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;
    let q = question(false);

    let a = ask(&app, &q, CLIENT_KEY, Some("no-store")).await;
    assert_eq!(
        (a.cache.as_str(), a.output_text()),
        ("bypass", "one".to_owned())
    );
    // no-store wrote nothing: the next request misses.
    let b = ask(&app, &q, CLIENT_KEY, None).await;
    assert_eq!(
        (b.cache.as_str(), b.output_text()),
        ("miss", "two".to_owned())
    );
    // no-store reads nothing either.
    let c = ask(&app, &q, CLIENT_KEY, Some("no-store")).await;
    assert_eq!(
        (c.cache.as_str(), c.output_text()),
        ("bypass", "three".to_owned())
    );
    assert_eq!(ask(&app, &q, CLIENT_KEY, None).await.output_text(), "two");

    // no-cache skips the read, and its fresh answer replaces the entry.
    upstream.push(Reply::completion_text("four"));
    let d = ask(&app, &q, CLIENT_KEY, Some("max-age=0, no-cache")).await;
    assert_eq!(
        (d.cache.as_str(), d.output_text()),
        ("miss", "four".to_owned())
    );
    let e = ask(&app, &q, CLIENT_KEY, None).await;
    assert_eq!(
        (e.cache.as_str(), e.output_text()),
        ("hit", "four".to_owned())
    );
    assert_eq!(upstream.requests().len(), 4);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_shapes_the_answer_is_part_of_the_key() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;
    let base = question(false);
    upstream.push(Reply::completion_text("base"));
    assert_eq!(ask(&app, &base, CLIENT_KEY, None).await.cache, "miss");
    let tool = json!([{"type": "function", "name": "lookup", "description": "d",
                       "parameters": {"type": "object", "properties": {}}}]);
    let variants = [
        ("temperature", json!(0.9)),
        ("instructions", json!("Be verbose.")),
        ("tools", tool),
        ("input", json!("Say hello")),
    ];
    for (field, value) in variants {
        let mut changed = base.clone();
        changed[field] = value;
        upstream.push(Reply::completion_text(field));
        let answer = ask(&app, &changed, CLIENT_KEY, None).await;
        assert_eq!(
            (answer.cache.as_str(), answer.output_text()),
            ("miss", field.to_owned()),
            "{field}: {}",
            answer.text
        );
    }
    // Bookkeeping fields are not: this still hits the first answer.
    let mut same = base.clone();
    same["metadata"] = json!({"trace": "x"});
    same["user"] = json!("someone");
    same["prompt_cache_key"] = json!("k");
    let answer = ask(&app, &same, CLIENT_KEY, None).await;
    assert_eq!(
        (answer.cache.as_str(), answer.output_text()),
        ("hit", "base".to_owned())
    );
    assert_eq!(upstream.requests().len(), 5);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_expire_after_the_ttl() {
    let upstream = MockUpstream::strict().await;
    upstream.push_all([Reply::completion_text("old"), Reply::completion_text("new")]);
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let app = start_clocked(
        &config(&upstream.url(), json!({"cache": {"ttl_secs": 60}})),
        &clock,
    )
    .await;
    assert_eq!(
        ask(&app, &question(false), CLIENT_KEY, None).await.cache,
        "miss"
    );
    clock.fetch_add(59_000, Ordering::SeqCst);
    assert_eq!(
        ask(&app, &question(false), CLIENT_KEY, None).await.cache,
        "hit"
    );
    clock.fetch_add(1_000, Ordering::SeqCst);
    let late = ask(&app, &question(false), CLIENT_KEY, None).await;
    assert_eq!(
        (late.cache.as_str(), late.output_text()),
        ("miss", "new".to_owned())
    );
    assert_eq!(upstream.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_or_absent_caches_change_nothing() {
    let upstream = MockUpstream::strict().await;
    upstream.push_all([Reply::completion_text("a"), Reply::completion_text("b")]);
    let app = start(&config(
        &upstream.url(),
        json!({"cache": {"mode": "disable"}}),
    ))
    .await;
    for expected in ["a", "b"] {
        let answer = ask(&app, &question(false), CLIENT_KEY, None).await;
        assert_eq!(
            (answer.cache.as_str(), answer.output_text()),
            ("bypass", expected.to_owned())
        );
    }
    upstream.push_all([Reply::completion_text("c"), Reply::completion_text("d")]);
    let app = start(&config(&upstream.url(), json!({}))).await;
    for expected in ["c", "d"] {
        let answer = ask(&app, &question(false), CLIENT_KEY, None).await;
        assert_eq!(
            (answer.cache.as_str(), answer.output_text()),
            ("", expected.to_owned())
        );
    }
    assert_eq!(upstream.requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_with_store_is_stored_under_its_own_id() {
    let upstream = MockUpstream::strict().await;
    upstream.push(Reply::completion_text("kept"));
    let dir = TempDir::new("ccp-cache");
    let mut body = question(false);
    body["store"] = json!(true);
    let app = start_opened(&config(
        &upstream.url(),
        json!({"cache": {}, "data_dir": dir.join("data").to_string_lossy()}),
    ))
    .await;
    let first = ask(&app, &body, CLIENT_KEY, None).await.json();
    let second = ask(&app, &body, CLIENT_KEY, None).await;
    assert_eq!(second.cache, "hit");
    let second = second.json();
    assert_eq!(upstream.requests().len(), 1);
    for answer in [&first, &second] {
        let id = answer["id"].as_str().unwrap();
        let resp = reqwest::Client::new()
            .get(app.url(&format!("/v1/responses/{id}")))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{id} is stored");
        let stored: Value = resp.json().await.unwrap();
        assert_eq!(stored["id"], id);
        assert_eq!(stored["output"], answer["output"]);
    }
    // The hit's id continues a conversation like any other.
    upstream.push(Reply::completion_text("next"));
    let next = json!({"model": "client-model", "input": "And then?", "store": true,
                      "previous_response_id": second["id"]});
    let answer = ask(&app, &next, CLIENT_KEY, None).await;
    assert_eq!(
        (answer.status, answer.cache.as_str()),
        (200, "miss"),
        "{}",
        answer.text
    );
    let sent = upstream.request(1).unwrap().body["messages"].to_string();
    assert!(
        sent.contains("kept") && sent.contains("And then?"),
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_stream_is_replayed_with_fresh_ids() {
    let upstream = ResponsesUpstream::openai(UPSTREAM_KEY).await;
    upstream.push(ResponseStream::text("relayed answer"));
    let settings = json!({"protocol": "responses", "max_retries": 0});
    let mut config: Value =
        serde_json::from_str(&backend_config(&upstream.url(), settings, true)).unwrap();
    config["cache"] = json!({});
    let app = start(&config.to_string()).await;
    let body = json!({"model": "upstream-model", "input": "hi", "stream": true, "store": false});
    let first = ask(&app, &body, CLIENT_KEY, None).await;
    let second = ask(&app, &body, CLIENT_KEY, None).await;
    assert_eq!(
        (first.cache.as_str(), second.cache.as_str()),
        ("miss", "hit")
    );
    assert_eq!(
        types_and_deltas(&first.text),
        types_and_deltas(&second.text)
    );
    let ids = |text: &str| {
        let events = parse_sse(text);
        let (_, done) = events.last().unwrap();
        (
            done["response"]["id"].clone(),
            done["response"]["output"][0]["id"].clone(),
        )
    };
    let (first_ids, second_ids) = (ids(&first.text), ids(&second.text));
    assert_ne!(first_ids.0, second_ids.0);
    assert_ne!(first_ids.1, second_ids.1);
    assert!(!second.text.contains(first_ids.0.as_str().unwrap()));
    assert_eq!(second.output_text(), "relayed answer");
    assert_eq!(upstream.requests().len(), 1);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_redis() {
    let mut conn = redis().await;
    let prefix = random_prefix();
    let upstream = MockUpstream::strict().await;
    upstream.push_all([
        Reply::completion_text("bypassed"),
        Reply::text_stream("Shared between replicas.").into(),
    ]);
    let cfg = config(
        &upstream.url(),
        json!({"cache": {"ttl_secs": 60, "redis_prefix": prefix}, "redis_url": redis_url()}),
    );
    // Gateway two's clock starts at the real time, so entries gateway one writes are fresh there.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(AtomicU64::new(now_ms));
    let one = start(&cfg).await;
    let two = start_clocked(&cfg, &clock).await;

    let bypass = ask(&one, &question(true), CLIENT_KEY, Some("no-store")).await;
    assert_eq!(bypass.cache, "bypass", "{}", bypass.text);
    assert!(
        redis_keys(&mut conn, &prefix).await.is_empty(),
        "no-store wrote nothing"
    );

    let first = ask(&one, &question(true), CLIENT_KEY, None).await;
    assert_eq!(
        (first.status, first.cache.as_str()),
        (200, "miss"),
        "{}",
        first.text
    );
    let keys = redis_keys(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl_ms > 0 && ttl_ms <= 60_000,
        "Redis expires the entry: {ttl_ms}"
    );

    let second = ask(&two, &question(true), CLIENT_KEY, None).await;
    assert_eq!(
        (second.status, second.cache.as_str()),
        (200, "hit"),
        "{}",
        second.text
    );
    assert_eq!(
        types_and_deltas(&first.text),
        types_and_deltas(&second.text)
    );
    upstream.push(Reply::text_stream("For B."));
    let other = ask(&two, &question(true), KEY_B, None).await;
    assert_eq!(
        (other.cache.as_str(), other.output_text()),
        ("miss", "For B.".to_owned())
    );
    assert_eq!(upstream.requests().len(), 3);

    // Past its TTL on gateway two's clock, the entry is not served even though Redis still has it.
    clock.fetch_add(61_000, Ordering::SeqCst);
    upstream.push(Reply::text_stream("Fresh."));
    let late = ask(&two, &question(true), CLIENT_KEY, None).await;
    assert_eq!(
        (late.cache.as_str(), late.output_text()),
        ("miss", "Fresh.".to_owned())
    );
    upstream.assert_no_violations();
    delete_keys(&mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_degrades_to_misses() {
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let upstream = MockUpstream::strict().await;
    upstream.push_all([
        Reply::completion_text("one"),
        Reply::completion_text("two"),
        Reply::text_stream("three").into(),
    ]);
    let cfg = config(
        &upstream.url(),
        json!({"cache": {}, "redis_url": format!("redis://127.0.0.1:{port}")}),
    );
    let app = start(&cfg).await;
    let started = std::time::Instant::now();
    for (expected, stream) in [("one", false), ("two", false), ("three", true)] {
        let answer = ask(&app, &question(stream), CLIENT_KEY, None).await;
        assert_eq!(
            (answer.status, answer.cache.as_str(), answer.output_text()),
            (200, "miss", expected.to_owned()),
            "{}",
            answer.text
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a dead Redis must not hold requests up: {:?}",
        started.elapsed()
    );
    assert_eq!(upstream.requests().len(), 3);
}

/// One `response.create` on a fresh WebSocket connection whose handshake carries `cache_control`;
/// the (type, delta) of every event that came back.
async fn ask_ws(
    app: &App,
    input: &str,
    cache_control: Option<&str>,
) -> Vec<(String, Option<String>)> {
    let mut request = format!("ws://{}/v1/responses", app.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {CLIENT_KEY}").parse().unwrap(),
    );
    if let Some(cc) = cache_control {
        headers.insert("cache-control", cc.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let create = json!({"type": "response.create", "model": "client-model", "input": input,
                        "store": false});
    ws.send(Message::Text(create.to_string().into()))
        .await
        .unwrap();
    read_ws_response(&mut ws)
        .await
        .into_iter()
        .map(|ev| {
            let kind = ev["type"].as_str().unwrap().to_owned();
            (kind, ev["delta"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_requests_hit_too_and_the_handshake_can_opt_out() {
    let upstream = MockUpstream::strict().await;
    upstream.push_all([
        Reply::text_stream("Over the socket."),
        Reply::text_stream("Not from the cache."),
    ]);
    let app = start(&config(&upstream.url(), json!({"cache": {}}))).await;
    let first = ask_ws(&app, "hi", None).await;
    assert_eq!(first.last().unwrap().0, "response.completed", "{first:?}");
    let second = ask_ws(&app, "hi", None).await;
    assert_eq!(first, second);
    assert_eq!(
        upstream.requests().len(),
        1,
        "the second connection was answered from the cache"
    );
    let bypassed = ask_ws(&app, "hi", Some("no-store")).await;
    let text: String = bypassed.iter().filter_map(|(_, d)| d.clone()).collect();
    assert_eq!(text, "Not from the cache.");
    assert_eq!(upstream.requests().len(), 2);
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_hangs_degrades_to_misses() {
    // Accepts connections and never answers: every Redis call can only time out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let upstream = MockUpstream::strict().await;
    upstream.push_all([Reply::completion_text("one"), Reply::completion_text("two")]);
    let cfg = config(
        &upstream.url(),
        json!({"cache": {}, "redis_url": format!("redis://127.0.0.1:{port}")}),
    );
    let app = start(&cfg).await;
    let started = std::time::Instant::now();
    for expected in ["one", "two"] {
        let answer = ask(&app, &question(false), CLIENT_KEY, None).await;
        assert_eq!(
            (answer.status, answer.cache.as_str(), answer.output_text()),
            (200, "miss", expected.to_owned()),
            "{}",
            answer.text
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a hanging Redis costs one bounded wait, then is skipped: {:?}",
        started.elapsed()
    );
    holder.abort();
}
