"""One chat completion through the request path, as a client of the Gateway sends it.

For the demo (and an operator poking at the local cluster): waits until the gateway stand-in
(``python -m testworld up gateway``; :mod:`testworld.gateway`) serves the Gateway's listener, then sends
``POST /v1/chat/completions`` to it with the key read from ``--key-file`` and the listener's hostname as Host --
through the AI Gateway's ext_proc, Authorino, the quota harness on Redis, the InferencePool's endpoint picker and
the model server of the chosen pod. Prints the status, the model, the answer, its token usage and the pod that
answered (the simulator's ``x-inference-pod`` header); the key itself is never printed.

    python -m testworld.gateway_chat --key-file .cache/tenant-keys/demo-free.key \\
        [--model nvidia/Llama-3.1-Nemotron-Nano-8B-v1] [--gateway-namespace token-labs] [--gateway token-labs-gateway]

Exit 0 on a 200 answer with text and usage, 1 otherwise, 2 on bad input or when the gateway is not serving.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

from testworld.base import TestWorldError, state_dir_from_env
from testworld.gateway_check import kubectl

WAIT_SECONDS = 120


def listener_port(state_dir: Path, key: str) -> int | None:
    try:
        found = json.loads((state_dir / "gateway.status.json").read_text()).get("listeners") or {}
    except (OSError, ValueError):
        return None
    return (found.get(key) or {}).get("port") if (found.get(key) or {}).get("ready") else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--model", default="nvidia/Llama-3.1-Nemotron-Nano-8B-v1")
    parser.add_argument("--prompt", default="Say hello to the TokenLabs operator in one sentence.")
    parser.add_argument("--gateway-namespace", default="token-labs")
    parser.add_argument("--gateway", default="token-labs-gateway")
    parser.add_argument("--listener", default="http")
    parser.add_argument("--state-dir", type=Path, default=state_dir_from_env())
    args = parser.parse_args(argv)
    try:
        key = args.key_file.read_text().strip()
    except OSError as exc:
        print(f"gateway_chat: cannot read --key-file {args.key_file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        gateway = json.loads(kubectl("get", "gateway", args.gateway, "-n", args.gateway_namespace, "-o", "json"))
    except TestWorldError as exc:
        print(f"gateway_chat: {exc}", file=sys.stderr)
        return 2
    listener = next((item for item in gateway["spec"].get("listeners") or [] if item.get("name") == args.listener),
                    None)
    if listener is None:
        print(f"gateway_chat: Gateway {args.gateway_namespace}/{args.gateway} has no listener {args.listener}",
              file=sys.stderr)
        return 2
    listener_key = f"{args.gateway_namespace}/{args.gateway}/{args.listener}"
    deadline = time.monotonic() + WAIT_SECONDS
    while (port := listener_port(args.state_dir.resolve(), listener_key)) is None:
        if time.monotonic() > deadline:
            print(f"gateway_chat: the gateway stand-in does not serve {listener_key} (python -m testworld up gateway)",
                  file=sys.stderr)
            return 2
        time.sleep(0.5)
    host = listener.get("hostname") or "localhost"
    body = {"model": args.model, "max_tokens": 24, "messages": [{"role": "user", "content": args.prompt}]}
    headers = {"Host": host, "Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    # The model's endpoint picker and server may still be starting: a 503 is retried until the deadline.
    while True:
        try:
            answer = httpx.post(url, headers=headers, json=body, timeout=60)
        except httpx.HTTPError as exc:
            print(f"gateway_chat: POST {url} (Host {host}) failed: {exc}", file=sys.stderr)
            return 1
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"POST /v1/chat/completions on listener {listener_key} (Host {host}, 127.0.0.1:{port}): "
          f"HTTP {answer.status_code}")
    if answer.status_code != 200:
        print(f"  {answer.text[:300]}")
        return 1
    result = answer.json()
    text = result["choices"][0]["message"]["content"]
    usage = result.get("usage") or {}
    print(f"  model {result.get('model')}, answered by pod {answer.headers.get('x-inference-pod', '?')}")
    print(f"  answer: {text!r}")
    print(f"  usage: {usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} completion = "
          f"{usage.get('total_tokens')} tokens (counted against the tenant's token quota)")
    return 0 if text and usage.get("total_tokens") else 1


if __name__ == "__main__":
    sys.exit(main())
