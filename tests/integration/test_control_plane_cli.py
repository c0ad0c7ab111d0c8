"""Bad input to the control-plane entry point: clear message, non-zero exit, never a hang."""

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "testworld"]


def run(*args, env=None, timeout=60):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def test_port_in_use_is_refused(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = run("--state-dir", str(tmp_path), "up", "--port", str(port))
    assert res.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in res.stderr
    assert "--port" in res.stderr


def test_invalid_port_is_refused(tmp_path):
    res = run("--state-dir", str(tmp_path), "up", "--port", "70000")
    assert res.returncode == 2
    assert "--port 70000 is not a TCP port" in res.stderr


def test_missing_go_toolchain_is_explained(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin", TOKENLABS_CACHE=str(tmp_path / "empty-cache"))
    env = {k: v for k, v in env.items() if k not in ("GOROOT",)}
    res = run("build", env=env)
    assert res.returncode == 2
    assert "the Go toolchain is missing" in res.stderr


def test_missing_mirror_is_explained(tmp_path):
    res = run("--state-dir", str(tmp_path), "install-crds", str(tmp_path / "no-such-mirror"))
    assert res.returncode == 2
    assert "no-such-mirror" in res.stderr and "crds/" in res.stderr


def test_status_and_kubeconfig_when_stopped(tmp_path):
    res = run("--state-dir", str(tmp_path), "status")
    assert res.returncode == 1 and "stopped" in res.stdout
    res = run("--state-dir", str(tmp_path), "kubeconfig")
    assert res.returncode == 2 and "run `python -m testworld up` first" in res.stderr


def test_up_down_leaves_no_process(tmp_path):
    res = run("--state-dir", str(tmp_path), "up", "--port", "0", timeout=180)
    assert res.returncode == 0, res.stderr
    import json
    info = json.loads((tmp_path / "state.json").read_text())
    pids = [info["apiserver_pid"], info["etcd_pid"]]
    assert all(Path(f"/proc/{p}").exists() for p in pids)
    again = run("--state-dir", str(tmp_path), "up", "--port", "0")  # idempotent: already running
    assert again.returncode == 0 and "already running" in again.stderr
    assert run("--state-dir", str(tmp_path), "status").returncode == 0
    res = run("--state-dir", str(tmp_path), "down", "--purge")
    assert res.returncode == 0
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert not tmp_path.exists() or not (tmp_path / "state.json").exists()
