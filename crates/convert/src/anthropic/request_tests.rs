use super::*;
use crate::anthropic::encode_thinking_blocks;
use serde_json::json;

fn convert_with(body: Value, prompt_cache: bool) -> MessagesRequest {
    let req = ccp_types::responses::parse_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    responses_request_to_messages(
        &req,
        &MessagesOptions {
            upstream_model: "claude-x".into(),
            stream: true,
            default_max_tokens: 8192,
            prompt_cache,
        },
    )
    .unwrap()
    .request
}

fn convert(body: Value) -> MessagesRequest {
    convert_with(body, false)
}

fn user(text: &str) -> Value {
    json!({"type":"message","role":"user","content":[{"type":"input_text","text":text}]})
}

fn call(id: &str, name: &str, args: &str) -> Value {
    json!({"type":"function_call","call_id":id,"name":name,"arguments":args})
}

fn output(id: &str, out: &str) -> Value {
    json!({"type":"function_call_output","call_id":id,"output":out})
}

fn thinking_item(text: &str, signature: &str) -> Value {
    let blob = encode_thinking_blocks(&[ContentBlock::Thinking {
        thinking: text.into(),
        signature: signature.into(),
    }]);
    json!({"type":"reasoning","summary":[{"type":"summary_text","text":text}],"encrypted_content":blob})
}

#[test]
fn system_turns_tool_use_and_results_alternate() {
    let req = convert(json!({
        "model": "m", "instructions": "be brief",
        "input": [
            {"type":"message","role":"developer","content":[{"type":"input_text","text":"perms"}]},
            user("go"), user("now"),
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
            call("call_1", "exec_command", r#"{"cmd":"ls"}"#),
            call("call_2", "exec_command", "not json"),
            output("call_2", "b"), output("call_1", "a"), output("orphan", "x"),
            {"type":"message","role":"developer","content":"late note"},
        ]
    }));
    let wire = serde_json::to_value(&req).unwrap();
    assert_eq!(
        wire["system"],
        json!([{"type":"text","text":"be brief"},{"type":"text","text":"perms"}])
    );
    assert_eq!(
        wire["messages"],
        json!([
            {"role":"user","content":[{"type":"text","text":"go"},{"type":"text","text":"now"}]},
            {"role":"assistant","content":[
                {"type":"text","text":"Checking."},
                {"type":"tool_use","id":"call_1","name":"exec_command","input":{"cmd":"ls"}},
                {"type":"tool_use","id":"call_2","name":"exec_command","input":{}}]},
            {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"b"}]},
                {"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"a"}]},
                {"type":"text","text":"late note"}]}
        ])
    );
    assert_eq!(wire["max_tokens"], json!(8192));
    assert_eq!(wire["stream"], json!(true));
}

#[test]
fn blank_user_text_and_empty_outputs_send_no_empty_blocks() {
    let req = convert(json!({"model":"m","input":[user("go"), user("  \n"),
        call("c1","f","{}"), output("c1","")]}));
    assert_eq!(
        serde_json::to_value(&req.messages).unwrap(),
        json!([
            {"role":"user","content":[{"type":"text","text":"go"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"c1"}]}
        ])
    );
}

#[test]
fn unanswered_calls_get_aborted_results_before_the_next_user_text() {
    let req = convert(json!({"model":"m","input":[user("go"), call("c1","f","{}"), user("stop")]}));
    let wire = serde_json::to_value(&req.messages).unwrap();
    assert_eq!(
        wire[2],
        json!({"role":"user","content":[
            {"type":"tool_result","tool_use_id":"c1","content":[{"type":"text","text":"aborted"}]},
            {"type":"text","text":"stop"}]})
    );
}

#[test]
fn thinking_is_replayed_byte_identical_at_the_start_of_the_tool_turn() {
    let text = "I should list files. \"quotes\" and \\ backslash ✓";
    let sig = "EqQBCkYIBxgCKkDsig+/==";
    let req = convert(json!({
        "model":"m", "reasoning": {"effort":"medium"},
        "input":[user("go"), thinking_item(text, sig), call("c1","f","{}"), output("c1","ok")]
    }));
    assert_eq!(
        req.messages[1].content[0],
        ContentBlock::Thinking {
            thinking: text.into(),
            signature: sig.into()
        }
    );
    assert!(matches!(
        req.messages[1].content[1],
        ContentBlock::ToolUse { .. }
    ));
    assert_eq!(
        req.thinking,
        Some(Thinking::Enabled {
            budget_tokens: 7168
        })
    );
}

#[test]
fn thinking_is_disabled_when_the_tool_turn_lost_its_blocks() {
    let req = convert(json!({
        "model":"m", "reasoning": {"effort":"high"}, "temperature": 1.7,
        "input":[user("go"),
            {"type":"reasoning","summary":[],"encrypted_content":"gAAAA-openai"},
            call("c1","f","{}"), output("c1","ok")]
    }));
    assert_eq!(req.thinking, None);
    assert_eq!(req.temperature, Some(1.0));
    let with_thinking = convert(
        json!({"model":"m","reasoning":{"effort":"low"},"temperature":0.5,
        "input":[user("go")]}),
    );
    assert_eq!(
        with_thinking.thinking,
        Some(Thinking::Enabled {
            budget_tokens: 2048
        })
    );
    assert_eq!(with_thinking.temperature, None);
}

#[test]
fn tools_keep_chat_names_and_tool_choice_maps() {
    let req = convert(json!({
        "model":"m", "tool_choice":"required", "parallel_tool_calls": false,
        "tools":[
            {"type":"function","name":"exec_command","parameters":{"type":"object","properties":{}}},
            {"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
            {"type":"namespace","name":"mcp_fs","tools":[{"type":"function","name":"read"}]},
            {"type":"web_search"}
        ],
        "input":[user("go"),
            {"type":"custom_tool_call","call_id":"p1","name":"apply_patch","input":"*** Begin Patch\n"},
            {"type":"function_call","call_id":"n1","name":"read","namespace":"mcp_fs","arguments":"{\"path\":\"a\"}"},
            {"type":"custom_tool_call_output","call_id":"p1","output":"Done"},
            output("n1","text")]
    }));
    let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["exec_command", "apply_patch", "mcp_fs__read"]);
    assert_eq!(req.tools[1].input_schema["required"], json!(["input"]));
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Any {
            disable_parallel_tool_use: Some(true)
        })
    );
    assert_eq!(
        serde_json::to_value(&req.messages[1].content).unwrap(),
        json!([
            {"type":"tool_use","id":"p1","name":"apply_patch","input":{"input":"*** Begin Patch\n"}},
            {"type":"tool_use","id":"n1","name":"mcp_fs__read","input":{"path":"a"}}
        ])
    );
    let named = convert(
        json!({"model":"m","tool_choice":{"type":"function","name":"exec_command"},
        "tools":[{"type":"function","name":"exec_command"}],"input":"hi"}),
    );
    assert_eq!(
        named.tool_choice,
        Some(ToolChoice::Tool {
            name: "exec_command".into(),
            disable_parallel_tool_use: None
        })
    );
    let no_tools = convert(json!({"model":"m","tool_choice":"auto","input":"hi"}));
    assert_eq!(no_tools.tool_choice, None);
}

#[test]
fn images_become_base64_or_url_sources() {
    let req = convert(
        json!({"model":"m","input":[{"type":"message","role":"user","content":[
        {"type":"input_text","text":"see"},
        {"type":"input_image","image_url":"data:image/png;base64,iVBORw0K"},
        {"type":"input_image","image_url":"https://x/y.jpg"}]}]}),
    );
    assert_eq!(
        serde_json::to_value(&req.messages[0].content).unwrap(),
        json!([
            {"type":"text","text":"see"},
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
            {"type":"image","source":{"type":"url","url":"https://x/y.jpg"}}
        ])
    );
}

#[test]
fn cache_breakpoints_on_system_last_tool_and_history_end() {
    let body = json!({"model":"m","instructions":"sys",
        "tools":[{"type":"function","name":"a"},{"type":"function","name":"b"}],
        "input":[user("go"), call("c1","a","{}"), output("c1","ok")]});
    let req = convert_with(body.clone(), true);
    let wire = serde_json::to_value(&req).unwrap();
    let eph = json!({"type":"ephemeral"});
    assert_eq!(wire["system"][0]["cache_control"], eph);
    assert_eq!(wire["tools"][0].get("cache_control"), None);
    assert_eq!(wire["tools"][1]["cache_control"], eph);
    assert_eq!(wire["messages"][2]["content"][0]["cache_control"], eph);
    assert_eq!(wire.to_string().matches("ephemeral").count(), 3);
    let off = serde_json::to_value(convert_with(body, false)).unwrap();
    assert!(!off.to_string().contains("cache_control"));
}

#[test]
fn empty_input_is_an_error() {
    let req = ccp_types::responses::parse_request(br#"{"model":"m","input":[]}"#).unwrap();
    let err = responses_request_to_messages(
        &req,
        &MessagesOptions {
            upstream_model: "m".into(),
            stream: false,
            default_max_tokens: 1,
            prompt_cache: true,
        },
    );
    assert!(err.is_err());
}
