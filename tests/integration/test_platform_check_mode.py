"""site.yml --check on an EMPTY cluster: completes, reports what would change, writes nothing.

Uses its own fresh control plane (no CRDs, no platform namespaces), not the
session one (which has every mirrored CRD installed): the point is that check
mode works before the CRDs and namespaces that earlier roles create exist.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from support.cluster import REFERENCE_HOSTS, ControlPlane

RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


@pytest.fixture(scope="module")
def empty_control_plane(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("empty-controlplane")
    base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]
    proc = subprocess.run(base + ["up", "--port", "0", "--timeout", "120"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        pytest.fail(f"control plane did not start:\n{proc.stderr}", pytrace=False)
    try:
        info = json.loads((state_dir / "state.json").read_text())
        # Empty of CRDs and platform namespaces, but with its nodes, as a fresh cluster is.
        subprocess.run(base + ["register-nodes", "--inventory", str(REFERENCE_HOSTS)], capture_output=True, text=True,
                       check=True)
        yield ControlPlane(state_dir, info)
    finally:
        subprocess.run(base + ["down", "--purge"], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def check_run(empty_control_plane, tmp_path_factory):
    cp = empty_control_plane
    key_dir = tmp_path_factory.mktemp("tenant-keys")
    mark = cp.audit_mark()
    proc = cp.ansible_playbook("site.yml", "-i", "inventory/local", "--check",
                               "-e", f"tokenlabs_tenant_key_dir={key_dir}")
    return proc, mark, key_dir


def test_check_mode_on_an_empty_cluster_succeeds_and_reports_changes(check_run):
    proc, _mark, _key_dir = check_run
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    match = RECAP.search(proc.stdout)
    assert match, proc.stdout[-3000:]
    assert int(match[4]) == 0 and int(match[2]) > 0
    # The objects waiting for an earlier step are reported, with the reason.
    # (k8s_apply names them in a check-mode warning)
    assert 'namespace redis-system does not exist yet' in proc.stdout + proc.stderr
    assert "its kind is not installed yet" in proc.stdout + proc.stderr
    assert "check mode: " in proc.stdout + proc.stderr  # tier_policies names what is missing


def test_check_mode_on_an_empty_cluster_writes_nothing(empty_control_plane, check_run):
    proc, mark, key_dir = check_run
    assert proc.returncode == 0
    writes = empty_control_plane.client_writes(mark)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
    assert list(key_dir.iterdir()) == []  # no tenant key file either
    namespaces = empty_control_plane.kubectl_json("get", "namespaces")["items"]
    assert "redis-system" not in [n["metadata"]["name"] for n in namespaces]
