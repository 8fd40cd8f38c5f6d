//! The real OpenAI Python SDK against `ResponsesUpstream`: every streamed event and the JSON
//! object validate strictly against the SDK's pydantic models, and the SDK's own stream
//! accumulator (`responses.stream`, which checks item identity and order) accepts the stream.
//! Requires the SDK (`.ci/install-test-tools.sh`).

use std::process::Stdio;

use ccp_testkit::{python_bin, ResponseStream, ResponsesUpstream};
use serde_json::Value;

const SCRIPT: &str = r#"
import json, os
from openai import OpenAI
from pydantic import TypeAdapter
from openai.types.responses import Response, ResponseStreamEvent

client = OpenAI(base_url=os.environ["BASE_URL"], api_key="sk-sdk", max_retries=0)
events = TypeAdapter(ResponseStreamEvent)
tools = [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}}]
out = {}

# 1. Raw stream: strict validation of each event.
kinds = []
for event in client.responses.create(model="gpt-5.5", input="hi", tools=tools, stream=True):
    events.validate_python(event.to_dict())
    kinds.append(event.type)
out["raw"] = kinds

# 2. The SDK's accumulating stream helper.
with client.responses.stream(model="gpt-5.5", input="hi", tools=tools) as stream:
    for _ in stream:
        pass
    final = stream.get_final_response()
Response.model_validate(final.to_dict())
out["helper"] = {
    "text": final.output_text,
    "calls": [item.call_id for item in final.output if item.type == "function_call"],
    "total_tokens": final.usage.total_tokens,
}

# 3. Non-streaming: the same script collapsed into a Response.
response = client.responses.create(model="gpt-5.5", input="hi", tools=tools)
Response.model_validate(response.to_dict())
out["json"] = {"id": response.id, "text": response.output_text, "status": response.status}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_validates_streams_and_objects() {
    let mock = ResponsesUpstream::openai("sk-sdk").await;
    let script = ResponseStream::new()
        .reasoning("Think first.", "gAAAA-enc")
        .message("Hello from the mock.")
        .call("call_1", "shell", r#"{"cmd":"ls"}"#)
        .custom_call("call_2", "apply_patch", "*** Begin Patch\n*** End Patch\n");
    mock.push_all([script.clone(), script.clone(), script]);
    let output = tokio::process::Command::new(python_bin())
        .args(["-c", SCRIPT])
        .env("BASE_URL", mock.url())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK rejected the mock:\n{stderr}\n{stdout}"
    );
    let out: Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    let kinds = out["raw"].as_array().expect("raw kinds");
    assert_eq!(
        kinds.first().and_then(Value::as_str),
        Some("response.created")
    );
    assert_eq!(
        kinds.last().and_then(Value::as_str),
        Some("response.completed")
    );
    assert!(kinds
        .iter()
        .any(|k| k == "response.custom_tool_call_input.delta"));
    assert_eq!(out["helper"]["text"], "Hello from the mock.");
    assert_eq!(out["helper"]["calls"], serde_json::json!(["call_1"]));
    assert!(out["helper"]["total_tokens"]
        .as_u64()
        .is_some_and(|t| t > 10));
    assert_eq!(out["json"]["text"], "Hello from the mock.");
    assert_eq!(out["json"]["status"], "completed");
    assert_eq!(out["json"]["id"], "resp_mock_2");
    mock.assert_no_violations();
    assert_eq!(mock.pending_replies(), 0);
}
