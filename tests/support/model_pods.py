"""Model pods as the collection's charts make them, and the test world's components behind them (model servers,
endpoint pickers), for the integration tests of the request path."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import uuid

import httpx

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as catalog
from support.cluster import wait_for

MODEL = {"name": "sim", "id": "tokenlabs/sim-8b", "engine": "vllm"}


def decode_deployment(namespace: str, replicas: int, model: dict | None = None) -> dict:
    """A model Deployment as llm-d-modelservice renders one (vllmServe: ``vllm serve <model> --port 8000``), with
    the labels the collection gives model pods (the pool selects them). ``model``: a catalog entry (default
    :data:`MODEL`)."""
    model = model or MODEL
    labels = catalog.model_labels(model)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": catalog.decode_deployment(model), "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{
                                      "name": "vllm", "image": "vllm/vllm-openai:stand-in",
                                      "command": ["vllm", "serve"],
                                      "args": [model["id"], "--port", str(catalog.SERVING_PORT),
                                               "--gpu-memory-utilization=0.3"],
                                      "ports": [{"containerPort": catalog.SERVING_PORT}]}]}}}}


def component(control_plane, action: str, name: str) -> subprocess.CompletedProcess:
    """``python -m testworld up|down <name>`` on the control plane's state directory."""
    return subprocess.run([sys.executable, "-m", "testworld", "--state-dir", str(control_plane.state_dir), action, name],
                          capture_output=True, text=True, check=False)


def status(control_plane, name: str) -> dict:
    """A component's status file (what its supervisor last wrote)."""
    return json.loads((control_plane.state_dir / f"{name}.status.json").read_text())


@contextlib.contextmanager
def busy_replica(ip: str, model_id: str, control_plane, port: int = 8000, senders: int = 4):
    """Slow requests sent straight to the replica at ``ip`` (its simulator annotated to run one sequence at a time)
    until at least two wait in its queue (``vllm:num_requests_waiting``, what the picker's queue scorer reads); the
    block runs while they do, and they are awaited afterwards."""
    def load():
        try:
            httpx.post(f"http://{ip}:{port}/v1/chat/completions", timeout=60, json={
                "model": model_id, "max_tokens": 30, "ignore_eos": True,
                "messages": [{"role": "user", "content": f"load {uuid.uuid4()}"}]})
        except httpx.HTTPError:
            pass  # only the load matters (the simulator may drop a queued request when the test ends)

    def waiting():
        text = httpx.get(f"http://{ip}:{port}/metrics", timeout=5).text
        return any(line.startswith("vllm:num_requests_waiting{") and float(line.rsplit(" ", 1)[1]) >= 2
                   for line in text.splitlines())
    threads = [threading.Thread(target=load) for _thread in range(senders)]
    for thread in threads:
        thread.start()
    try:
        wait_for(waiting, 20, f"requests waiting on the busy replica {ip}", control_plane)
        yield
    finally:
        for thread in threads:
            thread.join()
