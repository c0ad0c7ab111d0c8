"""Bad input to the Authorino entry point (tools/controlplane/authorino.py): clear message, exit 2, no process left."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "controlplane"
AUTHORINO = [sys.executable, str(TOOLS / "authorino.py")]
CONTROLPLANE = [sys.executable, str(TOOLS / "controlplane.py")]


def run(cli, *args, env=None, timeout=120):
    return subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory):
    """A control plane of its own, without the AuthConfig CRD at first."""
    state = tmp_path_factory.mktemp("authorino-cli")
    res = run(CONTROLPLANE, "--state-dir", str(state), "up", "--port", "0", timeout=180)
    assert res.returncode == 0, res.stderr
    yield state
    run(CONTROLPLANE, "--state-dir", str(state), "down", "--purge")


def test_control_plane_not_running(tmp_path):
    res = run(AUTHORINO, "--state-dir", str(tmp_path), "up")
    assert res.returncode == 2
    assert "is not running; run `controlplane.py up` first" in res.stderr
    res = run(AUTHORINO, "--state-dir", str(tmp_path), "status")
    assert res.returncode == 1 and "authorino stopped" in res.stdout


def test_build_failure_is_reported(tmp_path):
    env = dict(os.environ, TOKENLABS_CACHE=str(tmp_path / "cache"), GOPROXY="off",
               GOMODCACHE=str(tmp_path / "empty-modcache"))
    res = run(AUTHORINO, "--state-dir", str(tmp_path), "up", env=env, timeout=300)
    assert res.returncode == 2
    assert "go build of github.com/kuadrant/authorino failed" in res.stderr
    assert "GOPROXY=off" in res.stderr or "module lookup disabled" in res.stderr


def test_missing_crd_is_explained(bare_cluster):
    res = run(AUTHORINO, "--state-dir", str(bare_cluster), "up")
    assert res.returncode == 2
    assert "the AuthConfig CRD (authconfigs.authorino.kuadrant.io) is not installed" in res.stderr


def test_invalid_and_busy_ports_are_refused(bare_cluster):
    mirror = Path(run([str(REPO / "scripts" / "mirror-path")]).stdout.strip())
    assert run(CONTROLPLANE, "--state-dir", str(bare_cluster), "install-crds",
               str(mirror / "crds" / "authorino")).returncode == 0
    res = run(AUTHORINO, "--state-dir", str(bare_cluster), "up", "--grpc-port", "70000")
    assert res.returncode == 2 and "--grpc-port 70000 is not a TCP port" in res.stderr
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = run(AUTHORINO, "--state-dir", str(bare_cluster), "up", "--http-port", str(port))
    assert res.returncode == 2
    assert f"port {port} (--http-port) is already in use" in res.stderr


def test_up_down_leaves_no_process(bare_cluster):
    res = run(AUTHORINO, "--state-dir", str(bare_cluster), "up")
    assert res.returncode == 0, res.stderr
    pid = json.loads(res.stdout)["pid"]
    assert Path(f"/proc/{pid}").exists()
    again = run(AUTHORINO, "--state-dir", str(bare_cluster), "up")
    assert again.returncode == 0 and "already running" in again.stderr
    assert run(AUTHORINO, "--state-dir", str(bare_cluster), "status").returncode == 0
    assert run(AUTHORINO, "--state-dir", str(bare_cluster), "down").returncode == 0
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert run(AUTHORINO, "--state-dir", str(bare_cluster), "status").returncode == 1
    # controlplane.py down also stops an Authorino that still runs
    res = run(AUTHORINO, "--state-dir", str(bare_cluster), "up")
    pid = json.loads(res.stdout)["pid"]
    assert run(CONTROLPLANE, "--state-dir", str(bare_cluster), "down").returncode == 0
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
