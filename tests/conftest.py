"""Shared pytest fixtures.

Unit tests (tests/unit) import the collection's pure module_utils through the
``ansible_collections.tokenlabs.inference`` package that scripts/bootstrap links
into .cache/collections (on the virtualenv's path, like the test world ``testworld``).

Integration tests (tests/integration) run against ONE real cluster per session
(``python -m testworld up cluster``): kube-apiserver + etcd on 127.0.0.1, the real
kube-scheduler and kube-controller-manager, KWOK's nodes (the reference inventory's
controller, spark-01 and spark-02) and the NVIDIA stand-ins, with the upstream CRDs
from the artifact mirror installed. Pods run, so inventory/local's waits are on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from support.cluster import REFERENCE_HOSTS, ControlPlane, all_nodes_ready, mirror_path, wait_for


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """One cluster for the whole session, CRDs installed, the reference inventory's hosts registered."""
    state_dir = tmp_path_factory.mktemp("controlplane")
    base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "180", "cluster", "platform"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"control plane did not start:\n{proc.stderr}", pytrace=False)
    info = json.loads((state_dir / "state.json").read_text())
    try:
        crds = subprocess.run(base + ["install-crds", str(mirror_path())], capture_output=True, text=True, check=False)
        if crds.returncode != 0:
            pytest.fail(f"installing CRDs failed:\n{crds.stderr}", pytrace=False)
        nodes = subprocess.run(base + ["register-nodes", "--inventory", str(REFERENCE_HOSTS)], capture_output=True,
                               text=True, check=False)
        if nodes.returncode != 0:
            pytest.fail(f"registering the inventory's nodes failed:\n{nodes.stderr}", pytrace=False)
        cp = ControlPlane(state_dir, info)
        wait_for(lambda: all_nodes_ready(cp, 3), 90, "every node Ready", cp)
        yield cp
    finally:
        subprocess.run(base + ["down"], capture_output=True, text=True, check=False)


@pytest.fixture
def namespace(control_plane):
    """A fresh namespace per test."""
    name = "t-" + uuid.uuid4().hex[:10]
    control_plane.kubectl("create", "namespace", name)
    return name
