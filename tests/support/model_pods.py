"""Model pods as the collection's charts make them, and the test world's components behind them (model servers,
endpoint pickers), for the integration tests of the request path."""

from __future__ import annotations

import json
import subprocess
import sys

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as catalog

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
