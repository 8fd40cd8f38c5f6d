"""Drives the proxy's Chat Completions ingress with the official OpenAI Python SDK and prints a
JSON report: a tool call (non-streaming, then streaming), then the tool result, then the answer
(non-streaming, then streaming). Typed objects are checked with isinstance.

Usage: chat_sdk.py BASE_URL
The Rust test decides what the upstream answers and asserts on the report.
"""
import json
import sys

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-client-sdk-test", max_retries=0)
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
messages = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Weather in Paris?"},
]
report = {}

# 1. The tool call, not streamed.
r = client.chat.completions.create(model="sdk-model", messages=messages, tools=tools)
report["call_typed"] = isinstance(r, ChatCompletion)
call = r.choices[0].message.tool_calls[0]
report["call"] = {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
report["call_finish"] = r.choices[0].finish_reason
report["call_usage_total"] = r.usage.total_tokens if r.usage else None

# 2. The same call, streamed, with usage.
calls = {}
chunk_types = set()
stream_usage = None
for chunk in client.chat.completions.create(
    model="sdk-model", messages=messages, tools=tools, stream=True,
    stream_options={"include_usage": True},
):
    chunk_types.add(type(chunk).__name__)
    if chunk.usage:
        stream_usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        for tc in choice.delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        if choice.finish_reason:
            report["stream_call_finish"] = choice.finish_reason
report["stream_calls"] = [calls[i] for i in sorted(calls)]
report["stream_chunk_types"] = sorted(chunk_types)
report["stream_call_usage_total"] = stream_usage

# 3. The tool result, then the answer.
messages += [
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
    {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"},
]
r = client.chat.completions.create(model="sdk-model", messages=messages, tools=tools)
report["answer_typed"] = isinstance(r, ChatCompletion)
report["answer"] = r.choices[0].message.content
report["answer_finish"] = r.choices[0].finish_reason
report["answer_usage_total"] = r.usage.total_tokens if r.usage else None

text = ""
stream_usage = None
typed = True
for chunk in client.chat.completions.create(
    model="sdk-model", messages=messages, tools=tools, stream=True,
    stream_options={"include_usage": True},
):
    typed = typed and isinstance(chunk, ChatCompletionChunk)
    if chunk.usage:
        stream_usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        text += choice.delta.content or ""
report["stream_answer"] = text
report["stream_answer_typed"] = typed
report["stream_answer_usage_total"] = stream_usage

print(json.dumps(report))
