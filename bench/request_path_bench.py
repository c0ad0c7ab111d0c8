"""Benchmark: what the request path adds -- auth, limits, model routing and endpoint picking -- per request.

Starts a cluster of its own (``python -m testworld up cluster platform``; state under .cache/bench-request-path),
runs ``site.yml -i inventory/local`` with the free tier's limits raised so nothing is refused, then every
component of the request path (Authorino, the model servers, the endpoint pickers, the AI Gateway ext_proc and the
gateway stand-in; ``testworld/gateway.py``). The model server of the first model answers at once (its pod annotated
with no time to first token and no inter-token latency), so what is measured is the path, not the model.

At 1, 16 and 64 concurrent clients (threads, one httpx client each, keep-alive), ``--requests`` chat completions
(``max_tokens`` 1) go once through the gateway with the demo tenant's key and once straight to the model server's
pod address; printed side by side: requests/s, p50 and p99 latency, and the p50/p99 the path adds.

    .venv/bin/python bench/request_path_bench.py [--requests 400] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import httpx

from bench.authorino_bench import percentile
from testworld.base import REPO
from testworld.gobuild import binary

STATE = REPO / ".cache" / "bench-request-path"
HOST = "inference.token-labs.local"
LISTENER = "token-labs/token-labs-gateway/http"
MODEL = "nvidia/Llama-3.1-Nemotron-Nano-8B-v1"
BIG = {"requests_per_minute": 10_000_000, "requests_per_day": 100_000_000, "tokens_per_minute": 1_000_000_000,
       "tokens_per_day": 10_000_000_000}
COMPONENTS = ("authorino", "model-servers", "endpoint-pickers", "ai-gateway-extproc", "gateway")
PHASES = ("ai_gateway_router", "wasm_action_set", "auth", "limits", "endpoint_picker", "ai_gateway_upstream",
          "model_server_headers", "ai_gateway_response", "token_report")
FAST = '["--time-to-first-token=0ms","--inter-token-latency=0ms"]'


def world(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "testworld", "--state-dir", str(STATE), *args],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"python -m testworld {' '.join(args)} failed:\n{proc.stderr[-4000:]}")


def status(name: str) -> dict:
    try:
        return json.loads((STATE / f"{name}.status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"not reached in {timeout:.0f}s: {what}")


def run(url: str, headers: dict, concurrency: int, requests: int) -> tuple[float, list[float]]:
    """``requests`` chat completions from ``concurrency`` threads; (requests/s, latencies in ms)."""
    body = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    share = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]

    def worker(count: int):
        with httpx.Client(timeout=60) as client:
            for _request in range(count):
                begin = time.perf_counter()
                try:
                    answer = client.post(url, headers=headers, json=body)
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))
                    continue
                elapsed = (time.perf_counter() - begin) * 1000
                with lock:
                    (latencies.append(elapsed) if answer.status_code == 200
                     else failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}"))
    threads = [threading.Thread(target=worker, args=(count,)) for count in share if count]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - begin
    if failures:
        raise SystemExit(f"{len(failures)} of {requests} requests failed, e.g. {failures[0]}")
    return requests / wall, sorted(latencies)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--keep", action="store_true", help="leave the test world running afterwards")
    args = parser.parse_args(argv)
    if args.requests < 64:
        parser.error("--requests must be at least 64 (one per client at the highest concurrency)")
    world("down", "--purge")
    try:
        world("up", "--port", "0", "--timeout", "180", "cluster", "platform")
        mirror = subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True,
                                check=True).stdout.strip()
        world("install-crds", mirror)
        world("register-nodes", "--inventory", str(REPO / "inventory" / "example" / "hosts.yml"))
        kubeconfig = str(STATE / "admin.kubeconfig")
        extra = STATE / "bench-tiers.json"
        extra.write_text(json.dumps({"tokenlabs_tiers": {"free": BIG}, "tokenlabs_helm_binary": str(binary("helm"))}))
        env = dict(os.environ, KUBECONFIG=kubeconfig, K8S_AUTH_KUBECONFIG=kubeconfig, TOKENLABS_MIRROR=mirror,
                   ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), TOKENLABS_TENANT_KEY_DIR=str(STATE / "tenant-keys"),
                   PATH=os.pathsep.join([str(binary("kubectl").parent), str(binary("helm").parent),
                                         str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")]))
        site = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "site.yml", "-i", "inventory/local",
                               "-e", f"@{extra}"], capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
        if site.returncode != 0:
            raise SystemExit(f"site.yml failed:\n{site.stdout[-4000:]}")
        kubectl = [str(binary("kubectl")), "--kubeconfig", kubeconfig]
        pods = json.loads(subprocess.run(kubectl + ["get", "pods", "-n", "token-labs", "-l",
                                                    "llm-d.ai/inference-serving=true", "-o", "json"],
                                         capture_output=True, text=True, check=True).stdout)["items"]
        pod = next(p for p in pods if "nemotron-nano-8b" in p["metadata"]["name"])
        subprocess.run(kubectl + ["annotate", "pod", pod["metadata"]["name"], "-n", "token-labs", "--overwrite",
                                  f"testworld.tokenlabs.io/simulator-args={FAST}"], check=True, capture_output=True)
        for name in COMPONENTS:
            world("up", name)
        direct = f"http://{pod['status']['podIP']}:8000/v1/chat/completions"
        wait(lambda: any(s.get("extra_args") and s.get("healthy")
                         for s in (status("model-servers").get("servers") or {}).values()), 60,
             "the fast model server")
        wait(lambda: all(p.get("ready_pods") == 1 for p in (status("endpoint-pickers").get("pickers") or {}).values())
             and status("endpoint-pickers").get("pickers"), 120, "the endpoint pickers")
        port = wait(lambda: ((status("gateway").get("listeners") or {}).get(LISTENER) or {}).get("port"), 60,
                    "the gateway listener")
        key = (STATE / "tenant-keys" / "demo-free.key").read_text().strip()
        via = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Host": HOST, "Authorization": f"Bearer {key}"}
        first = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        wait(lambda: httpx.post(via, headers=headers, timeout=30, json=first).status_code == 200, 60,
             "a first answer through the gateway")
        rows, phases = [], {}
        for concurrency in (1, 16, 64):
            run(direct, {}, concurrency, min(args.requests, 50))  # warm-up
            direct_rps, direct_ms = run(direct, {}, concurrency, args.requests)
            before = status("gateway").get("timings_ms") or {}
            path_rps, path_ms = run(via, headers, concurrency, args.requests)
            after = wait(lambda: status("gateway").get("timings_ms") if (status("gateway").get("timings_ms") or {})
                         .get("auth", {}).get("count", 0) >= (before.get("auth") or {}).get("count", 0) + args.requests
                         else None, 10, "the gateway's timings of the run")
            phases[concurrency] = {name: (entry["total_ms"] - (before.get(name) or {}).get("total_ms", 0.0))
                                   / max(1, entry["count"] - (before.get(name) or {}).get("count", 0))
                                   for name, entry in after.items()}
            rows.append((concurrency, direct_rps, direct_ms, path_rps, path_ms))
        print(f"\n{args.requests} chat completions (max_tokens 1) per row; model server with no modelled latency; "
              f"2 cores shared by the client, the gateway stand-in and every component\n")
        print("| clients | direct req/s | direct p50 / p99 (ms) | through the path req/s | path p50 / p99 (ms) "
              "| added p50 / p99 (ms) |")
        print("|---|---|---|---|---|---|")
        for concurrency, direct_rps, direct_ms, path_rps, path_ms in rows:
            d50, d99, p50, p99 = (percentile(direct_ms, 50), percentile(direct_ms, 99), percentile(path_ms, 50),
                                  percentile(path_ms, 99))
            print(f"| {concurrency} | {direct_rps:.0f} | {d50:.1f} / {d99:.1f} | {path_rps:.0f} | {p50:.1f} / {p99:.1f} "
                  f"| {p50 - d50:.1f} / {p99 - d99:.1f} |")
        names = [name for name in PHASES if any(name in row for row in phases.values())]
        print("\nMean wall time per request of each step on the path (ms; the gateway stand-in's timings_ms):\n")
        print("| clients | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for concurrency, row in phases.items():
            print(f"| {concurrency} | " + " | ".join(f"{row.get(name, 0.0):.1f}" for name in names) + " |")
    finally:
        if not args.keep:
            world("down", "--purge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
