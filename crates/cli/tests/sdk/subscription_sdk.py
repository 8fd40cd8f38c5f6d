"""Drives the proxy's `codex` (ChatGPT subscription) backend with the official OpenAI Python SDK
the way a generic Responses client does: `max_output_tokens` and no `instructions`, which the
ChatGPT Codex backend itself refuses. Prints one JSON report line; the Rust test asserts on it.

Usage: subscription_sdk.py BASE_URL MODEL
"""
import json
import sys

import openai
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseOutputMessage,
    ResponseTextDeltaEvent,
)

base_url, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="placeholder-not-a-key", max_retries=0, timeout=30)
report = {}

r = client.responses.create(model=model, input="Say hello", max_output_tokens=64)
report["nonstream_is_response"] = isinstance(r, Response)
report["nonstream_text"] = r.output_text
report["nonstream_status"] = r.status
report["nonstream_first_item_is_message"] = bool(r.output) and isinstance(r.output[0], ResponseOutputMessage)

kinds = []
classes = []
deltas = []
created = False
completed = None
stream = client.responses.create(model=model, input="Say hello", max_output_tokens=64, stream=True)
for event in stream:
    kinds.append(event.type)
    classes.append(type(event).__name__)
    if isinstance(event, ResponseCreatedEvent):
        created = True
    if isinstance(event, ResponseTextDeltaEvent):
        deltas.append(event.delta)
    if isinstance(event, ResponseCompletedEvent):
        completed = event.response
report["stream_kinds"] = kinds
report["stream_classes"] = classes
report["stream_created_typed"] = created
report["stream_text"] = "".join(deltas)
report["stream_completed_typed"] = isinstance(completed, Response)
report["stream_completed_text"] = completed.output_text if completed else None

print(json.dumps(report))
