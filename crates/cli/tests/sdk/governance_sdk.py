"""Drives governance denials through the official OpenAI Python SDK and prints a JSON report on
the last stdout line: for each case, the exception class, HTTP status, error code and type, the
message, and the headers a client reads (Retry-After, x-ratelimit-*).

Usage: governance_sdk.py BASE_URL   (keys from $CCP_GOV_KEYS, a JSON object name -> key)
"""
import json
import os
import sys

import openai

base_url = sys.argv[1]
keys = json.loads(os.environ["CCP_GOV_KEYS"])


def attempt(key, model="upstream-model", **extra):
    if key is None:
        # No key at all: the SDK needs one to start, and is told to leave the header out.
        from openai._types import Omit
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        extra["extra_headers"] = {"Authorization": Omit()}
    else:
        client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    try:
        raw = client.responses.with_raw_response.create(model=model, input="hi", **extra)
        return {"raised": None, "status": raw.http_request and 200,
                "headers": {k: v for k, v in raw.headers.items()
                            if k.startswith("x-ratelimit") or k.startswith("x-ccp-budget")}}
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        headers = {k: v for k, v in e.response.headers.items()
                   if k == "retry-after" or k.startswith("x-ratelimit")}
        return {"raised": type(e).__name__, "status": e.status_code, "code": e.code,
                "type": e.type, "param": e.param, "message": body.get("message", str(e)),
                "headers": headers}


report = {
    "missing": attempt(None),
    "wrong": attempt("sk-ccp-this-key-does-not-exist-000"),
    "revoked": attempt(keys["revoked"]),
    "expired": attempt(keys["expired"]),
    "ok": attempt(keys["dev"], model="gpt-4o"),
    "model_not_allowed": attempt(keys["dev"], model="glm-5"),
    "budget_exceeded": attempt(keys["broke"]),
    "rate_first": attempt(keys["busy"]),
    "rate_limited": attempt(keys["busy"]),
}
print(json.dumps(report))
