"""redis-server on 127.0.0.1 (the Debian package), the storage Limitador counts in, stopped by pid.

Used by the quota conformance tests (Limitador's Redis storage through the quota harness) and the
quota bench; its state and log live in a directory of the caller's.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from testworld.base import TestWorldError
from testworld.supervision import stop_child


class RedisServer:
    """redis-server on 127.0.0.1 and a free port, no persistence files outside ``directory``."""

    def __init__(self, directory: Path):
        binary = shutil.which("redis-server")
        if not binary:
            raise TestWorldError("redis-server is missing: the quota conformance tests start one on loopback; "
                                 "install the Debian package redis-server (scripts/prerequisites.py does)")
        directory.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = directory / "redis.log"
        self.proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(directory),
                                      "--save", "", "--appendonly", "no", "--logfile", str(self.log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise TestWorldError(f"redis-server did not start on 127.0.0.1:{self.port}: {self.log.read_text()[-1000:]}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_child(self.proc)
