"""Bad input to Authorino's start (python -m testworld up authorino): clear message, exit 2, no process left."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTWORLD = [sys.executable, "-m", "testworld"]


def run(cli, *args, env=None, timeout=120):
    return subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory):
    """A control plane of its own, without the AuthConfig CRD at first."""
    state = tmp_path_factory.mktemp("authorino-cli")
    res = run(TESTWORLD, "--state-dir", str(state), "up", "--port", "0", timeout=180)
    assert res.returncode == 0, res.stderr
    yield state
    run(TESTWORLD, "--state-dir", str(state), "down", "--purge")


def test_control_plane_not_running(tmp_path):
    res = run(TESTWORLD, "--state-dir", str(tmp_path), "up", "authorino")
    assert res.returncode == 2
    assert "is not running; run `python -m testworld up` first" in res.stderr
    res = run(TESTWORLD, "--state-dir", str(tmp_path), "status", "authorino")
    assert res.returncode == 1 and "authorino stopped" in res.stdout


def test_build_failure_is_reported(tmp_path):
    env = dict(os.environ, TOKENLABS_CACHE=str(tmp_path / "cache"), GOPROXY="off",
               GOMODCACHE=str(tmp_path / "empty-modcache"))
    res = run(TESTWORLD, "--state-dir", str(tmp_path), "up", "authorino", env=env, timeout=300)
    assert res.returncode == 2
    assert "go build of github.com/kuadrant/authorino failed" in res.stderr
    assert "GOPROXY=off" in res.stderr or "module lookup disabled" in res.stderr


def test_missing_crd_is_explained(bare_cluster):
    res = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino")
    assert res.returncode == 2
    assert "the AuthConfig CRD (authconfigs.authorino.kuadrant.io) is not installed" in res.stderr


def test_invalid_and_busy_ports_are_refused(bare_cluster):
    mirror = Path(run([str(REPO / "scripts" / "mirror-path")]).stdout.strip())
    assert run(TESTWORLD, "--state-dir", str(bare_cluster), "install-crds",
               str(mirror / "crds" / "authorino")).returncode == 0
    res = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino", "--grpc-port", "70000")
    assert res.returncode == 2 and "--grpc-port 70000 is not a TCP port" in res.stderr
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino", "--http-port", str(port))
    assert res.returncode == 2
    assert f"port {port} (--http-port) is already in use" in res.stderr


def test_up_down_leaves_no_process(bare_cluster):
    res = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino")
    assert res.returncode == 0, res.stderr
    pid = json.loads(res.stdout)["pid"]
    assert Path(f"/proc/{pid}").exists()
    again = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino")
    assert again.returncode == 0 and "already running" in again.stderr
    assert run(TESTWORLD, "--state-dir", str(bare_cluster), "status", "authorino").returncode == 0
    assert run(TESTWORLD, "--state-dir", str(bare_cluster), "down", "authorino").returncode == 0
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert run(TESTWORLD, "--state-dir", str(bare_cluster), "status", "authorino").returncode == 1
    # stopping the control plane also stops an Authorino that still runs
    res = run(TESTWORLD, "--state-dir", str(bare_cluster), "up", "authorino")
    pid = json.loads(res.stdout)["pid"]
    assert run(TESTWORLD, "--state-dir", str(bare_cluster), "down", "controlplane").returncode == 0
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
