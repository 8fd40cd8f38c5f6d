//! A whole Responses `Response` object → one `chat.completion` (upstreams.md §3.5, "non-stream
//! Chat callers"): the message text as `content`, reasoning as `reasoning_content`, every call in
//! the one choice's `tool_calls` (custom calls as functions with `{"input": …}` arguments), the
//! finish reason mapped, usage in Chat names. A failed response is an error, not a completion.

use serde_json::{json, Map, Value};

use super::{finish_reason, responses_usage_to_chat, ChatContext};

/// Why a response could not become a completion: it failed upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedResponse {
    pub code: String,
    pub message: String,
}

/// Converts a finished `Response` object (as JSON) into a `chat.completion`.
pub fn response_to_chat_completion(
    response: &Value,
    ctx: &ChatContext,
) -> Result<Value, FailedResponse> {
    if response.get("status").and_then(Value::as_str) == Some("failed") {
        let error = response.get("error");
        let field = |k: &str, default: &str| {
            error
                .and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_owned()
        };
        return Err(FailedResponse {
            code: field("code", "server_error"),
            message: field("message", "the upstream response failed"),
        });
    }
    let mut content = String::new();
    let mut refusal = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let items = response.get("output").and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in parts(item, "content") {
                    match part.get("type").and_then(Value::as_str) {
                        Some("refusal") => push_text(&mut refusal, part.get("refusal")),
                        _ => push_text(&mut content, part.get("text")),
                    }
                }
            }
            Some("reasoning") => {
                for part in parts(item, "summary").chain(parts(item, "content")) {
                    if !reasoning.is_empty() {
                        reasoning.push_str("\n\n");
                    }
                    push_text(&mut reasoning, part.get("text"));
                }
            }
            Some("function_call") => calls.push(call(item, arg_text(item.get("arguments")))),
            Some("custom_tool_call") => {
                let input = item.get("input").cloned().unwrap_or_default();
                calls.push(call(item, json!({"input": input}).to_string()));
            }
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    let empty_with_calls = content.is_empty() && !calls.is_empty();
    message.insert(
        "content".into(),
        if empty_with_calls {
            Value::Null
        } else {
            content.into()
        },
    );
    message.insert(
        "refusal".into(),
        if refusal.is_empty() {
            Value::Null
        } else {
            refusal.into()
        },
    );
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), reasoning.into());
    }
    let reason = finish_reason(response, !calls.is_empty());
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let usage = response
        .get("usage")
        .filter(|u| !u.is_null())
        .map(responses_usage_to_chat)
        .unwrap_or_else(|| responses_usage_to_chat(&json!({})));
    Ok(json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": reason}],
        "usage": usage,
    }))
}

fn parts<'a>(item: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    item.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn push_text(out: &mut String, text: Option<&Value>) {
    if let Some(t) = text.and_then(Value::as_str) {
        out.push_str(t);
    }
}

fn arg_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "{}".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn call(item: &Value, arguments: String) -> Value {
    json!({
        "id": item.get("call_id").cloned().unwrap_or_default(),
        "type": "function",
        "function": {"name": item.get("name").cloned().unwrap_or_default(), "arguments": arguments},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ChatContext {
        ChatContext {
            id: "chatcmpl-x".into(),
            model: "client-model".into(),
            created: 5,
            include_usage: false,
        }
    }

    #[test]
    fn calls_and_reasoning_land_in_one_choice() {
        let resp = json!({
            "status": "completed",
            "output": [
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "a", "arguments": "{}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "b", "arguments": "{\"x\":1}"}
            ],
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 3, "total_tokens": 13}
        });
        let c = match response_to_chat_completion(&resp, &ctx()) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        };
        let choice = &c["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(choice["message"]["reasoning_content"], "think");
        assert_eq!(choice["message"]["tool_calls"][1]["id"], "call_2");
        assert_eq!(c["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
        assert_eq!(c["model"], "client-model");
        assert_eq!(c["object"], "chat.completion");
    }

    #[test]
    fn text_is_stop_and_a_failed_response_is_an_error() {
        let resp = json!({"status": "completed", "output": [{"type": "message", "content": [
            {"type": "output_text", "text": "Hel"}, {"type": "output_text", "text": "lo"}]}]});
        let c = response_to_chat_completion(&resp, &ctx()).unwrap_or_default();
        assert_eq!(c["choices"][0]["message"]["content"], "Hello");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        let failed = json!({"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}});
        assert_eq!(
            response_to_chat_completion(&failed, &ctx()),
            Err(FailedResponse {
                code: "rate_limit_exceeded".into(),
                message: "slow down".into()
            })
        );
    }
}
