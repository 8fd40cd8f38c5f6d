//! Top-level mapping tests; item-by-item rules are tested in `history` and `content`.

use super::*;
use ccp_types::chat::{ChatContent, ReasoningReplay};
use serde_json::json;

fn convert(body: Value) -> ConvertedRequest {
    convert_json(body).unwrap()
}

fn wire(chat: &ChatRequest) -> Value {
    serde_json::to_value(chat).unwrap()
}

#[test]
fn plain_string_input_is_one_user_message() {
    let c = convert(json!({"model":"gpt","input":"hello"}));
    assert_eq!(
        wire(&c.chat),
        json!({"model":"m","messages":[{"role":"user","content":"hello"}],"stream":false})
    );
}

#[test]
fn instructions_come_first_as_system() {
    let c = convert(json!({
        "model":"gpt","instructions":"be brief",
        "input":[{"type":"message","role":"developer","content":"dev"},{"role":"user","content":"hi"}]
    }));
    let msgs = wire(&c.chat)["messages"].clone();
    assert_eq!(
        msgs,
        json!([
            {"role":"system","content":"be brief"},
            {"role":"system","content":"dev"},
            {"role":"user","content":"hi"}
        ])
    );
}

#[test]
fn no_message_at_all_is_an_error_naming_input() {
    for body in [
        json!({"model":"x"}),
        json!({"model":"x","input":[]}),
        json!({"model":"x","input":""}),
    ] {
        let err = convert_json(body).unwrap_err();
        assert_eq!(
            err,
            ConvertError::InvalidRequest {
                path: "input".into(),
                message: "must contain at least one message".into()
            }
        );
    }
    let err = convert_json(json!({"model":"x","input":[
        {"type":"function_call_output","call_id":"call_prev","output":"x"},
        {"type":"web_search_call","id":"ws"}
    ]}))
    .unwrap_err();
    let ConvertError::InvalidRequest { path, message } = err;
    assert_eq!(path, "input");
    assert!(
        message.starts_with("must contain at least one message; all 2 input items were skipped"),
        "{message}"
    );
    // Instructions alone are enough.
    assert!(convert_json(json!({"model":"x","instructions":"sys","input":[]})).is_ok());
}

#[test]
fn sampling_and_limits_map_to_chat_fields() {
    let c = convert(json!({
        "model":"gpt","input":"hi",
        "max_output_tokens":1234,"temperature":0.5,"top_p":0.9,"user":"u-1","stop":["END"],
        "reasoning":{"effort":"high","summary":"auto"}
    }));
    assert_eq!(c.chat.max_tokens, Some(1234));
    assert_eq!(c.chat.max_completion_tokens, None);
    assert_eq!(c.chat.temperature, Some(0.5));
    assert_eq!(c.chat.top_p, Some(0.9));
    assert_eq!(c.chat.user.as_deref(), Some("u-1"));
    assert_eq!(c.chat.stop, Some(json!(["END"])));
    assert_eq!(c.chat.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(c.chat.model, "m");

    let c = convert(json!({"model":"gpt","input":"hi","reasoning":{"summary":"auto"},"stop":42}));
    assert_eq!(c.chat.reasoning_effort, None);
    assert_eq!(c.chat.stop, None);
}

#[test]
fn streaming_asks_for_usage() {
    let bytes = serde_json::to_vec(&json!({"model":"x","input":"hi"})).unwrap();
    let req = ccp_types::responses::parse_request(&bytes).unwrap();
    let opts = RequestOptions {
        upstream_model: "up".into(),
        stream: true,
    };
    let chat = responses_request_to_chat(&req, &opts).unwrap().chat;
    assert_eq!(chat.stream, Some(true));
    assert_eq!(chat.stream_options, Some(json!({"include_usage": true})));
    assert_eq!(chat.model, "up");
    let chat = convert(json!({"model":"x","input":"hi","stream":true})).chat;
    assert_eq!(
        chat.stream,
        Some(false),
        "the option decides, not the client's stream flag"
    );
    assert_eq!(chat.stream_options, None);
}

#[test]
fn responses_only_fields_never_leak() {
    let c = convert(json!({
        "model":"glm-4.6","stream":true,"input":"hi",
        "tools":[{"type":"function","name":"f","strict":false,"parameters":{"type":"object","properties":{}}}],
        "tool_choice":"auto","parallel_tool_calls":true,
        "reasoning":{"summary":"auto","context":"all_turns"},"store":false,
        "include":["reasoning.encrypted_content"],"prompt_cache_key":"thread-1",
        "text":{"verbosity":"low"},"client_metadata":{"session_id":"s"},
        "previous_response_id":"resp_0","truncation":"auto","metadata":{"k":"v"},
        "service_tier":"flex","stream_options":{"reasoning_summary_delivery":"sequential_cutoff"},
        "generate":false,"instructions":""
    }));
    let v = wire(&c.chat);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "messages",
            "model",
            "parallel_tool_calls",
            "stream",
            "tool_choice",
            "tools"
        ]
    );
    assert!(c.chat.extra.is_empty());
    assert!(!v.to_string().contains("developer"));
}

#[test]
fn tool_choice_and_parallel_calls_are_dropped_without_tools() {
    for tools in [
        json!([]),
        json!([{"type":"web_search"},{"type":"image_generation"}]),
    ] {
        let c = convert(json!({
            "model":"x","input":"hi","tools":tools,"tool_choice":"required","parallel_tool_calls":true
        }));
        assert_eq!(c.chat.tools, None);
        assert_eq!(c.chat.tool_choice, None);
        assert_eq!(c.chat.parallel_tool_calls, None);
        assert!(c.tools.by_upstream_name.is_empty());
    }
}

#[test]
fn tool_choice_names_the_upstream_function() {
    let c = convert(json!({
        "model":"x","input":"hi",
        "tools":[{"type":"namespace","name":"ns","tools":[{"type":"function","name":"f"}]}],
        "tool_choice":{"type":"function","name":"f","namespace":"ns"},"parallel_tool_calls":false
    }));
    assert_eq!(
        c.chat.tool_choice,
        Some(json!({"type":"function","function":{"name":"ns__f"}}))
    );
    assert_eq!(c.chat.parallel_tool_calls, Some(false));
    let c = convert(json!({
        "model":"x","input":"hi","tools":[{"type":"function","name":"f"}],
        "tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}
    }));
    assert_eq!(c.chat.tool_choice, Some(json!("auto")));
}

#[test]
fn text_format_becomes_response_format() {
    let schema = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]});
    let c = convert(json!({
        "model":"x","input":"hi",
        "text":{"format":{"type":"json_schema","strict":true,"schema":schema,"name":"codex_output_schema"}}
    }));
    assert_eq!(
        c.chat.response_format,
        Some(
            json!({"type":"json_schema","json_schema":{"name":"codex_output_schema","schema":schema,"strict":true}})
        )
    );
    let c = convert(json!({"model":"x","input":"hi","text":{"format":{"type":"json_object"}}}));
    assert_eq!(c.chat.response_format, Some(json!({"type":"json_object"})));
    let c = convert(
        json!({"model":"x","input":"hi","text":{"format":{"type":"text"},"verbosity":"low"}}),
    );
    assert_eq!(c.chat.response_format, None);
}

#[test]
fn default_reasoning_field_moves_text_into_reasoning_content() {
    let mut c = convert(json!({"model":"x","input":[
        {"role":"user","content":"q"},
        {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"think"}],
         "encrypted_content":"ccp:v1:{\"k\":1}"},
        {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
        {"type":"function_call_output","call_id":"c1","output":"ok"},
        {"type":"reasoning","summary":[],"encrypted_content":"ccp:v1:[1]"},
        {"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}]}
    ]}));
    assert_eq!(
        c.chat.messages[1].reasoning,
        Some(ReasoningReplay {
            text: "think".into(),
            opaque: Some(json!({"k":1}))
        })
    );
    // Not serialized before the provider step decides the field.
    assert!(!wire(&c.chat).to_string().contains("think"));
    apply_default_reasoning_field(&mut c.chat);
    assert_eq!(c.chat.messages[1].reasoning, None);
    assert_eq!(
        c.chat.messages[1].extra.get(DEFAULT_REASONING_FIELD),
        Some(&json!("think"))
    );
    assert_eq!(
        wire(&c.chat)["messages"][1]["reasoning_content"],
        json!("think")
    );
    // Opaque-only reasoning has no generic field.
    assert!(c.chat.messages[3].extra.is_empty());
    assert_eq!(
        c.chat.messages[3].content,
        Some(ChatContent::Text("done".into()))
    );
}
