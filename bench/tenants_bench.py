"""Benchmark: onboarding N tenants as users do (tenants.yml), the tenants module alone, and kubernetes.core.k8s.

Starts its own control plane (testworld.controlplane, --port 0, state under .cache),
then for every N measures the wall time of the whole ansible-playbook run and
the number of writes the API server logged (audit log), for a first apply and
for an unchanged rerun, plus the peak RSS our module reports (stats.peak_rss_kb):
``tenants.yml`` with inventory/local (the role path: platform defaults, the
tenants role and its key report), a play that calls the module alone, and
kubernetes.core.k8s.

    .venv/bin/python bench/tenants_bench.py [--sizes 100,1000,10000] [--k8s-max 1000] [--loop-max 100]

kubernetes.core.k8s gets one task with a list of definitions (the fast way to use it)
for N <= --k8s-max, and a `loop:` over definitions for N <= --loop-max. Prints a table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from testworld import audit
from testworld.base import REPO
from testworld.gobuild import binary

PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
TIERS = {"free": {}, "pro": {}, "enterprise": {}}


class Bench:
    def __init__(self, state_dir: Path, work: Path):
        self.state_dir = state_dir
        self.work = work
        self.base = [sys.executable, "-m", "testworld", "--state-dir", str(state_dir)]

    def up(self):
        # a fresh cluster every time: leftovers of an earlier run would turn creates into no-ops
        subprocess.run(self.base + ["down", "--purge"], capture_output=True, text=True, check=False)
        proc = subprocess.run(self.base + ["up", "--port", "0", "--timeout", "180"], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise SystemExit("control plane did not start:\n" + proc.stderr)
        info = json.loads((self.state_dir / "state.json").read_text())
        self.kubeconfig = info["kubeconfig"]
        self.audit_log = Path(info["audit_log"])
        self.audit = audit
        self.kubectl_bin = str(binary("kubectl"))

    def down(self):
        subprocess.run(self.base + ["down", "--purge"], capture_output=True, text=True, check=False)

    def kubectl(self, *args):
        return subprocess.run([self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args], capture_output=True,
                              text=True, check=True)

    def mark(self):
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def writes_since(self, mark, namespace):
        """Secret writes in ``namespace`` after ``mark``, once the audit log has caught up."""
        sentinel = "sentinel-" + uuid.uuid4().hex[:8]
        writes = self.audit.settled_audit_writes(
            self.audit_log, mark, sentinel=sentinel, timeout=60,
            make_sentinel=lambda: self.kubectl("create", "configmap", sentinel, "-n", namespace))
        return sum(1 for w in writes if (w.get("objectRef") or {}).get("namespace") == namespace
                   and (w.get("objectRef") or {}).get("resource") == "secrets")

    def play(self, name, tasks, extra_vars):
        vars_file = self.work / (name + "-vars.json")
        vars_file.write_text(json.dumps(extra_vars))
        play_file = self.work / (name + ".yml")
        play_file.write_text(json.dumps([{"name": name, "hosts": "localhost", "connection": "local",
                                          "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, K8S_AUTH_KUBECONFIG=self.kubeconfig, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        start = time.time()
        proc = subprocess.run([str(PLAYBOOK), str(play_file), "-e", "@%s" % vars_file], capture_output=True,
                              text=True, env=env, cwd=str(REPO), check=False)
        elapsed = time.time() - start
        if proc.returncode != 0:
            raise RuntimeError("%s failed:\n%s\n%s" % (name, proc.stdout[-3000:], proc.stderr[-3000:]))
        doc = json.loads(proc.stdout)
        result = doc["plays"][0]["tasks"][-1]["hosts"]["localhost"]
        return elapsed, result

    def playbook(self, name, playbook, extra_vars):
        """``ansible-playbook <playbook> -i inventory/local``: returns (seconds, the tenants task's result)."""
        vars_file = self.work / (name + "-vars.json")
        vars_file.write_text(json.dumps(extra_vars))
        env = dict(os.environ, K8S_AUTH_KUBECONFIG=self.kubeconfig, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        start = time.time()
        proc = subprocess.run([str(PLAYBOOK), str(REPO / playbook), "-i", str(REPO / "inventory" / "local"),
                               "-e", "@%s" % vars_file], capture_output=True, text=True, env=env, cwd=str(REPO),
                              check=False)
        elapsed = time.time() - start
        if proc.returncode != 0:
            raise RuntimeError("%s failed:\n%s\n%s" % (name, proc.stdout[-3000:], proc.stderr[-3000:]))
        tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
        result = next(t["hosts"]["localhost"] for t in tasks if t["task"]["name"].endswith("Reconcile the tenants"))
        return elapsed, result

    def measure(self, label, namespace, tasks, extra_vars, playbook=None):
        rows = []
        for phase in ("first apply", "unchanged rerun"):
            mark = self.mark()
            name = "%s-%s" % (label, phase.split()[0])
            elapsed, result = (self.playbook(name, playbook, extra_vars) if playbook
                               else self.play(name, tasks, extra_vars))
            writes = self.writes_since(mark, namespace)
            rss = (result.get("stats") or {}).get("peak_rss_kb")
            rows.append((phase, elapsed, writes, result.get("changed"), rss))
        return rows


def secret_definition(namespace, i, tier):
    key = "tlabs_sk_" + secrets.token_hex(32)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "tenant-t%05d" % i, "namespace": namespace,
                         "labels": {"authorino.kuadrant.io/managed-by": "authorino", "app": "token-labs"},
                         "annotations": {"kuadrant.io/groups": tier, "secret.kuadrant.io/user-id": "t%05d" % i}},
            "data": {"api_key": base64.b64encode(key.encode()).decode()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--k8s-max", type=int, default=1000,
                        help="largest N for kubernetes.core.k8s with a definition list (10000 takes long)")
    parser.add_argument("--loop-max", type=int, default=100, help="largest N for kubernetes.core.k8s in a loop")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".cache" / "bench-controlplane")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tiers = sorted(TIERS)

    work = Path(tempfile.mkdtemp(prefix="tenants-bench-", dir=str(REPO / ".cache")))
    bench = Bench(args.state_dir, work)
    bench.up()
    table = []
    try:
        for n in sizes:
            ns = "bench-role-%d" % n
            bench.kubectl("create", "namespace", ns)
            tenants = [{"name": "t%05d" % i, "tier": tiers[i % 3]} for i in range(n)]
            role_vars = {"tokenlabs_tenants": tenants, "tokenlabs_kuadrant_namespace": ns,
                         "tokenlabs_tenant_key_dir": str(work / ("keys-role-%d" % n))}
            for row in bench.measure("role-%d" % n, ns, None, role_vars, playbook="tenants.yml"):
                table.append((n, "tenants.yml (role, what users run)") + row)
            print_row(table[-2]), print_row(table[-1])

            ns = "bench-ours-%d" % n
            bench.kubectl("create", "namespace", ns)
            tenants = [{"name": "t%05d" % i, "tier": tiers[i % 3]} for i in range(n)]
            task = {"name": "Reconcile tenants", "tokenlabs.inference.tenants": {
                "tenants": "{{ bench_tenants }}", "tiers": TIERS, "namespace": ns,
                "key_dir": str(work / ("keys-%d" % n))}}
            for row in bench.measure("ours-%d" % n, ns, [task], {"bench_tenants": tenants}):
                table.append((n, "tokenlabs.inference.tenants (module alone)") + row)
            print_row(table[-2]), print_row(table[-1])

            if n <= args.k8s_max:
                ns = "bench-k8s-%d" % n
                bench.kubectl("create", "namespace", ns)
                defs = [secret_definition(ns, i, tiers[i % 3]) for i in range(n)]
                task = {"name": "Apply Secrets",
                        "kubernetes.core.k8s": {"state": "present", "definition": "{{ bench_defs }}"}}
                for row in bench.measure("k8s-%d" % n, ns, [task], {"bench_defs": defs}):
                    table.append((n, "kubernetes.core.k8s (list)") + row)
                print_row(table[-2]), print_row(table[-1])
            else:
                table.append((n, "kubernetes.core.k8s (list)", "skipped (--k8s-max %d)" % args.k8s_max,
                              None, None, None, None))
            if n <= args.loop_max:
                ns = "bench-loop-%d" % n
                bench.kubectl("create", "namespace", ns)
                defs = [secret_definition(ns, i, tiers[i % 3]) for i in range(n)]
                task = {"name": "Apply Secrets one by one", "kubernetes.core.k8s": {
                    "state": "present", "definition": "{{ item }}"}, "loop": "{{ bench_defs }}",
                    "loop_control": {"label": "{{ item.metadata.name }}"}}
                for row in bench.measure("loop-%d" % n, ns, [task], {"bench_defs": defs}):
                    table.append((n, "kubernetes.core.k8s (loop)") + row)
                print_row(table[-2]), print_row(table[-1])
    finally:
        bench.down()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| N | method | run | wall time (s) | writes | changed | peak RSS (MB) |")
    print("|---:|---|---|---:|---:|---|---:|")
    for row in table:
        print(format_row(row))
    print()
    for n in sizes:
        for phase in ("first apply", "unchanged rerun"):
            role = [r[3] for r in table if r[0] == n and r[1].startswith("tenants.yml") and r[2] == phase]
            module = [r[3] for r in table if r[0] == n and r[1].startswith("tokenlabs.inference") and r[2] == phase]
            if role and module:
                print("N=%d %s: tenants.yml takes %.2fx the module call" % (n, phase, role[0] / module[0]))


def format_row(row):
    n, method, phase, elapsed, writes, changed, rss = row
    if elapsed is None:
        return "| %d | %s | %s | | | | |" % (n, method, phase)
    return "| %d | %s | %s | %.2f | %d | %s | %s |" % (
        n, method, phase, elapsed, writes, changed, "%.0f" % (rss / 1024.0) if rss else "-")


def print_row(row):
    print(format_row(row), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
