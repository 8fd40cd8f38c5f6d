//! The error table of docs/errors.md, row by row, at both points where an upstream can fail:
//! before the first byte (it answers an HTTP error status) and mid-stream (it sent some content,
//! then an in-band `{"error":…}` payload or a malformed event; dropped connections and
//! timeouts are in http_faults.rs).
//!
//! Streaming requests must get HTTP 200 and an SSE stream whose only terminal event is the last
//! one, a `response.failed` with the mapped code; non-streaming requests get the mapped HTTP
//! status and an OpenAI-shaped body. No body may contain the upstream or the client key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_testkit::upstream::{chunk, usage_chunk, MockUpstream, Reply, Strictness};
use common::*;
use serde_json::{json, Value};

/// One backend with no proxy-side retries (retries are tested in http_faults.rs), behind a
/// client key so that the key scan covers it too.
fn config(upstream_url: &str) -> String {
    config_for(upstream_url, None)
}

/// The same with an explicit provider profile (`None`: inferred, i.e. `generic` here).
fn config_for(upstream_url: &str, provider: Option<&str>) -> String {
    let mut settings = json!({"max_retries": 0});
    if let Some(p) = provider {
        settings["provider"] = json!(p);
    }
    backend_config(upstream_url, settings, true)
}

/// The delay Codex would parse: `(?i)try again in\s*(\d+(?:\.\d+)?)\s*(s|ms|seconds?)`.
fn codex_delay_secs(message: &str) -> Option<f64> {
    let lower = message.to_ascii_lowercase();
    let rest = lower[lower.find("try again in")? + "try again in".len()..].trim_start();
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value: f64 = number.parse().ok()?;
    let unit = rest[number.len()..].trim_start();
    if unit.starts_with("ms") {
        Some(value / 1000.0)
    } else if unit.starts_with('s') {
        Some(value)
    } else {
        None
    }
}

/// The outcome of one streamed request.
struct Streamed {
    events: Vec<(String, Value)>,
    raw: String,
}

impl Streamed {
    fn types(&self) -> Vec<String> {
        event_types(&self.events)
    }

    fn text(&self) -> String {
        self.events
            .iter()
            .filter(|(_, v)| v["type"] == "response.output_text.delta")
            .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Checks the lifecycle invariants and returns the terminal event's `response`.
    fn terminal(&self) -> &Value {
        let types = self.types();
        assert_eq!(
            types.first().map(String::as_str),
            Some("response.created"),
            "{types:?}"
        );
        let terminals: Vec<&String> = types
            .iter()
            .filter(|t| {
                [
                    "response.completed",
                    "response.failed",
                    "response.incomplete",
                ]
                .contains(&t.as_str())
            })
            .collect();
        assert_eq!(terminals.len(), 1, "exactly one terminal event: {types:?}");
        assert!(
            types.last() == terminals.first().copied(),
            "terminal event is last: {types:?}"
        );
        &self.events.last().unwrap().1["response"]
    }

    /// Asserts a `response.failed` with `code` and returns its message.
    fn failed(&self, code: &str) -> String {
        let response = self.terminal();
        let types = self.types();
        assert_eq!(types.last().unwrap(), "response.failed", "{types:?}");
        assert!(
            !types.iter().any(|t| t == "response.completed"),
            "{types:?}"
        );
        assert_eq!(response["status"], "failed");
        assert_eq!(response["error"]["code"], code, "{}", response["error"]);
        let message = response["error"]["message"].as_str().unwrap().to_owned();
        assert!(!message.is_empty());
        message
    }
}

async fn stream(app: &App) -> Streamed {
    let resp = post_json(&app.url("/v1/responses"), &body(true), Some(CLIENT_KEY)).await;
    assert_eq!(resp.status(), 200, "streaming requests always get 200");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let raw = resp.text().await.unwrap();
    assert_no_keys(&raw);
    Streamed {
        events: parse_sse(&raw),
        raw,
    }
}

/// A non-streaming request: returns (status, error object, Retry-After header).
async fn json_error(app: &App) -> (u16, Value, Option<String>) {
    let resp = post_json(&app.url("/v1/responses"), &body(false), Some(CLIENT_KEY)).await;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    assert_no_keys(&text);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    let err = v["error"].clone();
    for field in ["message", "type", "code"] {
        assert!(
            err[field].as_str().is_some_and(|s| !s.is_empty()),
            "error.{field} in {v}"
        );
    }
    assert!(
        err.get("param").is_some(),
        "error.param present (null) in {v}"
    );
    (status, err, retry_after)
}

/// Some content, then the in-band payload (and the `[DONE]` the mock appends, never reached).
fn content_then(payload: &Value) -> Reply {
    Reply::sse_json([
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Partial "}), None),
        chunk(json!({"content": "answer"}), None),
        payload.clone(),
    ])
    .into()
}

/// One row of the table.
struct Row {
    name: &'static str,
    /// The backend's `provider` (profile), if set.
    provider: Option<&'static str>,
    /// The upstream's HTTP error answer (before the first byte).
    reply: Reply,
    /// Non-streaming status for `reply`.
    status: u16,
    /// A payload with the same meaning sent in-band after some content.
    in_band: Value,
    /// Non-streaming status when `in_band` is the whole (HTTP 200) answer.
    in_band_status: u16,
    code: &'static str,
    /// Text every message must contain.
    says: Vec<String>,
}

/// Runs the four checks of a row against one app.
async fn check(row: Row) {
    let name = row.name;
    // Provider profiles add their own documented fields (Qwen `enable_thinking`, …).
    let rules =
        Strictness::default().allow_fields(["enable_thinking", "thinking", "reasoning_split"]);
    let upstream = MockUpstream::start(rules).await;
    let app = start(&config_for(&upstream.url(), row.provider)).await;
    let says = |message: &str, point: &str| {
        assert!(
            message.contains("`main`"),
            "{name} ({point}) names the backend: {message}"
        );
        for s in &row.says {
            assert!(
                message.contains(s),
                "{name} ({point}): {message:?} should contain {s:?}"
            );
        }
    };

    upstream.push(row.reply.clone());
    let s = stream(&app).await;
    let message = s.failed(row.code);
    says(&message, "stream, before first byte");
    assert_eq!(s.text(), "", "{name}: no content before the failure");

    upstream.push(row.reply.clone());
    let (status, err, _) = json_error(&app).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (row.status, row.code),
        "{name}: {err}"
    );
    says(err["message"].as_str().unwrap(), "json, HTTP error");

    upstream.push(content_then(&row.in_band));
    let s = stream(&app).await;
    let message = s.failed(row.code);
    says(&message, "stream, mid-stream in-band");
    assert_eq!(
        s.text(),
        "Partial answer",
        "{name}: content before the failure was streamed"
    );

    upstream.push(Reply::json(200, row.in_band.clone()));
    let (status, err, _) = json_error(&app).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (row.in_band_status, row.code),
        "{name}: {err}"
    );
    says(err["message"].as_str().unwrap(), "json, in-band");

    assert_eq!(upstream.chat_requests().len(), 4, "{name}: no retries");
    upstream.assert_no_violations();
}

fn err(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_with_retry_after_header() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let reply = || {
        Reply::error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached for requests",
        )
        .with_header("Retry-After", "7")
    };

    upstream.push(reply());
    let message = stream(&app).await.failed("rate_limit_exceeded");
    assert_eq!(codex_delay_secs(&message), Some(7.0), "{message}");
    assert!(message.contains("`main`"), "{message}");

    upstream.push(reply());
    let (status, error, retry_after) = json_error(&app).await;
    assert_eq!(
        (status, error["code"].as_str().unwrap()),
        (429, "rate_limit_exceeded")
    );
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(
        codex_delay_secs(error["message"].as_str().unwrap()),
        Some(7.0),
        "{error}"
    );
    assert_eq!(retry_after.as_deref(), Some("7"), "Retry-After passed on");

    // Mid-stream there is no header: the delay comes from the payload's message.
    upstream.push(content_then(&err(
        "rate_limit_exceeded",
        "Rate limit reached. Please try again in 3s.",
    )));
    let s = stream(&app).await;
    let message = s.failed("rate_limit_exceeded");
    assert_eq!(s.text(), "Partial answer");
    assert_eq!(codex_delay_secs(&message), Some(3.0), "{message}");
    assert_eq!(
        message.to_lowercase().matches("try again in").count(),
        1,
        "{message}"
    );
    upstream.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_delay_from_body() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let reply = || {
        Reply::error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached. Please try again in 12s.",
        )
    };
    upstream.push(reply());
    let message = stream(&app).await.failed("rate_limit_exceeded");
    assert_eq!(codex_delay_secs(&message), Some(12.0), "{message}");
    assert_eq!(
        message.to_lowercase().matches("try again in").count(),
        1,
        "one delay only: {message}"
    );
    upstream.push(reply());
    let (status, err, retry_after) = json_error(&app).await;
    assert_eq!(status, 429);
    assert_eq!(
        codex_delay_secs(err["message"].as_str().unwrap()),
        Some(12.0),
        "{err}"
    );
    assert_eq!(retry_after.as_deref(), Some("12"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_default_delay() {
    let default = ccp_gateway::error::DEFAULT_RETRY_AFTER_SECS as f64;
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    upstream.push(Reply::error(429, "", "Too many requests"));
    let message = stream(&app).await.failed("rate_limit_exceeded");
    assert_eq!(codex_delay_secs(&message), Some(default), "{message}");
    // GLM concurrency (1302) and an OpenRouter-style numeric code, mid-stream.
    for payload in [
        err("1302", "并发数过高，请降低并发"),
        json!({"error": {"code": 429, "message": "Too many requests"}}),
    ] {
        upstream.push(content_then(&payload));
        let s = stream(&app).await;
        let message = s.failed("rate_limit_exceeded");
        assert_eq!(
            codex_delay_secs(&message),
            Some(default),
            "{payload}: {message}"
        );
        assert_eq!(s.text(), "Partial answer");
    }
    upstream.push(Reply::error(429, "", "Too many requests"));
    let (status, err, retry_after) = json_error(&app).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (429, "rate_limit_exceeded")
    );
    assert_eq!(retry_after, Some(format!("{}", default as u64)));
}

/// Provider error forms, one per line: `name | provider profile (- for none) | upstream HTTP
/// status | body`.
fn forms(table: &'static str) -> Vec<(&'static str, Option<&'static str>, u16, Value)> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&'static str> = line.splitn(4, " | ").collect();
            let provider = Some(cols[1]).filter(|p| *p != "-");
            (
                cols[0],
                provider,
                cols[2].parse().unwrap(),
                serde_json::from_str(cols[3]).unwrap(),
            )
        })
        .collect()
}

/// The provider's own words in an error body, which every message must quote.
fn provider_message(payload: &Value) -> String {
    let err = payload
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(payload);
    let text = err["message"]
        .as_str()
        .or(payload["base_resp"]["status_msg"].as_str())
        .unwrap();
    text.trim_end_matches('.').to_owned()
}

/// Checks every form of one row: each maps to `code`, with `status` for the HTTP answer.
async fn check_forms(table: &'static str, status: u16, code: &'static str) {
    for (name, provider, upstream_status, payload) in forms(table) {
        check(Row {
            name,
            provider,
            reply: Reply::json(upstream_status, payload.clone()),
            status,
            says: vec![provider_message(&payload)],
            in_band: payload,
            in_band_status: status,
            code,
        })
        .await;
    }
}

const CONTEXT_FORMS: &str = r#"
openai | openai | 400 | {"error": {"message": "This model's maximum context length is 131072 tokens. However, you requested 140000 tokens.", "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}}
deepseek | deepseek | 400 | {"error": {"message": "This model's maximum context length is 131072 tokens. However, you requested 140000 tokens (140000 in the messages, 0 in the completion).", "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}}
vllm | vllm | 400 | {"error": {"message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens", "type": "BadRequestError", "param": null, "code": 400}}
vllm legacy | vllm | 400 | {"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens", "type": "BadRequestError", "param": null, "code": 400}
kimi | kimi | 400 | {"error": {"type": "invalid_request_error", "message": "Invalid request: Your request exceeded model token limit: 262144"}}
glm 1261 | glm | 400 | {"error": {"code": "1261", "message": "Prompt 超过最大长度"}}
dashscope | qwen | 400 | {"error": {"code": "InvalidParameter", "message": "Range of input length should be [1, 129024]", "type": "invalid_request_error"}}
openrouter | openrouter | 400 | {"error": {"code": 400, "message": "This endpoint's maximum context length is 163840 tokens. However, you requested about 170000 tokens."}}
llama.cpp | llamacpp | 400 | {"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}
anthropic-style (generic) | - | 400 | {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}
kimi-style message (generic) | - | 400 | {"error": {"type": "invalid_request_error", "message": "Invalid request: Your request exceeded model token limit: 262144"}}
glm 1261 (generic) | - | 400 | {"error": {"code": "1261", "message": "Prompt 超过最大长度"}}
413 request_too_large (generic) | - | 413 | {"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_overflow_in_each_provider_form() {
    check_forms(CONTEXT_FORMS, 400, "context_length_exceeded").await;
}

const QUOTA_FORMS: &str = r#"
deepseek 402 | deepseek | 402 | {"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": null, "code": "invalid_request_error"}}
kimi 403 | kimi | 403 | {"error": {"message": "Your account is suspended, please check your plan and billing details", "type": "exceeded_current_quota_error"}}
glm 1113 (HTTP 429) | glm | 429 | {"error": {"code": "1113", "message": "您的账户已欠费，请充值后重试。"}}
openrouter 402 | openrouter | 402 | {"error": {"code": 402, "message": "Insufficient credits. Add more using https://openrouter.ai/credits"}}
dashscope arrearage | qwen | 403 | {"error": {"code": "Arrearage", "message": "Access denied, please make sure your account is in good standing."}}
minimax 1008 | minimax | 200 | {"id": "x", "choices": [], "base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}
openai insufficient_quota | openai | 429 | {"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}
deepseek 402 (generic) | - | 402 | {"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": null, "code": "invalid_request_error"}}
kimi 403 (generic) | - | 403 | {"error": {"message": "Your account is suspended, please check your plan and billing details", "type": "exceeded_current_quota_error"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_and_quota_exhausted_in_each_provider_form() {
    check_forms(QUOTA_FORMS, 429, "insufficient_quota").await;
}

/// Error payloads that are not `{"error":…}`: vLLM's legacy `{"object":"error",…}` and MiniMax's
/// `base_resp`. Both are mapped as HTTP error bodies and mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_error_and_base_resp_payloads() {
    let vllm = json!({"object": "error", "message": "This model's maximum context length is 4096 tokens", "type": "BadRequestError", "code": 400});
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    upstream.push(Reply::json(400, vllm.clone()));
    stream(&app).await.failed("context_length_exceeded");
    upstream.push(content_then(&vllm));
    stream(&app).await.failed("context_length_exceeded");
    for (status_code, code) in [
        (1008, "insufficient_quota"),
        (1026, "invalid_prompt"),
        (1002, "rate_limit_exceeded"),
    ] {
        let payload = json!({"id": "x", "choices": [], "base_resp": {"status_code": status_code, "status_msg": "minimax says no"}});
        upstream.push(content_then(&payload));
        let s = stream(&app).await;
        assert!(s.failed(code).contains("minimax says no"), "{}", s.raw);
        assert_eq!(s.text(), "Partial answer");
    }
    upstream.assert_no_violations();
}

/// MiniMax answers HTTP 200 with only `base_resp` when it refuses a request, old vLLM with
/// `{"object":"error"}`: such an answer is the error it carries, not a truncated answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_only_json_answers_are_mapped() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let forms = [
        (
            json!({"id": "x", "choices": [], "base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}),
            429,
            "insufficient_quota",
        ),
        (
            json!({"object": "error", "message": "maximum context length is 4096 tokens", "code": 400}),
            400,
            "context_length_exceeded",
        ),
    ];
    for (payload, status, code) in forms {
        upstream.push(Reply::json(200, payload.clone()));
        let (got, err, _) = json_error(&app).await;
        assert_eq!(
            (got, err["code"].as_str().unwrap()),
            (status, code),
            "{payload}: {err}"
        );
        upstream.push(Reply::json(200, payload));
        stream(&app).await.failed(code);
    }
}

const OVERLOAD_FORMS: &str = r#"
deepseek 503 | deepseek | 503 | {"error": {"message": "Server overloaded, please try again later", "type": "server_error"}}
glm 1312 | glm | 429 | {"error": {"code": "1312", "message": "该模型当前访问量过大，请您稍后再试"}}
kimi engine overloaded | kimi | 429 | {"error": {"type": "engine_overloaded_error", "message": "The engine is currently overloaded, please try again later"}}
anthropic-style 529 (generic) | - | 529 | {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
503 with a numeric code (generic) | - | 503 | {"error": {"code": 503, "message": "Service temporarily unavailable"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_in_each_provider_form() {
    check_forms(OVERLOAD_FORMS, 503, "server_is_overloaded").await;
}

const SAFETY_FORMS: &str = r#"
glm 1301 | glm | 400 | {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}, "contentFilter": [{"level": 1, "role": "user"}]}
kimi content_filter | kimi | 400 | {"error": {"type": "content_filter", "message": "The request was rejected because it was considered high risk"}}
dashscope | qwen | 400 | {"error": {"code": "DataInspectionFailed", "message": "Input data may contain inappropriate content."}}
minimax 1026 | minimax | 200 | {"id": "x", "choices": [], "base_resp": {"status_code": 1026, "status_msg": "input new_sensitive"}}
openrouter moderation | openrouter | 403 | {"error": {"code": 403, "message": "Input was flagged by moderation", "metadata": {"reasons": ["violence"]}}}
glm 1301 (generic) | - | 400 | {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_refusal_in_each_provider_form() {
    check_forms(SAFETY_FORMS, 400, "invalid_prompt").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_key_rejected() {
    let echo = format!("Incorrect API key provided: {UPSTREAM_KEY}. You can find your API key at https://example.invalid");
    let forms: [(&str, Reply, Value); 2] = [
        (
            "401",
            Reply::error(401, "invalid_api_key", &echo),
            json!({"error": {"code": 401, "message": echo}}),
        ),
        (
            "403 permission",
            Reply::json(
                403,
                json!({"type": "error", "error": {"type": "permission_error", "message": format!("key {UPSTREAM_KEY} may not use this model")}}),
            ),
            json!({"error": {"type": "authentication_error", "message": echo}}),
        ),
    ];
    for (name, reply, in_band) in forms {
        check(Row {
            name,
            provider: None,
            reply,
            status: 401,
            in_band,
            in_band_status: 401,
            code: "invalid_api_key",
            says: vec!["rejected the API key".into()],
        })
        .await;
    }
    // The upstream's own words (which quote the key) are never passed on.
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    upstream.push(Reply::error(401, "invalid_api_key", &echo));
    let (_, err, _) = json_error(&app).await;
    let message = err["message"].as_str().unwrap();
    assert!(
        !message.contains("Incorrect API key provided") && !message.contains("sk-upstream"),
        "{message}"
    );
    assert_eq!(err["type"], "authentication_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors() {
    check(Row {
        name: "400 invalid parameter",
        provider: None,
        reply: Reply::error(
            400,
            "invalid_parameter",
            &format!("tool_choice is not supported (key {UPSTREAM_KEY})"),
        ),
        status: 400,
        in_band: json!({"error": {"code": 400, "message": "tool_choice is not supported"}}),
        in_band_status: 400,
        code: "invalid_prompt",
        says: vec![
            "rejected the request".into(),
            "tool_choice is not supported".into(),
        ],
    })
    .await;
    check(Row {
        name: "422 deepseek",
        provider: None,
        reply: Reply::error(
            422,
            "invalid_request_error",
            "Invalid parameters: temperature",
        ),
        status: 422,
        in_band: json!({"error": {"code": 422, "message": "Invalid parameters: temperature"}}),
        in_band_status: 422,
        code: "invalid_prompt",
        says: vec!["Invalid parameters".into()],
    })
    .await;
    check(Row {
        name: "404 model",
        provider: None,
        reply: Reply::error(404, "model_not_found", "The model `upstream-model` does not exist"),
        status: 404,
        in_band: json!({"error": {"code": 404, "message": "The model `upstream-model` does not exist"}}),
        in_band_status: 404,
        code: "invalid_request_error",
        says: vec!["does not exist".into()],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors() {
    check(Row {
        name: "500 json",
        provider: None,
        reply: Reply::error(
            500,
            "server_error",
            "The server had an error while processing your request",
        ),
        status: 502,
        in_band: json!({"error": {"message": "internal error", "type": "server_error"}}),
        in_band_status: 502,
        code: "server_error",
        says: vec!["upstream error".into()],
    })
    .await;
    check(Row {
        name: "502 html",
        provider: None,
        reply: Reply::raw(
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        status: 502,
        in_band: json!({"error": "upstream exploded"}),
        in_band_status: 502,
        code: "server_error",
        says: vec!["upstream error".into()],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_upstream_event() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    // The very first event is garbage: headers were 200, so it is a failed stream.
    upstream.push(Reply::sse(["{\"id\": oops"]));
    let s = stream(&app).await;
    assert!(
        s.failed("server_error").contains("invalid response"),
        "{}",
        s.raw
    );
    // Garbage after some content.
    let script = Reply::sse_json([
        chunk(json!({"role": "assistant", "content": "Partial "}), None),
        chunk(json!({"content": "answer"}), None),
    ])
    .data("this is not json");
    upstream.push(script);
    let s = stream(&app).await;
    let message = s.failed("server_error");
    assert!(
        message.contains("invalid response") && message.contains("`main`"),
        "{message}"
    );
    assert_eq!(s.text(), "Partial answer");
    // A non-streaming answer that is not a chat completion.
    upstream.push(Reply::raw(200, "application/json", "{\"choices\": [oops"));
    let (status, err, _) = json_error(&app).await;
    assert_eq!(
        (status, err["code"].as_str().unwrap()),
        (502, "server_error")
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("invalid response"),
        "{err}"
    );
    upstream.assert_no_violations();
}

/// A finished stream whose last choice chunk carries `finish_reason`.
fn finished_with(reason: &str) -> Reply {
    Reply::sse_json([
        chunk(json!({"role": "assistant", "content": "Some "}), None),
        chunk(json!({"content": "text"}), None),
        chunk(json!({}), Some(reason)),
        usage_chunk(2),
    ])
    .into()
}

fn completion_with(reason: &str) -> Reply {
    Reply::json(
        200,
        json!({
            "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Some text"}, "finish_reason": reason}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_reasons() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let cut = [
        ("length", "max_output_tokens"),
        ("model_context_window_exceeded", "max_output_tokens"),
        ("content_filter", "content_filter"),
        ("sensitive", "content_filter"),
    ];
    for (reason, incomplete) in cut {
        upstream.push(finished_with(reason));
        let s = stream(&app).await;
        let response = s.terminal();
        assert_eq!(s.types().last().unwrap(), "response.completed", "{reason}");
        assert_eq!(response["status"], "incomplete", "{reason}");
        assert_eq!(
            response["incomplete_details"]["reason"], incomplete,
            "{reason}"
        );
        assert_eq!(s.text(), "Some text");
        assert_eq!(response["usage"]["output_tokens"], 2);

        upstream.push(completion_with(reason));
        let resp = post_json(&app.url("/v1/responses"), &body(false), Some(CLIENT_KEY)).await;
        assert_eq!(resp.status(), 200, "{reason}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["status"], "incomplete", "{reason}");
        assert_eq!(v["incomplete_details"]["reason"], incomplete, "{reason}");
    }
    for reason in ["network_error", "insufficient_system_resource"] {
        upstream.push(finished_with(reason));
        let s = stream(&app).await;
        let message = s.failed("server_error");
        assert!(message.contains(reason), "{message}");
        assert_eq!(s.text(), "Some text");

        upstream.push(completion_with(reason));
        let (status, err, _) = json_error(&app).await;
        assert_eq!(
            (status, err["code"].as_str().unwrap()),
            (502, "server_error"),
            "{reason}: {err}"
        );
    }
    upstream.assert_no_violations();
}

/// Every error body of this file went through `assert_no_keys`; this checks the scan itself
/// would catch a leak (an upstream 400 that quotes the key verbatim).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scan_catches_echoed_keys() {
    let upstream = MockUpstream::strict().await;
    let app = start(&config(&upstream.url())).await;
    let quoting = format!(
        "bad request from {UPSTREAM_KEY} with client {CLIENT_KEY} header Bearer {UPSTREAM_KEY}"
    );
    upstream.push(Reply::error(400, "invalid_request_error", &quoting));
    let (_, error, _) = json_error(&app).await;
    assert!(
        error["message"].as_str().unwrap().contains("[REDACTED]"),
        "{error}"
    );
    upstream.push(content_then(&err("server_error", &quoting)));
    let s = stream(&app).await;
    assert!(s.failed("server_error").contains("[REDACTED]"));
    let leak = std::panic::catch_unwind(|| assert_no_keys(&quoting));
    assert!(leak.is_err(), "the scan must reject text that holds a key");
}
