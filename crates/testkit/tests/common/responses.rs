//! Helpers for the Responses mock self-tests: requests a strict server accepts, raw posting, SSE
//! event parsing, and a checker that a stream is a complete, well-formed Responses stream with
//! every field the OpenAI SDK requires (providers.md §2.2).

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A Codex-like create-response body the OpenAI rules accept: developer and user messages, a
/// reasoning item, a function call and a custom tool call each answered, tools of three kinds.
pub fn codex_request() -> Value {
    json!({
        "model": "gpt-5.5",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "developer",
             "content": [{"type": "input_text", "text": "<permissions>…</permissions>"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "list the files"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "run ls"}],
             "encrypted_content": "gAAAA-opaque"},
            {"type": "function_call", "name": "exec_command",
             "arguments": "{\"cmd\":\"ls\"}", "call_id": "call_1"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"type": "custom_tool_call", "name": "apply_patch", "call_id": "call_patch",
             "input": "*** Begin Patch\n*** Add File: b.txt\n+hi\n*** End Patch\n"},
            {"type": "custom_tool_call_output", "call_id": "call_patch", "output": "Success."},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Done.", "annotations": []}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "thanks"}]}
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "run",
             "strict": false, "parameters": {"type": "object", "properties": {}}},
            {"type": "custom", "name": "apply_patch", "description": "patch",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "web_search"}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1",
        "text": {"verbosity": "low"},
        "client_metadata": {"x-codex-installation-id": "inst-1"}
    })
}

/// No extra request headers.
pub const NO_HEADERS: &[(&str, &str)] = &[];

/// POSTs exact `body` bytes with `headers` (name, value) and `Content-Type: application/json`.
pub async fn post_raw<N, V>(url: &str, headers: &[(N, V)], body: Vec<u8>) -> reqwest::Response
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name.as_ref(), value.as_ref());
    }
    request.send().await.expect("request reaches the mock")
}

/// POSTs `body` as JSON with extra headers.
pub async fn post_json<N, V>(url: &str, headers: &[(N, V)], body: &Value) -> reqwest::Response
where
    N: AsRef<str>,
    V: AsRef<str>,
{
    post_raw(url, headers, body.to_string().into_bytes()).await
}

/// `(status, JSON body)` of a buffered answer.
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The events of an SSE body: each frame's `data:` parsed as JSON; asserts that a frame's
/// `event:` line, when present, equals the payload's `type`.
pub fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event_name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event_name = Some(name.to_owned());
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data = Some(payload.to_owned());
                }
            }
            let data = data.unwrap_or_else(|| panic!("frame without data: {frame:?}"));
            let value: Value = serde_json::from_str(&data).expect("data is JSON");
            if let Some(name) = event_name {
                assert_eq!(Some(name.as_str()), value["type"].as_str(), "{frame}");
            }
            value
        })
        .collect()
}

/// Required fields (besides `type`) per event type, from openai-python's event models.
fn required_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "response.created"
        | "response.in_progress"
        | "response.completed"
        | "response.failed"
        | "response.incomplete" => &["response", "sequence_number"],
        "response.output_item.added" | "response.output_item.done" => {
            &["item", "output_index", "sequence_number"]
        }
        "response.content_part.added" | "response.content_part.done" => &[
            "content_index",
            "item_id",
            "output_index",
            "part",
            "sequence_number",
        ],
        "response.output_text.delta" => &[
            "content_index",
            "delta",
            "item_id",
            "logprobs",
            "output_index",
            "sequence_number",
        ],
        "response.output_text.done" => &[
            "content_index",
            "item_id",
            "logprobs",
            "output_index",
            "sequence_number",
            "text",
        ],
        "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
            &["delta", "item_id", "output_index", "sequence_number"]
        }
        "response.function_call_arguments.done" => &[
            "arguments",
            "item_id",
            "name",
            "output_index",
            "sequence_number",
        ],
        "response.custom_tool_call_input.done" => {
            &["input", "item_id", "output_index", "sequence_number"]
        }
        "response.reasoning_summary_part.added" | "response.reasoning_summary_part.done" => &[
            "item_id",
            "output_index",
            "part",
            "sequence_number",
            "summary_index",
        ],
        "response.reasoning_summary_text.delta" => &[
            "delta",
            "item_id",
            "output_index",
            "sequence_number",
            "summary_index",
        ],
        "response.reasoning_summary_text.done" => &[
            "item_id",
            "output_index",
            "sequence_number",
            "summary_index",
            "text",
        ],
        "response.reasoning_text.delta" => &[
            "content_index",
            "delta",
            "item_id",
            "output_index",
            "sequence_number",
        ],
        "response.reasoning_text.done" => &[
            "content_index",
            "item_id",
            "output_index",
            "sequence_number",
            "text",
        ],
        _ => return None,
    })
}

const RESPONSE_FIELDS: &[&str] = &[
    "id",
    "object",
    "created_at",
    "model",
    "output",
    "parallel_tool_calls",
    "tool_choice",
    "tools",
    "status",
];

/// Asserts `response` is a complete `Response` object (usage complete when present).
pub fn assert_response_object(response: &Value) {
    for field in RESPONSE_FIELDS {
        assert!(
            response.get(*field).is_some(),
            "Response lacks {field}: {response}"
        );
    }
    assert_eq!(response["object"], "response");
    let usage = &response["usage"];
    if !usage.is_null() {
        for field in ["input_tokens", "output_tokens", "total_tokens"] {
            assert!(usage[field].is_u64(), "usage.{field} missing: {usage}");
        }
        assert!(usage["input_tokens_details"]["cached_tokens"].is_u64());
        assert!(usage["input_tokens_details"]["cache_write_tokens"].is_u64());
        assert!(usage["output_tokens_details"]["reasoning_tokens"].is_u64());
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
            )
        );
    }
}

/// Asserts `events` is one complete, well-formed Responses stream and returns the terminal
/// event's response. Quirk events (`codex.rate_limits`, `keepalive`) are skipped.
///
/// Checked: required fields per event; `sequence_number` 0, 1, 2, …; `response.created` then
/// `response.in_progress` first and one terminal event last, all with the same response id;
/// every item event after its `output_item.added` and before its `output_item.done`; deltas
/// concatenate to their `*.done` text; the terminal output equals the `output_item.done` items
/// in `output_index` order (unless `allow_empty_output` and it is empty).
pub fn assert_well_formed(events: &[Value], allow_empty_output: bool) -> Value {
    let events: Vec<&Value> = events
        .iter()
        .filter(|e| !matches!(e["type"].as_str(), Some("codex.rate_limits" | "keepalive")))
        .collect();
    assert!(events.len() >= 3, "too short: {events:?}");
    for (n, event) in events.iter().enumerate() {
        let kind = event["type"].as_str().expect("type");
        let fields = required_fields(kind).unwrap_or_else(|| panic!("unexpected event {kind}"));
        for field in fields {
            assert!(event.get(*field).is_some(), "{kind} lacks {field}: {event}");
        }
        assert_eq!(event["sequence_number"].as_u64(), Some(n as u64), "{event}");
    }
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let id = events[0]["response"]["id"].clone();
    assert!(id.as_str().is_some_and(|id| id.starts_with("resp_")));
    let terminal = events[events.len() - 1];
    assert!(
        matches!(
            terminal["type"].as_str(),
            Some("response.completed" | "response.failed" | "response.incomplete")
        ),
        "last event is {terminal}"
    );
    for event in [events[0], events[1], terminal] {
        assert_eq!(event["response"]["id"], id);
        assert_response_object(&event["response"]);
    }

    let mut open: BTreeMap<u64, Value> = BTreeMap::new();
    let mut done: BTreeMap<u64, Value> = BTreeMap::new();
    let mut text: BTreeMap<(u64, String), String> = BTreeMap::new();
    for event in &events[2..events.len() - 1] {
        let kind = event["type"].as_str().unwrap_or_default();
        let index = event["output_index"].as_u64().expect("output_index");
        match kind {
            "response.output_item.added" => {
                assert!(
                    !open.contains_key(&index) && !done.contains_key(&index),
                    "{event}"
                );
                assert!(event["item"]["id"]
                    .as_str()
                    .is_some_and(|i| i.contains('_')));
                open.insert(index, event["item"].clone());
            }
            "response.output_item.done" => {
                let added = open
                    .remove(&index)
                    .unwrap_or_else(|| panic!("done before added: {event}"));
                assert_eq!(added["id"], event["item"]["id"]);
                assert_eq!(added["type"], event["item"]["type"]);
                done.insert(index, event["item"].clone());
            }
            _ => {
                let item = open
                    .get(&index)
                    .unwrap_or_else(|| panic!("no open item for {event}"));
                assert_eq!(event["item_id"], item["id"], "{event}");
                let channel = format!(
                    "{}:{}:{}",
                    kind.rsplit_once('.').map_or(kind, |(k, _)| k),
                    event["summary_index"],
                    event["content_index"]
                );
                if let Some(delta) = event["delta"].as_str() {
                    text.entry((index, channel)).or_default().push_str(delta);
                } else if kind.ends_with(".done") && !kind.contains("part") {
                    let full = ["text", "arguments", "input"]
                        .iter()
                        .find_map(|f| event[*f].as_str())
                        .expect("done text");
                    let streamed = text.remove(&(index, channel)).unwrap_or_default();
                    assert_eq!(streamed, full, "deltas do not add up: {event}");
                }
            }
        }
    }
    assert!(open.is_empty(), "items never done: {open:?}");
    assert!(text.is_empty(), "deltas without done: {text:?}");
    let output: Vec<Value> = done.into_values().collect();
    let response = terminal["response"].clone();
    let final_output = response["output"].as_array().expect("output").clone();
    if !(allow_empty_output && final_output.is_empty()) {
        assert_eq!(
            final_output, output,
            "terminal output differs from the done items"
        );
    }
    response
}
