"""Benchmark: the reference deployment's site.yml on the test world's cluster, every workload wait on.

Starts a cluster of its own (``python -m testworld up cluster``: kube-apiserver + etcd, kube-scheduler,
kube-controller-manager, KWOK, the NVIDIA stand-ins; state under .cache/bench-site), installs the mirror's CRDs,
registers the reference inventory's hosts, then times what an operator runs -- ``ansible-playbook site.yml -i
inventory/local`` with inventory/example's catalog (five models, Magpie TTS) -- for the first converge, the rerun
and ``--check --diff``, with the changes Ansible reports and the writes the collection sent (audit log, users
other than the cluster's own ``system:`` components). Then prints the resident memory of every process of the
test world while the reference catalog runs.

    .venv/bin/python bench/site_bench.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml

from testworld import audit
from testworld.base import REPO, State
from testworld.gobuild import binary

RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
STATE = REPO / ".cache" / "bench-site"


def world(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "testworld", "--state-dir", str(STATE), *args],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"python -m testworld {' '.join(args)} failed:\n{proc.stderr}")


def rss_mb(pid: int | None) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return None


def processes(state: State) -> dict:
    """Process name -> pid of every running part of the test world."""
    info = json.loads((state.root / "state.json").read_text())
    pids = {"kube-apiserver": info.get("apiserver_pid"), "etcd": info.get("etcd_pid")}
    for path in sorted(state.root.glob("*.json")):
        if path.name != "state.json" and not path.name.endswith(".status.json"):
            pids[path.stem] = (json.loads(path.read_text()) or {}).get("pid")
    return {name: pid for name, pid in pids.items() if pid}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    args = parser.parse_args(argv)
    world("down", "--purge")
    started = time.monotonic()
    world("up", "--port", "0", "--timeout", "180", "cluster", "platform")
    mirror = subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True,
                            check=True).stdout.strip()
    world("install-crds", mirror)
    world("register-nodes", "--inventory", str(REPO / "inventory" / "example" / "hosts.yml"))
    print(f"cluster up, CRDs installed, nodes registered: {time.monotonic() - started:.1f} s")
    state = State(STATE)
    kubeconfig = str(state.kubeconfig)
    audit_log = Path(json.loads((STATE / "state.json").read_text())["audit_log"])
    kubectl = str(binary("kubectl"))
    example = yaml.safe_load((REPO / "inventory" / "example" / "group_vars" / "all" / "main.yml").read_text())
    extra = STATE / "reference-catalog.json"
    extra.write_text(json.dumps({"tokenlabs_models": example["tokenlabs_models"],
                                 "tokenlabs_services": example["tokenlabs_services"],
                                 "tokenlabs_helm_binary": str(binary("helm"))}))
    env = dict(os.environ, KUBECONFIG=kubeconfig, K8S_AUTH_KUBECONFIG=kubeconfig, TOKENLABS_MIRROR=mirror,
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), TOKENLABS_TENANT_KEY_DIR=str(STATE / "tenant-keys"),
               PATH=os.pathsep.join([str(binary("kubectl").parent), str(binary("helm").parent),
                                     str(REPO / ".venv" / "bin"), os.environ.get("PATH", "")]))

    def client_writes(mark):
        sentinel = "sentinel-" + uuid.uuid4().hex[:8]
        writes = audit.settled_audit_writes(
            audit_log, mark, sentinel=sentinel, timeout=60,
            make_sentinel=lambda: subprocess.run([kubectl, "--kubeconfig", kubeconfig, "create", "configmap",
                                                  sentinel, "-n", "default"], capture_output=True, check=True))
        return sum(1 for w in writes if not (w.get("user") or {}).get("username", "").startswith("system:"))

    rows = []
    for label, extra_args in (("first converge", []), ("rerun", []), ("--check --diff", ["--check", "--diff"])):
        mark = audit_log.stat().st_size
        begin = time.monotonic()
        proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "site.yml", "-i", "inventory/local",
                               "-e", "@" + str(extra), *extra_args], capture_output=True, text=True, env=env,
                              cwd=str(REPO), check=False)
        elapsed = time.monotonic() - begin
        if proc.returncode != 0:
            raise SystemExit(f"site.yml ({label}) failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        recap = RECAP.search(proc.stdout)
        rows.append((label, elapsed, int(recap[2]), client_writes(mark)))

    pods = json.loads(subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-A", "-o", "json"],
                                     capture_output=True, text=True, check=True).stdout)["items"]
    print(f"\nsite.yml -i inventory/local with inventory/example's catalog ({len(example['tokenlabs_models'])} models, "
          f"{len(example['tokenlabs_services'])} service), every workload wait on; {len(pods)} pods running "
          "afterwards\n")
    print("| run | wall time (s) | changed | writes by the collection |")
    print("|---|---|---|---|")
    for label, elapsed, changed, writes in rows:
        print(f"| {label} | {elapsed:.1f} | {changed} | {writes} |")
    print("\n| test-world process | RSS (MB) |")
    print("|---|---|")
    total = 0.0
    for name, pid in processes(state).items():
        rss = rss_mb(pid)
        total += rss or 0
        print(f"| {name} | {rss:.0f} |" if rss is not None else f"| {name} | not running |")
    print(f"| **total** | **{total:.0f}** |")
    if not args.keep:
        world("down", "--purge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
