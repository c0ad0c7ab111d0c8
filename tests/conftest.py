"""Shared pytest fixtures.

Unit tests (tests/unit) import the collection's pure module_utils through the
``ansible_collections.tokenlabs.inference`` package that scripts/bootstrap links
into .cache/collections (on the virtualenv's path, like the test world ``testworld``).

Integration tests (tests/integration) run against ONE real control plane per
session: kube-apiserver + etcd on 127.0.0.1 (testworld.controlplane), with the
upstream CRDs from the artifact mirror installed.  Nothing is mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from support.cluster import CATALOG_FILES, ControlPlane, mirror_path


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """One real kube-apiserver + etcd for the whole session, CRDs installed."""
    state_dir = tmp_path_factory.mktemp("controlplane")
    base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "120"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"control plane did not start:\n{proc.stderr}", pytrace=False)
    info = json.loads((state_dir / "state.json").read_text())
    try:
        crds = subprocess.run(base + ["install-crds", str(mirror_path())], capture_output=True, text=True, check=False)
        if crds.returncode != 0:
            pytest.fail(f"installing CRDs failed:\n{crds.stderr}", pytrace=False)
        nodes = subprocess.run(base + ["register-nodes", "--catalog", *CATALOG_FILES], capture_output=True, text=True,
                               check=False)
        if nodes.returncode != 0:
            pytest.fail(f"registering the catalog's nodes failed:\n{nodes.stderr}", pytrace=False)
        yield ControlPlane(state_dir, info)
    finally:
        subprocess.run(base + ["down"], capture_output=True, text=True, check=False)


@pytest.fixture
def namespace(control_plane):
    """A fresh namespace per test (never deleted: there is no namespace controller)."""
    name = "t-" + uuid.uuid4().hex[:10]
    control_plane.kubectl("create", "namespace", name)
    return name
