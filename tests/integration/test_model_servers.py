"""Model servers on the cluster's pods: llm-d-inference-sim v0.10.2 (built from its Go module) behind every model
pod, on the pod's loopback IP and port, speaking vLLM's OpenAI API and metrics (``python -m testworld up
model-servers``, :mod:`testworld.model_servers`)."""

from __future__ import annotations

import ipaddress
import json
import re

import httpx
import pytest

from support.cluster import wait_for
from support.model_pods import MODEL as MODEL_SPEC
from support.model_pods import component, decode_deployment, status

MODEL = MODEL_SPEC["id"]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@pytest.fixture(scope="module")
def servers(control_plane):
    """Two replicas of one model, each with its simulator; ``(namespace, [pod IP, ...])``."""
    up = component(control_plane, "up", "model-servers")
    assert up.returncode == 0, up.stderr
    namespace = "t-model-servers"
    control_plane.kubectl("create", "namespace", namespace)
    try:
        control_plane.apply(json.dumps(decode_deployment(namespace, 2)))
        control_plane.kubectl("wait", "--for=condition=Available", "deployment/sim-decode", "-n", namespace,
                              "--timeout=90s")
        ips = [p["status"]["podIP"] for p in control_plane.kubectl_json("get", "pods", "-n", namespace)["items"]]
        wait_for(lambda: all(healthy(control_plane, namespace, ip) for ip in ips), 60,
                 "a simulator answering on every pod's IP", control_plane)
        yield namespace, ips
    finally:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        component(control_plane, "down", "model-servers")


def healthy(control_plane, namespace: str, ip: str) -> bool:
    servers = status(control_plane, "model-servers").get("servers") or {}
    return any(s["ip"] == ip and s["healthy"] for key, s in servers.items() if key.startswith(namespace + "/"))


def metrics(ip: str) -> dict:
    """``{(name, model): value}`` of the counters and gauges the endpoint picker and the usage report read."""
    found = {}
    for line in httpx.get(f"http://{ip}:8000/metrics", timeout=5).text.splitlines():
        m = re.match(r'^(vllm:[a-z_]+)\{([^}]*)\} (\S+)$', line)
        if m:
            model = re.search(r'model_name="([^"]*)"', m.group(2))
            found[(m.group(1), model.group(1) if model else None)] = float(m.group(3))
    return found


def test_every_model_pod_is_served_on_its_own_loopback_address(servers):
    _namespace, ips = servers
    assert len(set(ips)) == 2 and all(ipaddress.ip_address(ip) in LOOPBACK for ip in ips)
    for ip in ips:
        models = httpx.get(f"http://{ip}:8000/v1/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == [MODEL]


def test_a_chat_completion_reports_its_usage(servers):
    _namespace, ips = servers
    reply = httpx.post(f"http://{ips[0]}:8000/v1/chat/completions", timeout=30, json={
        "model": MODEL, "max_tokens": 12, "messages": [{"role": "user", "content": "Say hello to the Sparks"}]}).json()
    usage = reply["usage"]
    assert reply["model"] == MODEL and reply["choices"][0]["message"]["content"]
    assert 0 < usage["completion_tokens"] <= 12 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_a_stream_ends_with_a_usage_chunk_when_asked_and_the_metrics_count_it(servers):
    _namespace, ips = servers
    before = metrics(ips[1])
    chunks = []
    with httpx.stream("POST", f"http://{ips[1]}:8000/v1/chat/completions", timeout=30, json={
            "model": MODEL, "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Count to three"}]}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                chunks.append(line[len("data: "):])
    assert chunks[-1] == "[DONE]"
    last = json.loads(chunks[-2])
    assert last["choices"] == [] and last["usage"]["total_tokens"] == \
        last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    assert all(json.loads(c)["choices"] for c in chunks[:-2])  # every earlier chunk carries a token
    after = metrics(ips[1])
    for name, counted in (("vllm:prompt_tokens_total", "prompt_tokens"),
                          ("vllm:generation_tokens_total", "completion_tokens")):
        assert after[(name, MODEL)] - before.get((name, MODEL), 0.0) == last["usage"][counted]
    for gauge in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert (gauge, MODEL) in after


def test_a_pod_that_goes_away_is_no_longer_served(control_plane, servers):
    namespace, ips = servers
    control_plane.kubectl("scale", "deployment/sim-decode", "-n", namespace, "--replicas=1")
    wait_for(lambda: len(control_plane.kubectl_json("get", "pods", "-n", namespace)["items"]) == 1, 60,
             "one pod left", control_plane)
    gone = (set(ips) - {p["status"]["podIP"]
                        for p in control_plane.kubectl_json("get", "pods", "-n", namespace)["items"]}).pop()

    def refused():
        try:
            httpx.get(f"http://{gone}:8000/health", timeout=2)
        except httpx.ConnectError:
            return True
        return False
    wait_for(refused, 30, f"nothing listening on {gone}:8000 any more", control_plane)
    assert sum(1 for key in status(control_plane, "model-servers")["servers"] if key.startswith(namespace + "/")) == 1


def test_up_again_starts_nothing(control_plane, servers):
    record = control_plane.state_dir / "model-servers.json"
    pid = json.loads(record.read_text())["pid"]
    again = component(control_plane, "up", "model-servers")
    assert again.returncode == 0 and "already running" in again.stderr
    assert json.loads(record.read_text())["pid"] == pid
