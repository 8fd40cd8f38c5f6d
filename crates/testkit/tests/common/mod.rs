//! Shared helpers for the testkit self-tests: a plain HTTP client and a provider-valid request.
#![allow(dead_code)]

use serde_json::{json, Value};

pub mod responses;

/// POSTs `body` as JSON to `url` with `Authorization: Bearer <key>`.
pub async fn post(url: &str, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request reaches the mock")
}

/// Reads the whole body; returns the bytes received and whether the body ended in an error.
pub async fn read_to_end(mut response: reqwest::Response) -> (String, bool) {
    let mut text = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => text.extend_from_slice(&bytes),
            Ok(None) => return (String::from_utf8_lossy(&text).into_owned(), false),
            Err(_) => return (String::from_utf8_lossy(&text).into_owned(), true),
        }
    }
}

/// The `data:` payloads of an SSE body, in order.
pub fn data_payloads(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// A request every rule (including the provider-specific ones) accepts: leading system message,
/// array content, a parallel tool-call turn with reasoning, answered tool calls, a follow-up.
pub fn valid_request() -> Value {
    json!({
        "model": "glm-4.6",
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": 1000,
        "temperature": 0.2,
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "tools": [
            {"type": "function", "function": {
                "name": "shell",
                "description": "run a command",
                "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}
            }},
            {"type": "function", "function": {
                "name": "apply_patch",
                "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}
            }}
        ],
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": [
                {"type": "text", "text": "list the files"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]},
            {"role": "assistant", "content": null, "reasoning_content": "I should run ls twice.",
             "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}},
                {"id": "functions.shell:1", "type": "function",
                 "function": {"name": "shell", "arguments": "{\"cmd\":\"ls -a\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
            {"role": "tool", "tool_call_id": "functions.shell:1", "content": [
                {"type": "text", "text": ". .. a.txt"}
            ]},
            {"role": "assistant", "content": "There is one file, a.txt."},
            {"role": "user", "content": "thanks"}
        ]
    })
}
