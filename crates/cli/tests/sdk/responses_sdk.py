"""Drives the proxy with the official OpenAI Python SDK and prints a JSON report.

Usage: responses_sdk.py BASE_URL SCENARIO   (SCENARIO: text | tool)
The Rust test decides what the upstream answers and asserts on the report.
"""
import json
import sys

import openai
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)

base_url, scenario = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="sk-client-sdk-test", max_retries=0)
report = {}

if scenario == "text":
    r = client.responses.create(model="sdk-model", input="Say hello")
    report["nonstream_type"] = type(r).__name__
    report["nonstream_is_response"] = isinstance(r, Response)
    report["nonstream_text"] = r.output_text
    report["nonstream_status"] = r.status
    report["nonstream_usage_total"] = r.usage.total_tokens if r.usage else None
    report["nonstream_first_item_is_message"] = isinstance(r.output[0], ResponseOutputMessage)

    deltas = []
    kinds = []
    completed = None
    created = False
    with client.responses.create(model="sdk-model", input="Say hello", stream=True) as stream:
        for event in stream:
            kinds.append(event.type)
            if isinstance(event, ResponseCreatedEvent):
                created = True
            if isinstance(event, ResponseTextDeltaEvent):
                deltas.append(event.delta)
            if isinstance(event, ResponseCompletedEvent):
                completed = event.response
    report["stream_created_typed"] = created
    report["stream_text"] = "".join(deltas)
    report["stream_kinds"] = kinds
    report["stream_completed_text"] = completed.output_text if completed else None
    report["stream_completed_typed"] = isinstance(completed, Response)
elif scenario == "tool":
    tools = [{
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]
    calls = []
    done_items = []
    final = None
    with client.responses.create(model="sdk-model", input="Weather in Paris and Rome?", tools=tools, stream=True) as stream:
        for event in stream:
            if isinstance(event, ResponseOutputItemDoneEvent):
                done_items.append(type(event.item).__name__)
                if isinstance(event.item, ResponseFunctionToolCall):
                    calls.append({"call_id": event.item.call_id, "name": event.item.name, "arguments": event.item.arguments})
            if isinstance(event, ResponseCompletedEvent):
                final = event.response
    # The SDK's own accumulating helper must agree.
    with client.responses.stream(model="sdk-model", input="Weather in Paris and Rome?", tools=tools) as helper:
        for _ in helper:
            pass
        accumulated = helper.get_final_response()
    report["helper_calls"] = [
        {"call_id": i.call_id, "name": i.name, "arguments": i.arguments}
        for i in accumulated.output
        if isinstance(i, ResponseFunctionToolCall)
    ]
    report["done_item_types"] = done_items
    report["calls"] = calls
    report["final_calls"] = [
        {"call_id": i.call_id, "name": i.name, "arguments": i.arguments}
        for i in final.output
        if isinstance(i, ResponseFunctionToolCall)
    ]
else:
    raise SystemExit(f"unknown scenario {scenario}")

print(json.dumps(report))
