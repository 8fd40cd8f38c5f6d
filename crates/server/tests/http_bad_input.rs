//! Malformed requests: each gets its documented status (400, or 413 over `max_body_bytes`) and
//! an OpenAI-shaped error whose `param` (and, for parse errors, message) names the field path;
//! nothing reaches the upstream, nothing panics, and the server keeps serving afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::upstream::{MockUpstream, Reply};
use common::*;
use serde_json::{json, Value};

const MAX_BODY: usize = 4096;

fn config(upstream_url: &str) -> String {
    json!({
        "listen": "127.0.0.1:0",
        "log_dir": std::env::temp_dir().join("ccp-test-logs").to_string_lossy(),
        "max_body_bytes": MAX_BODY,
        "backends": [{
            "name": "main", "url": upstream_url, "api_key": UPSTREAM_KEY, "model": "upstream-model",
            "protocol": "openai", "match_rules": {"default": true}
        }]
    })
    .to_string()
}

/// One malformed request and what the proxy must answer.
struct Case {
    name: &'static str,
    body: Vec<u8>,
    status: u16,
    /// Expected `error.param` (`None`: null).
    param: Option<&'static str>,
    /// Text the message must contain.
    says: &'static str,
}

fn case(name: &'static str, body: Value, param: &'static str, says: &'static str) -> Case {
    Case {
        name,
        body: body.to_string().into_bytes(),
        status: 400,
        param: Some(param),
        says,
    }
}

fn raw(name: &'static str, body: &[u8], says: &'static str) -> Case {
    Case {
        name,
        body: body.to_vec(),
        status: 400,
        param: None,
        says,
    }
}

fn cases() -> Vec<Case> {
    let msg = |item: Value| json!({"model": "m", "input": [item]});
    let tool = |tool: Value| json!({"model": "m", "input": "hi", "tools": [tool]});
    vec![
        raw(
            "malformed JSON",
            br#"{"model": "m", "input": "#,
            "malformed JSON body",
        ),
        raw("empty body", b"", "malformed JSON body"),
        raw(
            "invalid UTF-8",
            b"{\"model\": \"\xff\xfe\", \"input\": \"hi\"}",
            "invalid",
        ),
        raw("non-object body", b"[1, 2, 3]", "must be a JSON object"),
        case(
            "stream is a string",
            json!({"model": "m", "input": "hi", "stream": "yes"}),
            "stream",
            "stream",
        ),
        case(
            "model is a number",
            json!({"model": 42, "input": "hi"}),
            "model",
            "model",
        ),
        case(
            "input is a number",
            json!({"model": "m", "input": 42}),
            "input",
            "expected a string or an array",
        ),
        case(
            "tools is a string",
            json!({"model": "m", "input": "hi", "tools": "all"}),
            "tools",
            "tools",
        ),
        case(
            "temperature is a string",
            json!({"model": "m", "input": "hi", "temperature": "hot"}),
            "temperature",
            "temperature",
        ),
        case(
            "max_output_tokens negative",
            json!({"model": "m", "input": "hi", "max_output_tokens": -1}),
            "max_output_tokens",
            "max_output_tokens",
        ),
        case(
            "reasoning is a string",
            json!({"model": "m", "input": "hi", "reasoning": "high"}),
            "reasoning",
            "reasoning",
        ),
        case(
            "item is not an object",
            json!({"model": "m", "input": [5]}),
            "input[0]",
            "expected an object",
        ),
        case(
            "item without type and role",
            msg(json!({"content": "hi"})),
            "input[0].type",
            "type",
        ),
        case(
            "item type not a string",
            msg(json!({"type": 5, "content": "hi"})),
            "input[0].type",
            "expected a string",
        ),
        case(
            "unknown role",
            msg(json!({"type": "message", "role": "robot", "content": "x"})),
            "input[0].role",
            "robot",
        ),
        case(
            "message without content",
            msg(json!({"type": "message", "role": "user"})),
            "input[0].content",
            "content",
        ),
        case(
            "text part with a number",
            msg(
                json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": 5}]}),
            ),
            "input[0].content",
            "input[0].content",
        ),
        case(
            "image_url not a string",
            msg(
                json!({"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": {"url": 5}}]}),
            ),
            "input[0].content",
            "input[0].content",
        ),
        case(
            "function_call without call_id",
            msg(json!({"type": "function_call", "name": "f", "arguments": "{}"})),
            "input[0].call_id",
            "call_id",
        ),
        case(
            "function_call_output without output",
            msg(json!({"type": "function_call_output", "call_id": "c1"})),
            "input[0].output",
            "output",
        ),
        case(
            "tool without name",
            tool(json!({"type": "function", "parameters": {"type": "object"}})),
            "tools[0]",
            "name",
        ),
        case(
            "namespace tools not an array",
            tool(json!({"type": "namespace", "name": "ns", "tools": "x"})),
            "tools[0]",
            "namespace",
        ),
        case(
            "tool without type",
            tool(json!({"name": "f"})),
            "tools[0]",
            "type",
        ),
        case(
            "empty input and no instructions",
            json!({"model": "m", "input": []}),
            "input",
            "at least one message",
        ),
        case(
            "only orphan tool outputs",
            msg(json!({"type": "function_call_output", "call_id": "c9", "output": "x"})),
            "input",
            "at least one message",
        ),
        case(
            "bad streaming request still gets JSON",
            json!({"model": "m", "stream": true, "input": [{"content": "hi"}]}),
            "input[0].type",
            "type",
        ),
        Case {
            name: "body over max_body_bytes",
            body: json!({"model": "m", "input": "x".repeat(MAX_BODY)})
                .to_string()
                .into_bytes(),
            status: 413,
            param: None,
            says: "max_body_bytes",
        },
    ]
}

async fn post_raw(app: &App, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/v1/responses"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_malformed_request_gets_a_documented_error_and_the_server_keeps_serving() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let cases = cases();
    assert!(cases.len() >= 15);
    for (i, c) in cases.into_iter().enumerate() {
        let name = c.name;
        let resp = post_raw(&app, c.body).await;
        let status = resp.status().as_u16();
        assert_eq!(resp.headers()["content-type"], "application/json", "{name}");
        let text = resp.text().await.unwrap();
        assert!(
            !text.contains(UPSTREAM_KEY) && !text.contains(CLIENT_KEY),
            "{name}: {text}"
        );
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        assert_eq!(status, c.status, "{name}: {v}");
        let err = &v["error"];
        assert_eq!(err["type"], "invalid_request_error", "{name}: {v}");
        let code = if c.status == 413 {
            "request_too_large"
        } else {
            "invalid_request"
        };
        assert_eq!(err["code"], code, "{name}: {v}");
        assert_eq!(
            err["param"],
            c.param.map_or(Value::Null, Value::from),
            "{name}: {v}"
        );
        let message = err["message"].as_str().unwrap();
        assert!(
            message.contains(c.says),
            "{name}: {message:?} should contain {:?}",
            c.says
        );
        if let Some(param) = c
            .param
            .filter(|_| !message.contains("at least one message"))
        {
            assert!(
                message.contains(param),
                "{name}: the message names the path {param}: {message}"
            );
        }

        // The server still serves, and only the valid requests reached the upstream.
        upstream.push(Reply::completion_text("still here"));
        let ok = post_json(
            &app.url("/v1/responses"),
            &json!({"model": "m", "input": "hi"}),
            None,
        )
        .await;
        assert_eq!(ok.status(), 200, "{name}: follow-up request");
        let answer: Value = ok.json().await.unwrap();
        assert_eq!(
            answer["output"][0]["content"][0]["text"], "still here",
            "{name}"
        );
        assert_eq!(
            upstream.chat_requests().len(),
            i + 1,
            "{name}: the bad request reached the upstream"
        );
    }
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_paths_get_404_with_base_url_hints() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let hints = [
        (
            "/v2/chat/completions",
            "served at POST /v1/chat/completions",
        ),
        (
            "/v1/chat/completions/responses",
            "ends in /chat/completions",
        ),
        ("/v1/v1/responses", "doubled /v1"),
        ("/nope", "no such endpoint"),
    ];
    for (path, hint) in hints {
        let resp = post_json(&app.url(path), &json!({"model": "m", "input": "hi"}), None).await;
        assert_eq!(resp.status(), 404, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{path}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(hint) && message.contains("/v1"),
            "{path}: {message}"
        );
    }
    assert!(upstream.chat_requests().is_empty());
}
