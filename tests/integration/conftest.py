"""Fixtures of the integration tests that need the cluster behind the API server (``python -m testworld up cluster``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cluster import ControlPlane, all_nodes_ready, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A cluster of its own: control plane, kube-scheduler, kube-controller-manager, KWOK, the device-plugin
    stand-in; the reference inventory's hosts registered as their kubelets would."""
    state_dir = tmp_path_factory.mktemp("cluster")
    base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "180", "cluster"], capture_output=True, text=True,
                          check=False)
    try:
        if proc.returncode != 0:
            pytest.fail(f"the cluster did not start:\n{proc.stderr}", pytrace=False)
        nodes = subprocess.run(base + ["register-nodes", "--inventory", str(REPO / "inventory" / "example" / "hosts.yml")],
                               capture_output=True, text=True, check=False)
        if nodes.returncode != 0:
            pytest.fail(f"registering the inventory's nodes failed:\n{nodes.stderr}", pytrace=False)
        cp = ControlPlane(state_dir, json.loads((state_dir / "state.json").read_text()))
        wait_for(lambda: all_nodes_ready(cp, 3), 90, "every node Ready", cp)
        yield cp
    finally:
        subprocess.run(base + ["down"], capture_output=True, text=True, check=False)
