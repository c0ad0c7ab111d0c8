"""Bad input to the quota harness set-up: cargo or redis-server missing -> a clear message, non-zero exit."""

import os
import subprocess
from pathlib import Path

import pytest

from testworld import quota_harness as qh
from testworld.base import TestWorldError
from testworld.redis import RedisServer

REPO = Path(__file__).resolve().parents[2]


def test_missing_cargo_is_explained():
    env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")  # no ~/.cargo/bin
    env.pop("CARGO_HOME", None)
    if any(Path(d, "cargo").exists() for d in env["PATH"].split(":")):
        pytest.skip("cargo is installed system-wide here")
    proc = subprocess.run([str(REPO / "scripts" / "bootstrap-conformance")], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 2
    assert "cargo is missing" in proc.stderr


def test_missing_redis_server_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(TestWorldError, match="redis-server is missing"):
        RedisServer(tmp_path / "redis")
    with pytest.raises(qh.HarnessError, match="cargo is missing"):
        qh.build()
