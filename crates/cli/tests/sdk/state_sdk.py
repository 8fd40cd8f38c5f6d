"""Drives the proxy's stateful Responses API with the official OpenAI Python SDK and prints a JSON
report on the last stdout line.

Usage: state_sdk.py BASE_URL SCENARIO
  lifecycle  create (store omitted) -> retrieve -> input_items pages (desc, asc, auto-paginated)
             -> create chained by previous_response_id with new instructions -> delete ->
             chaining from / retrieving the deleted id, retrieving an unknown id
  isolation  client A (key $CCP_KEY_A) creates; client B (key $CCP_KEY_B) tries to read, list,
             delete, chain from and reference it; A still reads and chains
The Rust test decides what the upstream answers and asserts on the report. Expected API errors are
caught and reported (class, status, code, message); anything else fails the script.
"""
import json
import os
import sys

import openai

base_url, scenario = sys.argv[1], sys.argv[2]
MODEL = "state-model"
report = {}


def client(key="sk-client-state-test"):
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def error_info(call):
    """Runs `call`; returns what the API error looked like (or that nothing was raised)."""
    try:
        call()
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return {
            "raised": type(e).__name__,
            "status": e.status_code,
            "code": e.code,
            "param": e.param,
            "type": e.type,
            "message": body.get("message", str(e)),
        }
    return {"raised": None}


def item_text(item):
    content = getattr(item, "content", None) or []
    return "".join(getattr(part, "text", "") for part in content)


def summary(response):
    return {
        "id": response.id,
        "object": response.object,
        "status": response.status,
        "store": response.store,
        "model": response.model,
        "instructions": response.instructions,
        "previous_response_id": response.previous_response_id,
        "output_text": response.output_text,
        "output_ids": [item.id for item in response.output],
    }


def walk_pages(c, response_id, limit, order=None):
    """Every page of input_items, following `after` = the page's last id by hand."""
    pages, after = [], None
    for _ in range(20):
        kwargs = {"limit": limit}
        if order is not None:
            kwargs["order"] = order
        if after is not None:
            kwargs["after"] = after
        page = c.responses.input_items.list(response_id, **kwargs)
        pages.append({
            "ids": [item.id for item in page.data],
            "texts": [item_text(item) for item in page.data],
            "roles": [getattr(item, "role", None) for item in page.data],
            "first_id": page.first_id,
            "last_id": page.last_id,
            "has_more": page.has_more,
        })
        if not page.has_more:
            break
        after = page.last_id
    return pages


if scenario == "lifecycle":
    c = client()
    first = c.responses.create(
        model=MODEL,
        instructions="OLD INSTRUCTIONS: be terse.",
        input=[
            {"role": "user", "content": "One: my name is Ada."},
            {"role": "assistant", "content": "Two: hello Ada."},
            {"role": "user", "content": "Three: I live in Paris."},
            {"role": "assistant", "content": "Four: Paris is lovely."},
            {"role": "user", "content": "Five: remember both."},
        ],
    )
    report["first"] = summary(first)
    report["retrieved"] = summary(c.responses.retrieve(first.id))
    report["retrieved_with_include"] = summary(
        c.responses.retrieve(first.id, include=["reasoning.encrypted_content"])
    )

    whole = c.responses.input_items.list(first.id)
    report["items_default_page"] = {
        "texts": [item_text(item) for item in whole.data],
        "types": [type(item).__name__ for item in whole.data],
        "has_more": whole.has_more,
    }
    report["pages_default_order"] = walk_pages(c, first.id, limit=2)
    report["pages_desc"] = walk_pages(c, first.id, limit=2, order="desc")
    report["pages_asc"] = walk_pages(c, first.id, limit=2, order="asc")
    # The SDK's own auto-pagination (it follows `after` itself).
    report["auto_asc_texts"] = [
        item_text(item) for item in c.responses.input_items.list(first.id, limit=2, order="asc")
    ]

    second = c.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        instructions="NEW INSTRUCTIONS: answer in one word.",
        input="What is my name?",
    )
    report["second"] = summary(second)

    report["delete_returned"] = repr(c.responses.delete(first.id))
    raw = c.responses.with_raw_response.delete(second.id)
    report["raw_delete"] = {"status": raw.http_response.status_code, "body": raw.http_response.json()}
    report["retrieve_deleted"] = error_info(lambda: c.responses.retrieve(first.id))
    report["delete_deleted"] = error_info(lambda: c.responses.delete(first.id))
    report["input_items_deleted"] = error_info(lambda: c.responses.input_items.list(first.id))
    report["chain_deleted"] = error_info(
        lambda: c.responses.create(model=MODEL, previous_response_id=first.id, input="Again?")
    )
    report["retrieve_unknown"] = error_info(lambda: c.responses.retrieve("resp_unknown0000000000000000"))
elif scenario == "isolation":
    a, b = client(os.environ["CCP_KEY_A"]), client(os.environ["CCP_KEY_B"])
    created = a.responses.create(model=MODEL, input="A's secret plan: bake a cake.")
    report["created"] = summary(created)
    report["b_retrieve"] = error_info(lambda: b.responses.retrieve(created.id))
    report["b_input_items"] = error_info(lambda: b.responses.input_items.list(created.id))
    report["b_delete"] = error_info(lambda: b.responses.delete(created.id))
    report["b_chain"] = error_info(
        lambda: b.responses.create(model=MODEL, previous_response_id=created.id, input="What was the plan?")
    )
    report["b_reference"] = error_info(
        lambda: b.responses.create(
            model=MODEL,
            input=[
                {"type": "item_reference", "id": created.output[0].id},
                {"role": "user", "content": "What was the plan?"},
            ],
        )
    )
    report["a_retrieve_after"] = summary(a.responses.retrieve(created.id))
    chained = a.responses.create(model=MODEL, previous_response_id=created.id, input="What was the plan?")
    report["a_chain"] = summary(chained)
else:
    raise SystemExit(f"unknown scenario {scenario}")

print(json.dumps(report))
