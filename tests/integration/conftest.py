"""Fixtures of the integration tests that need the cluster behind the API server (``python -m testworld up cluster``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from support.cluster import REFERENCE_HOSTS, ControlPlane, all_nodes_ready, mirror_path, wait_for

# The longest modules first (from the per-module times this file prints at the end of a
# run): with `--dist loadfile` a worker takes the next file in collection order, and a long module collected last
# leaves the other worker idle at the end. Modules not named keep their alphabetical order after these.
LONGEST_FIRST = (  # from nothing, 2026-12-04 (4ae6770): seconds of set-up, calls and tear-down
    "test_reference_catalog.py",  # 830
    "test_platform_site.py",  # 664
    "test_request_path.py",  # 625
    "test_release_upgrade.py",  # 441
    "test_microk8s_role.py",  # 298
    "test_operate_jobs.py",  # 214
    "test_tenants.py",  # 179
    "test_molecule_platform.py",  # 162
)

_MODULE_SECONDS: dict = defaultdict(float)


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def pytest_runtest_logreport(report):
    _MODULE_SECONDS[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    """Each module's time (set-up, calls and tear-down of its tests), longest first: the data for LONGEST_FIRST."""
    if not _MODULE_SECONDS:
        return
    terminalreporter.write_sep("=", "integration modules by time")
    for module, seconds in sorted(_MODULE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f}s  {module}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    """A cluster of its own: control plane, kube-scheduler, kube-controller-manager, KWOK, the NVIDIA stand-ins,
    the mirror's CRDs; the reference inventory's hosts registered as their kubelets would.

    A test module's ``CLUSTER_CRDS`` names the release set whose CRDs are installed (default ``current``);
    None installs none, as on a new cluster (site.yml installs every CRD it needs)."""
    release_set = getattr(request.module, "CLUSTER_CRDS", "current")
    state_dir = tmp_path_factory.mktemp("cluster")
    base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "180", "cluster", "platform"], capture_output=True, text=True,
                          check=False)
    try:
        if proc.returncode != 0:
            pytest.fail(f"the cluster did not start:\n{proc.stderr}", pytrace=False)
        crds = subprocess.run(base + ["install-crds", str(mirror_path()), "--release-set", release_set],
                              capture_output=True, text=True, check=False) if release_set else None
        if crds and crds.returncode != 0:
            pytest.fail(f"installing CRDs failed:\n{crds.stderr}", pytrace=False)
        nodes = subprocess.run(base + ["register-nodes", "--inventory", str(REFERENCE_HOSTS)],
                               capture_output=True, text=True, check=False)
        if nodes.returncode != 0:
            pytest.fail(f"registering the inventory's nodes failed:\n{nodes.stderr}", pytrace=False)
        cp = ControlPlane(state_dir, json.loads((state_dir / "state.json").read_text()))
        wait_for(lambda: all_nodes_ready(cp, 3), 90, "every node Ready", cp)
        yield cp
    finally:
        subprocess.run(base + ["down"], capture_output=True, text=True, check=False)
