"""A real Prometheus server (Debian's ``prometheus`` package) on 127.0.0.1, its TSDB backfilled with ``promtool``.

The usage report, the metering check and the dashboards query Prometheus' HTTP API; here they query this one. Its
data comes from OpenMetrics text (e.g. :mod:`testworld.usage_data`'s generated month of Limitador and vLLM
counters), turned into TSDB blocks by ``promtool tsdb create-blocks-from openmetrics`` -- upstream's backfill path
(``cmd/promtool/backfill.go``) -- before the server starts, so the server reads them as it reads its own blocks.
Retention is ten years (the default 15 days would delete a backfilled month). No scrape targets unless given.

    server = PrometheusServer(directory)               # empty TSDB
    backfill(openmetrics_files, directory / "tsdb")   # before starting it
    server = PrometheusServer(directory)               # then server.url -> http://127.0.0.1:<port>
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from testworld.base import TestWorldError
from testworld.supervision import stop_child

PACKAGE_HINT = "install the Debian package prometheus (scripts/prerequisites.py does)"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise TestWorldError(f"{name} is missing: {PACKAGE_HINT}")
    return found


def backfill(openmetrics_files, tsdb: Path, block_hours: int = 24) -> None:
    """Each OpenMetrics file (ending ``# EOF``) into TSDB blocks of at most ``block_hours`` under ``tsdb``.

    promtool reads a whole file into memory and passes over it once per block, so callers write one file per
    block-sized slice of time (a day by default)."""
    promtool = _tool("promtool")
    tsdb.mkdir(parents=True, exist_ok=True)
    for path in openmetrics_files:
        proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics",
                               f"--max-block-duration={block_hours}h", str(path), str(tsdb)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TestWorldError(f"promtool could not backfill {path}: {proc.stderr.strip()[-2000:]}")


class PrometheusServer:
    """prometheus on 127.0.0.1 and a free port with its TSDB in ``directory / "tsdb"``; ``scrape``: optional
    ``{job: ["127.0.0.1:port", ...]}`` scraped every ``scrape_interval``."""

    def __init__(self, directory: Path, scrape: dict | None = None, scrape_interval: str = "5s"):
        binary = _tool("prometheus")
        directory.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = directory / "prometheus.yml"
        jobs = "".join(f"  - job_name: {job}\n    static_configs:\n      - targets: {list(targets)!r}\n"
                       for job, targets in (scrape or {}).items())
        config.write_text(f"global:\n  scrape_interval: {scrape_interval}\n"
                          + (f"scrape_configs:\n{jobs}" if jobs else "scrape_configs: []\n"))
        self.log = directory / "prometheus.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                                          "--storage.tsdb.retention.time=10y",
                                          f"--web.listen-address=127.0.0.1:{self.port}"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise TestWorldError(f"prometheus did not become ready on 127.0.0.1:{self.port}: "
                             f"{self.log.read_text(errors='replace')[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_child(self.proc)
