//! Responses state through the whole app (issue 13): stored responses, `previous_response_id`,
//! `item_reference`, the retrieve / delete / input_items endpoints, identity isolation, sealed
//! reasoning, retention, and the errors for ids that are unknown, malformed or someone else's.
//! The store is a SQLite file in a temporary `data_dir` per test; the upstream is the strict
//! Chat Completions mock, whose journal shows what the proxy really sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::locate::TempDir;
use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply, SseScript, Strictness};
use common::*;
use serde_json::{json, Value};

const KEY_B: &str = "sk-client-test-key-B-1122334455";

/// One chat backend at `upstream`, the store under `dir`, `extra` merged at the top level.
fn config(upstream: &str, dir: &TempDir, extra: Value) -> String {
    let mut config: Value =
        serde_json::from_str(&backend_config(upstream, json!({}), false)).unwrap();
    config["data_dir"] = json!(dir.join("data").to_string_lossy());
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config.to_string()
}

async fn post(app: &App, body: &Value, key: Option<&str>) -> (u16, Value) {
    let resp = post_json(&app.url("/v1/responses"), body, key).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => Value::String(text),
    };
    (status, json)
}

async fn get(app: &App, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn delete(app: &App, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .delete(app.url(path))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The messages the upstream got in its `n`th request, as (role, text) pairs.
fn sent_messages(upstream: &MockUpstream, n: usize) -> Vec<(String, String)> {
    let req = upstream.request(n).unwrap();
    req.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                _ => String::new(),
            };
            (m["role"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

fn output_text(resp: &Value) -> String {
    resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|p| p["text"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_is_stored_listed_continued_and_deleted() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;

    upstream.push(Reply::completion_text("Paris."));
    let (status, first) = post(
        &app,
        &json!({"model": "m", "instructions": "OLD-INSTRUCTIONS", "input": [
            {"role": "user", "content": "one"}, {"role": "user", "content": "two"},
            {"role": "user", "content": "Capital of France?"}]}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["store"], true, "store defaults to true");
    let id = first["id"].as_str().unwrap().to_owned();

    // Retrieve: the same Response object.
    let (status, got) = get(&app, &format!("/v1/responses/{id}"), None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], first["id"]);
    assert_eq!(output_text(&got), "Paris.");
    assert_eq!(got["status"], "completed");

    // input_items: newest first by default, paginated with `after`, ids assigned.
    let (status, page) = get(
        &app,
        &format!("/v1/responses/{id}/input_items?limit=2"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["object"], "list");
    assert_eq!(page["has_more"], true);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["content"][0]["text"], "Capital of France?");
    assert_eq!(data[0]["type"], "message", "OpenAI's item shape");
    assert!(data
        .iter()
        .all(|i| i["id"].as_str().is_some_and(|s| s.starts_with("msg_"))));
    assert_eq!(page["first_id"], data[0]["id"]);
    let last = page["last_id"].as_str().unwrap();
    let (_, rest) = get(
        &app,
        &format!("/v1/responses/{id}/input_items?limit=2&after={last}"),
        None,
    )
    .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][0]["content"][0]["text"], "one");
    let (_, asc) = get(
        &app,
        &format!("/v1/responses/{id}/input_items?order=asc"),
        None,
    )
    .await;
    let texts: Vec<&str> = asc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "Capital of France?"]);

    // Continue: the upstream sees the whole history and only the new instructions.
    upstream.push(Reply::text_stream("About 2.1 million."));
    let resp = post_json(
        &app.url("/v1/responses"),
        &json!({"model": "m", "instructions": "NEW-INSTRUCTIONS", "previous_response_id": id,
                "input": "And its population?", "stream": true}),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let events = parse_sse(&resp.text().await.unwrap());
    let completed = &events.last().unwrap().1;
    assert_eq!(completed["type"], "response.completed", "{completed}");
    assert_eq!(completed["response"]["previous_response_id"], id.as_str());
    let second = completed["response"]["id"].as_str().unwrap().to_owned();
    let sent = sent_messages(&upstream, 1);
    let expected: Vec<(String, String)> = [
        ("system", "NEW-INSTRUCTIONS"),
        ("user", "one"),
        ("user", "two"),
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "And its population?"),
    ]
    .iter()
    .map(|(r, t)| (r.to_string(), t.to_string()))
    .collect();
    assert_eq!(sent, expected);
    assert!(!upstream
        .request(1)
        .unwrap()
        .raw_body
        .windows(16)
        .any(|w| w == b"OLD-INSTRUCTIONS"));
    upstream.assert_no_violations();

    // A chain of three: the third turn sees both earlier ones.
    upstream.push(Reply::completion_text("Bonjour."));
    let (status, _) = post(
        &app,
        &json!({"model": "m", "previous_response_id": second, "input": "Greet me in French."}),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sent_messages(&upstream, 2).len(), 7);

    // Delete, then the id is gone everywhere.
    let (status, deleted) = delete(&app, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, err) = get(&app, &format!("/v1/responses/{id}"), None).await;
    assert_eq!(status, 404, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains(&id));
    let (status, err) = post(
        &app,
        &json!({"model": "m", "previous_response_id": id, "input": "more"}),
        None,
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "previous_response_not_found");
    assert_eq!(err["error"]["param"], "previous_response_id");
    assert!(err["error"]["message"].as_str().unwrap().contains(&id));
    // The second response's chain lost its first link: an explicit error, not a shorter history.
    let (status, err) = post(
        &app,
        &json!({"model": "m", "previous_response_id": second, "input": "x"}),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("previous_response_not_found"))
    );
    assert!(
        err["error"]["message"].as_str().unwrap().contains(&id),
        "{err}"
    );
    assert_eq!(
        upstream.requests().len(),
        3,
        "no upstream call for a refused chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_false_keeps_nothing_and_item_references_resolve() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;

    upstream.push(Reply::completion_text("not kept"));
    let (_, unstored) = post(
        &app,
        &json!({"model": "m", "input": "hi", "store": false}),
        None,
    )
    .await;
    assert_eq!(unstored["store"], false);
    let id = unstored["id"].as_str().unwrap();
    let (status, _) = get(&app, &format!("/v1/responses/{id}"), None).await;
    assert_eq!(status, 404);

    upstream.push(Reply::completion_text("The answer is 42."));
    let (_, kept) = post(
        &app,
        &json!({"model": "m", "input": "What is the answer?"}),
        None,
    )
    .await;
    let msg_id = kept["output"][0]["id"].as_str().unwrap().to_owned();
    // The Vercel AI SDK's default replay: assistant text as an item_reference (and a bare id).
    for reference in [
        json!({"type": "item_reference", "id": msg_id}),
        json!({"id": msg_id}),
    ] {
        upstream.push(Reply::completion_text("ok"));
        let (status, resp) = post(
            &app,
            &json!({"model": "m", "store": false, "input": [
                {"role": "user", "content": "What is the answer?"}, reference,
                {"role": "user", "content": "Why?"}]}),
            None,
        )
        .await;
        assert_eq!(status, 200, "{resp}");
        let sent = sent_messages(&upstream, upstream.requests().len() - 1);
        assert_eq!(
            sent[1],
            ("assistant".to_owned(), "The answer is 42.".to_owned())
        );
    }
    let (status, err) = post(
        &app,
        &json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_nope"}]}),
        None,
    )
    .await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "item_not_found");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("msg_nope"));
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_sees_nothing_and_cannot_chain() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(
        &upstream.url(),
        &dir,
        json!({"client_keys": [CLIENT_KEY, KEY_B]}),
    ))
    .await;
    upstream.push(Reply::completion_text("secret plans"));
    let (status, a) = post(
        &app,
        &json!({"model": "m", "input": "plans?"}),
        Some(CLIENT_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let id = a["id"].as_str().unwrap();
    let item = a["output"][0]["id"].as_str().unwrap();

    assert_eq!(
        get(&app, &format!("/v1/responses/{id}"), Some(CLIENT_KEY))
            .await
            .0,
        200
    );
    for path in [
        format!("/v1/responses/{id}"),
        format!("/v1/responses/{id}/input_items"),
    ] {
        let (status, err) = get(&app, &path, Some(KEY_B)).await;
        assert_eq!(status, 404, "{path}: {err}");
    }
    let (status, err) = post(
        &app,
        &json!({"model": "m", "previous_response_id": id, "input": "x"}),
        Some(KEY_B),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("previous_response_not_found"))
    );
    let (status, _) = post(
        &app,
        &json!({"model": "m", "input": [{"type": "item_reference", "id": item}]}),
        Some(KEY_B),
    )
    .await;
    assert_eq!(status, 404);
    let resp = reqwest::Client::new()
        .delete(app.url(&format!("/v1/responses/{id}")))
        .bearer_auth(KEY_B)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // Still there for its owner; the endpoints need a key at all.
    assert_eq!(
        get(&app, &format!("/v1/responses/{id}"), Some(CLIENT_KEY))
            .await
            .0,
        200
    );
    let resp = reqwest::get(app.url(&format!("/v1/responses/{id}")))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ids_and_parameters_get_openai_errors_naming_them() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    let cases = [
        ("/v1/responses/resp_unknown123", 404, "resp_unknown123"),
        ("/v1/responses/msg_123", 400, "msg_123"),
        ("/v1/responses/resp%20x", 400, "resp x"),
        (
            "/v1/responses/resp_unknown123/input_items",
            404,
            "resp_unknown123",
        ),
        ("/responses/resp_unknown123", 404, "resp_unknown123"),
    ];
    for (path, want, named) in cases {
        let (status, err) = get(&app, path, None).await;
        assert_eq!(status, want, "{path}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(named),
            "{path}: {err}"
        );
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
    upstream.push(Reply::completion_text("x"));
    let (_, made) = post(&app, &json!({"model": "m", "input": "hi"}), None).await;
    let id = made["id"].as_str().unwrap();
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("order=up", "order"),
        ("after=msg_nothere", "after"),
    ] {
        let (status, err) = get(
            &app,
            &format!("/v1/responses/{id}/input_items?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["param"], param, "{query}");
    }
    let (status, err) = post(
        &app,
        &json!({"model": "m", "previous_response_id": "resp_never", "input": "x"}),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("previous_response_not_found"))
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("resp_never"));
    // A tampered or forged reasoning blob.
    for blob in [
        "ccp:v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "ccp:v1:{\"reasoning_details\":[]}",
    ] {
        let (status, err) = post(
            &app,
            &json!({"model": "m", "store": false, "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "summary": [], "encrypted_content": blob},
                {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]}),
            None,
        )
        .await;
        assert_eq!(status, 400, "{blob}: {err}");
        assert_eq!(err["error"]["code"], "invalid_encrypted_content");
        assert_eq!(err["error"]["param"], "input[1].encrypted_content");
    }
    assert_eq!(upstream.requests().len(), 1);
    assert!(app.gateway.state().store().is_some());
}

/// A thinking upstream: reasoning then a tool call, answered after the tool result only when the
/// reasoning comes back (`reasoning_content` on the assistant tool-call message).
fn thinking_tool_call() -> SseScript {
    let mut chunks = vec![
        chunk(
            json!({"role": "assistant", "reasoning_content": "I should call the weather tool."}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_w1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ];
    chunks.push(usage_chunk(7));
    Reply::sse_json(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_reasoning_round_trips_through_a_stateless_client() {
    let upstream = MockUpstream::start(Strictness::thinking_provider()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    upstream.push(thinking_tool_call());
    let resp = post_json(
        &app.url("/v1/responses"),
        &json!({"model": "m", "store": false, "stream": true, "include": ["reasoning.encrypted_content"],
                "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "input": "Weather in Paris?"}),
        None,
    )
    .await;
    let events = parse_sse(&resp.text().await.unwrap());
    let completed = &events.last().unwrap().1["response"];
    let output = completed["output"].as_array().unwrap();
    let reasoning = output.iter().find(|i| i["type"] == "reasoning").unwrap();
    let blob = reasoning["encrypted_content"].as_str().unwrap();
    assert!(blob.starts_with("ccp:v2:"), "{blob}");
    assert!(!blob.contains("weather"), "opaque: {blob}");
    // output_item.done carried the same blob as response.completed.
    let done = events
        .iter()
        .find(|(_, e)| e["type"] == "response.output_item.done" && e["item"]["type"] == "reasoning")
        .unwrap();
    assert_eq!(done.1["item"]["encrypted_content"], blob);
    let call = output
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap();

    // The Vercel AI SDK's `store: false` replay: a summary-only item with the blob; the text
    // the thinking upstream needs comes back out of the blob.
    upstream.push(Reply::completion_text("Sunny."));
    let (status, resp) = post(
        &app,
        &json!({"model": "m", "store": false,
                "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "reasoning", "id": reasoning["id"], "summary": [], "encrypted_content": blob},
            {"type": "function_call", "call_id": call["call_id"], "name": "weather", "arguments": call["arguments"]},
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21C"}]}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    let sent = upstream.request(1).unwrap().body;
    let assistant = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(
        assistant["reasoning_content"],
        "I should call the weather tool."
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_chains_from_a_response_stored_by_an_earlier_connection() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    let app = start_opened(&config(&upstream.url(), &dir, json!({}))).await;
    upstream.push(Reply::completion_text("stored over HTTP"));
    let (_, first) = post(&app, &json!({"model": "m", "input": "first"}), None).await;
    let id = first["id"].as_str().unwrap();

    let url = format!("ws://{}/v1/responses", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    upstream.push(Reply::text_stream("second answer"));
    let frame = json!({"type": "response.create", "model": "m", "previous_response_id": id, "input": [{"role": "user", "content": "second"}]});
    futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into()),
    )
    .await
    .unwrap();
    let events = read_ws_response(&mut ws).await;
    assert_eq!(
        events.last().unwrap()["type"],
        "response.completed",
        "{events:?}"
    );
    let sent = sent_messages(&upstream, 1);
    let texts: Vec<&str> = sent.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["first", "stored over HTTP", "second"]);

    // An id nobody stored still gets previous_response_not_found (Codex then resends all).
    let frame = json!({"type": "response.create", "model": "m", "previous_response_id": "resp_gone", "input": []});
    futures_util::SinkExt::send(
        &mut ws,
        tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into()),
    )
    .await
    .unwrap();
    let events = read_ws_response(&mut ws).await;
    assert_eq!(
        events.last().unwrap()["error"]["code"],
        "previous_response_not_found",
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_responses_disappear() {
    let upstream = MockUpstream::start(Strictness::default()).await;
    let dir = TempDir::new("ccp-state");
    // Two seconds of retention; the background purge runs every second.
    let ttl_days = 2.0 / 86_400.0;
    let app = start_opened(&config(
        &upstream.url(),
        &dir,
        json!({"storage": {"response_ttl_days": ttl_days}}),
    ))
    .await;
    upstream.push(Reply::completion_text("short-lived"));
    let (_, made) = post(&app, &json!({"model": "m", "input": "hi"}), None).await;
    let id = made["id"].as_str().unwrap();
    assert_eq!(get(&app, &format!("/v1/responses/{id}"), None).await.0, 200);
    let store = app.gateway.state().store().unwrap().clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Gone from the database itself, not only hidden by the expiry check.
        if store.size_bytes().await.unwrap() == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the purge did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(get(&app, &format!("/v1/responses/{id}"), None).await.0, 404);
    let (status, err) = post(
        &app,
        &json!({"model": "m", "previous_response_id": id, "input": "x"}),
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("previous_response_not_found"))
    );
}
