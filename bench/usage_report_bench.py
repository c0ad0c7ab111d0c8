"""Benchmark: usage_report.yml (what an operator runs, the report and the metering check) for N tenants over a
month, against a real Prometheus (Debian's package) whose TSDB promtool filled from testworld.usage_data.

The generated month has the platform's series per tenant (the AI Gateway's token histogram per token type, Limitador's
limited_calls) and per model (vLLM's counters, the gateway's request counter); samples are written where a value
changes, plus the unchanged one a minute before each change and at every midnight -- the report's queries read the
same values from these as from a dense one-minute scrape, but Prometheus scans fewer samples than it would in a
dense TSDB (see the printout: series and samples).

    .venv/bin/python bench/usage_report_bench.py [--tenants 1000] [--days 30] [--runs 3]

Prints: generation, backfill and Prometheus start times, series and samples, then per run the wall time of
``ansible-playbook usage_report.yml`` (csv, json, md; png adds the matplotlib import) and its two module calls.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from testworld.prometheus import PrometheusServer, backfill
from testworld.usage_data import generate

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="usage-bench-"))
    try:
        started = time.monotonic()
        data = generate(date(2026, 11, 1), args.days, tenants=args.tenants, bypass={"Qwen/Qwen3-8B": 0.02})
        files = data.write_openmetrics(root / "openmetrics")
        generated = time.monotonic() - started
        samples = sum(len(s.samples) for s in data.series)
        started = time.monotonic()
        backfill(files, root / "prometheus" / "tsdb")
        filled = time.monotonic() - started
        shutil.rmtree(root / "openmetrics")
        started = time.monotonic()
        server = PrometheusServer(root / "prometheus")
        ready = time.monotonic() - started
        print(f"{args.tenants} tenants, {args.days} days: {len(data.series)} series, {samples} samples; generated in "
              f"{generated:.1f} s, promtool backfill {filled:.1f} s, Prometheus ready in {ready:.1f} s")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
        variables = {"tokenlabs_prometheus_url": server.url, "tokenlabs_usage_report_dir": str(root / "out"),
                     "tokenlabs_usage_report_formats": ["csv", "json", "md"]}
        walls = []
        try:
            for run in range(args.runs):
                started = time.monotonic()
                proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "usage_report.yml", "-e",
                                       json.dumps(variables), "-e", "usage_month=2026-11"], cwd=REPO, env=env,
                                      capture_output=True, text=True, check=False)
                walls.append(time.monotonic() - started)
                if proc.returncode != 0:
                    print(proc.stdout[-3000:], proc.stderr[-2000:], file=sys.stderr)
                    return 1
                tasks = [line.strip() for line in proc.stdout.splitlines()
                         if ("Write the usage report" in line or "Check the metering" in line) and "---" in line]
                print(f"run {run + 1}: ansible-playbook usage_report.yml {walls[-1]:.1f} s; " + "; ".join(tasks[-2:]))
        finally:
            server.stop()
        rows = len((root / "out" / "usage-2026-11.csv").read_text().splitlines()) - 1
        print(f"usage_report.yml for {rows} tenants: median {statistics.median(walls):.1f} s over {len(walls)} run(s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
