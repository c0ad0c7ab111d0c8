# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Streamed chat completions at a fixed concurrency, timed per token (the benchmark's load generator).

Private to this collection (not an API for other collections; it may change
without notice).

The client is httpx (async, HTTP/1.1 keep-alive, per-phase timeouts). Token counts
come from the server's ``usage`` (the final chunk of a stream asked for with
``stream_options.include_usage``), so no tokenizer is needed on the controller.
Times come from ``time.perf_counter``: the first content chunk gives the time to
first token, the last one the end of decoding.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import json
import random
import time

try:
    import httpx
    HAS_HTTPX = True
    HTTPX_VERSION = httpx.__version__
except ImportError:  # the benchmark virtualenv has it; the validation step does not need it
    HAS_HTTPX = False
    HTTPX_VERSION = None

CHAT_PATH = "/v1/chat/completions"
# Words that are one token in the common BPE vocabularies (Llama 3, Qwen2, GPT-4 family)
# when preceded by a space: the prompt length in words approximates its length in tokens.
# The measured length is the server's usage.prompt_tokens.
WORDS = ("time year people way day man thing woman life child world school state family student group "
         "country problem hand part place case week company system program question work government number "
         "night point home water room mother area money story fact month lot right study book eye job word "
         "business issue side kind head house service friend father power hour game line end member law car "
         "city community name president team minute idea kid body information back parent face others level "
         "office door health person art war history party result change morning reason research girl guy "
         "moment air teacher force education").split()
ERROR_BODY_CHARS = 200


class RequestResult(object):
    """One streamed request: times relative to its start (seconds), usage, or the error."""

    __slots__ = ("ok", "error", "status", "ttft", "duration", "decode_time", "prompt_tokens",
                 "completion_tokens", "chunks")

    def __init__(self):
        self.ok = False
        self.error = None
        self.status = None
        self.ttft = None
        self.duration = None
        self.decode_time = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.chunks = 0


def prompt_text(tokens, seed):
    """A prompt of about ``tokens`` tokens, different for every seed (no prefix-cache hits)."""
    rng = random.Random(seed)
    head = "Request %d. Continue this list of words for as long as you can:" % seed
    count = max(1, tokens - 14)
    return head + " " + " ".join(rng.choice(WORDS) for _word in range(count))


def request_body(model_id, prompt_tokens, output_tokens, seed, extra_body):
    body = {"model": model_id, "messages": [{"role": "user", "content": prompt_text(prompt_tokens, seed)}],
            "max_tokens": output_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    body.update(extra_body or {})
    return body


def parse_event(line):
    """The JSON object of one server-sent-events line, None for other lines, 'done' for [DONE]."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return "done"
    return json.loads(data)


def has_content(event):
    for choice in event.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            return True
    return False


async def _stream_one(client, url, headers, body, timeout):
    result = RequestResult()
    start = time.perf_counter()
    first = last = None
    usage = None
    try:
        async with client.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
            result.status = response.status_code
            if response.status_code != 200:
                text = (await response.aread()).decode("utf-8", "replace")
                result.error = "HTTP %d: %s" % (response.status_code, text[:ERROR_BODY_CHARS].strip())
                return result
            async for line in response.aiter_lines():
                event = parse_event(line)
                if event is None:
                    continue
                if event == "done":
                    break
                if has_content(event):
                    now = time.perf_counter()
                    first = now if first is None else first
                    last = now
                    result.chunks += 1
                if event.get("usage"):
                    usage = event["usage"]
    except (httpx.HTTPError, ValueError) as exc:
        result.error = "%s: %s" % (type(exc).__name__, str(exc) or "no detail")
        return result
    end = time.perf_counter()
    if first is None:
        result.error = "the stream carried no content (status %s)" % result.status
    elif not usage or not usage.get("completion_tokens"):
        result.error = ("the stream carried no usage: the engine must report usage on streamed responses "
                        "(stream_options.include_usage); token figures and token quotas need it")
    else:
        result.ok = True
        result.ttft = first - start
        result.decode_time = last - first
        result.duration = end - start
        result.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        result.completion_tokens = int(usage["completion_tokens"])
    return result


async def _level(base_url, headers, verify, timeout, bodies, concurrency):
    queue = list(bodies)
    results = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(verify=verify, limits=limits, timeout=timeout) as client:
        async def worker():
            while queue:
                body = queue.pop(0)
                results.append(await _stream_one(client, base_url + CHAT_PATH, headers, body, timeout))
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _worker in range(concurrency)))
        wall = time.perf_counter() - start
    return results, wall


def run_level(base_url, headers, verify, timeout, bodies, concurrency):
    """Send ``bodies`` with ``concurrency`` requests in flight; returns (results, wall seconds)."""
    return asyncio.run(_level(base_url.rstrip("/"), headers, verify, timeout, bodies, concurrency))


def headers_for(api_key, host_header):
    headers = {"Authorization": "Bearer " + api_key, "Accept": "text/event-stream"}
    if host_header:
        headers["Host"] = host_header
    return headers
