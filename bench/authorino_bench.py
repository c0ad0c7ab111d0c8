"""Benchmark: tenant changes on the real Authorino v0.24.0, and Authorino with many tenant keys.

Starts its own control plane and Authorino (testworld, free ports,
state under .cache), puts an AuthConfig of the collection's shape in front of
the tenants (the AuthPolicy ``tier_policies`` renders, translated the way
kuadrant-operator v1.4.3 does: testworld/kuadrant_translation.py) and
calls Authorino's gRPC Check the way wasm-shim does.

Propagation (``--tenants N``, default 100), each through one ``tenants`` module run:
  onboard -> key accepted, tier change -> new tier in the identity, revoke -> key refused;
  seconds from the module returning (ansible-playbook exit) until Authorino shows the change
  for each tenant, p50/p99 (0 = already in effect when the module returned).
Scale (``--sizes 1000,10000``): with N tenant Secrets, Authorino's time from start until it
  accepts a known key (its /readyz can say 200 earlier), its peak RSS (VmHWM), and p50/p99
  Check latency for a key it has and one it has not.

    .venv/bin/python bench/authorino_bench.py [--tenants 100] [--sizes 1000,10000] [--checks 500]

Prints a table per part. Keys stay in memory; none is printed or written.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from testworld import authorino as authorino_tool
from testworld import controlplane as cp
from testworld import kuadrant_translation as kt
from testworld.authorino_client import AuthorinoClient
from testworld.base import REPO, State, TestWorldError
from testworld.gobuild import binary

PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
SELECTOR = {"app": "token-labs"}
TIERS = {"free": {"requests_per_minute": 10, "tokens_per_minute": 5000},
         "pro": {"requests_per_minute": 100, "tokens_per_minute": 50000}}


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


class World:
    def __init__(self, state_dir: Path, work: Path, tiers=None):
        self.tiers = tiers or TIERS
        self.state = State(state_dir)
        self.work = work
        self.client = None
        self.authorino = None

    def up(self):
        cp.down(self.state, purge=True)  # a fresh cluster: leftovers would turn creates into no-ops
        cp.up(self.state, 0, 180)
        mirror = Path(subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True,
                                     check=True).stdout.strip())
        cp.install_crds(self.state, mirror / "crds" / "authorino")
        self.start_authorino()

    def start_authorino(self):
        if self.client:
            self.client.close()
        self.authorino = authorino_tool.up(self.state, timeout=600, log_level="error")
        self.client = AuthorinoClient(self.authorino["grpc_port"])

    def down(self):
        if self.client:
            self.client.close()
        cp.down(self.state, purge=True)

    def kubectl(self, *args, stdin=None):
        return cp.kubectl(self.state, *args) if stdin is None else subprocess.run(
            [str(binary("kubectl")), f"--kubeconfig={self.state.kubeconfig}", *args], input=stdin,
            capture_output=True, text=True, check=True)

    def site(self, namespace):
        """A Kuadrant namespace with the AuthConfig of our AuthPolicy; returns the AuthConfig name."""
        self.kubectl("create", "namespace", namespace)
        # The gateway namespace is part of the path, hence of the AuthConfig name and host: one per site.
        gateway_ns = f"gw-{namespace}"
        policy = policy_render.render_policies(self.tiers, "Gateway", "token-labs-gateway", gateway_ns, SELECTOR)[
            "AuthPolicy"]
        path = kt.path_id("eg", gateway_ns, "token-labs-gateway", "http", gateway_ns, "llm-inference", 0)
        authconfig = kt.authconfig_for(policy, path, namespace, gateway_ns, "llm-inference", 0)
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(authconfig))
        name = authconfig["metadata"]["name"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = json.loads(self.kubectl("get", "authconfig", name, "-n", namespace, "-o", "json").stdout).get(
                "status") or {}
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
                return name
            time.sleep(0.2)
        raise SystemExit(f"AuthConfig {namespace}/{name} not Ready")

    def tenants(self, namespace, items):
        """One `tenants` module run; returns (result, time.monotonic() when ansible-playbook exited)."""
        play = self.work / "tenants.yml"
        vars_file = self.work / "tenants-vars.json"
        vars_file.write_text(json.dumps({"bench_tenants": items}))
        play.write_text(json.dumps([{"name": "bench", "hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": [{
                                         "name": "Reconcile tenants", "no_log": False,
                                         "tokenlabs.inference.tenants": {
                                             "tenants": "{{ bench_tenants }}", "tiers": self.tiers,
                                             "namespace": namespace, "selector": SELECTOR,
                                             "return_keys": True}}]}]))
        env = dict(os.environ, K8S_AUTH_KUBECONFIG=str(self.state.kubeconfig),
                   ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
        proc = subprocess.run([str(PLAYBOOK), str(play), "-e", f"@{vars_file}"], capture_output=True, text=True,
                              env=env, cwd=str(REPO), check=False)
        returned = time.monotonic()
        if proc.returncode != 0:
            raise SystemExit("tenants run failed (output withheld: it may hold keys)")
        return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"], returned


def wait_all(world, authconfig, keys, predicate, since, timeout=120.0):
    """Seconds after ``since`` until ``predicate(decision)`` holds for each key (polled by 8 threads)."""
    pending = list(keys)
    lock = threading.Lock()
    done = {}
    deadline = time.monotonic() + timeout

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if not pending:
                    return
                key = pending.pop(0)
            if predicate(world.client.check(authconfig, headers={"authorization": f"Bearer {key}"})):
                with lock:
                    done[key] = max(0.0, time.monotonic() - since)
            else:
                with lock:
                    pending.append(key)

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(worker) for _thread in range(8)]:
            future.result()
    if len(done) != len(keys):
        raise SystemExit(f"{len(keys) - len(done)} of {len(keys)} keys never showed the change in {timeout}s")
    return list(done.values())


def propagation(world, n):
    ns = "bench-propagation"
    authconfig = world.site(ns)
    items = [{"name": f"p{i:05d}", "tier": "free"} for i in range(n)]
    rows = []
    result, returned = world.tenants(ns, items)
    keys = list(result["api_keys"].values())
    rows.append(("onboard -> accepted", wait_all(world, authconfig, keys, lambda d: d.allowed, returned)))
    result, returned = world.tenants(ns, [dict(i, tier="pro") for i in items])
    assert result["authorino_refresh"]["authconfigs"] == [authconfig], result["authorino_refresh"]
    rows.append(("tier change -> new tier", wait_all(
        world, authconfig, keys, lambda d: d.allowed and d.identity.get("groups") == "pro", returned)))
    returned = world.tenants(ns, [{"name": i["name"], "state": "absent"} for i in items])[1]
    rows.append(("revoke -> refused", wait_all(world, authconfig, keys, lambda d: d.http_status == 401, returned)))
    return rows


def latency(world, authconfig, key, count):
    samples = []
    header = {"authorization": f"Bearer {key}"}
    for _sample in range(count):
        start = time.perf_counter()
        world.client.check(authconfig, headers=header)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def scale(world, sizes, checks):
    ns = "bench-scale"
    authconfig = world.site(ns)
    rows = []
    have = 0
    keys = []
    for n in sizes:
        items = [{"name": f"s{i:05d}", "tier": "free"} for i in range(have, n)]
        result = world.tenants(ns, items)[0]
        keys += list(result["api_keys"].values())
        have = n
        authorino_tool.down(world.state)
        started = time.monotonic()
        world.start_authorino()
        # /readyz can answer 200 before the AuthConfig is even listed: "ready" here is the first
        # moment a known key (the last one loaded, say) is accepted.
        sample_key = keys[-1]
        while not world.client.check(authconfig, headers={"authorization": f"Bearer {sample_key}"}).allowed:
            if time.monotonic() - started > 600:
                raise SystemExit(f"Authorino did not accept a known key within 600 s with {n} tenants")
            time.sleep(0.01)
        ready = time.monotonic() - started
        sample_key = random.choice(keys)
        found = latency(world, authconfig, sample_key, checks)
        missing = latency(world, authconfig, "tlabs_sk_" + "0" * 64, checks)
        rows.append((n, ready, peak_rss_mb(world.authorino["pid"]), found, missing))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tenants", type=int, default=100, help="tenants for the propagation part (0 = skip)")
    parser.add_argument("--sizes", default="1000,10000", help="tenant counts for the scale part ('' = skip)")
    parser.add_argument("--checks", type=int, default=500, help="Check calls per latency figure")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".cache" / "bench-authorino")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    if args.tenants < 0 or any(s < 1 for s in sizes) or args.checks < 1:
        parser.error("--tenants must be >= 0, --sizes positive and --checks >= 1")
    work = Path(tempfile.mkdtemp(prefix="authorino-bench-", dir=str(REPO / ".cache")))
    world = World(args.state_dir, work)
    try:
        world.up()
        prop = propagation(world, args.tenants) if args.tenants else []
        sc = scale(world, sizes, args.checks) if sizes else []
    except TestWorldError as exc:
        raise SystemExit(f"authorino_bench: {exc}") from exc
    finally:
        world.down()
        shutil.rmtree(work, ignore_errors=True)
    if prop:
        print(f"\nPropagation, {args.tenants} tenants, one `tenants` run each "
              "(seconds after the module returned; 0 = already in effect):")
        print("| change | p50 (s) | p99 (s) | max (s) |")
        print("|---|---:|---:|---:|")
        for label, values in prop:
            print(f"| {label} | {percentile(values, 50):.3f} | {percentile(values, 99):.3f} | {max(values):.3f} |")
    if sc:
        print(f"\nAuthorino with N tenant Secrets ({args.checks} sequential gRPC Checks per figure):")
        print("| N | start -> serving (s) | peak RSS (MB) | key found p50 / p99 (ms) | key not found p50 / p99 (ms) |")
        print("|---:|---:|---:|---:|---:|")
        for n, ready, rss, found, missing in sc:
            print(f"| {n:,} | {ready:.2f} | {rss:.0f} | {percentile(found, 50):.2f} / {percentile(found, 99):.2f} | "
                  f"{percentile(missing, 50):.2f} / {percentile(missing, 99):.2f} |")


if __name__ == "__main__":
    main()
