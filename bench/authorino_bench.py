"""Benchmark: tenant changes on the real Authorino v0.26.1, and Authorino with many tenant keys.

Starts its own test world (``python -m testworld up cluster platform``, free ports, state under .cache: the
control plane, KWOK nodes of the reference inventory, the mirror's CRDs), deploys Kuadrant with the collection
(GatewayClass ``eg`` + ``site.yml --tags kuadrant``, so the real kuadrant-operator 1.5.2 with limitador- and
authorino-operator runs) and starts Authorino. Each part uses a "site" (``testworld/kuadrant_site.py``): a
Gateway and HTTPRoute in a namespace of their own and the policies ``tier_policies`` writes for them; Authorino
serves the AuthConfig kuadrant-operator generated from that AuthPolicy, and is called over gRPC Check the way
wasm-shim does. Tenants are Secrets in ``kuadrant-system`` with the site's selector.

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
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testworld import authorino as authorino_tool
from testworld import kuadrant_site
from testworld.authorino_client import AuthorinoClient
from testworld.base import REPO, State, TestWorldError
from testworld.gobuild import binary

PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
COLLECTIONS = REPO / ".cache" / "collections"
# The hosts whose kubelets the world registers (as tests/conftest.py does): the reference topology.
REFERENCE_HOSTS = REPO / "inventory" / "example" / "hosts.yml"
TIERS = {"free": {"requests_per_minute": 10, "tokens_per_minute": 5000},
         "pro": {"requests_per_minute": 100, "tokens_per_minute": 50000}}
# Tenant modules: their failure output is withheld (it may hold keys).
SECRET_MODULES = {"tenant", "tenants"}


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def node_ready(node):
    status, spec = node.get("status") or {}, node.get("spec") or {}
    return (any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
            and not any(t["key"].startswith("node.kubernetes.io/") for t in spec.get("taints") or []))


class World:
    """The test world of the benchmark: cluster + platform controllers, Kuadrant deployed by the collection,
    Authorino; ``site()`` adds a site, ``tenants()`` runs the ``tenants`` module for one."""

    def __init__(self, state_dir: Path, work: Path, tiers=None):
        self.tiers = tiers or TIERS
        self.state_dir = state_dir.resolve()
        self.state = State(self.state_dir)
        self.work = work
        self.mirror = None
        self.client = None
        self.authorino = None
        self.plays = 0

    def testworld(self, *args, check=True):
        proc = subprocess.run([sys.executable, "-m", "testworld", "--state-dir", str(self.state_dir), *args],
                              capture_output=True, text=True, cwd=str(REPO), check=False)
        if check and proc.returncode != 0:
            raise TestWorldError(f"python -m testworld {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
        return proc

    def up(self):
        self.testworld("down", "--purge")  # a fresh cluster: leftovers would turn creates into no-ops
        self.testworld("up", "--port", "0", "--timeout", "180", "cluster", "platform")
        self.mirror = Path(subprocess.run([str(REPO / "scripts" / "mirror-path")], capture_output=True, text=True,
                                          check=True).stdout.strip())
        self.testworld("install-crds", str(self.mirror))
        self.testworld("register-nodes", "--inventory", str(REFERENCE_HOSTS))
        self.wait_nodes_ready(3, 90)
        kuadrant_site.deploy(self.apply, self.playbook)
        self.start_authorino()

    def wait_nodes_ready(self, at_least, timeout):
        """Every node Ready (KWOK's lease) and schedulable (the not-ready taint lifted), as tests/conftest.py waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.get_json("get", "nodes")["items"]
            if len(items) >= at_least and all(node_ready(node) for node in items):
                return
            time.sleep(0.5)
        raise TestWorldError(f"the nodes were not all Ready within {timeout}s")

    def start_authorino(self):
        if self.client:
            self.client.close()
        self.authorino = authorino_tool.up(self.state, timeout=600, log_level="error")
        self.client = AuthorinoClient(self.authorino["grpc_port"])

    def down(self):
        if self.client:
            self.client.close()
        self.testworld("down", "--purge", check=False)

    # -- cluster access (what kuadrant_site.Site is given)
    @property
    def env(self) -> dict:
        """ansible-playbook's environment against this world (tests/support/cluster.py ControlPlane.env)."""
        kubeconfig = str(self.state.kubeconfig)
        bindir = os.pathsep.join(sorted({str(binary("kubectl").parent), str(binary("helm").parent)}))
        return dict(os.environ, **{
            "KUBECONFIG": kubeconfig, "K8S_AUTH_KUBECONFIG": kubeconfig,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_INVENTORY": str(REPO / "inventory" / "local"),
            "ANSIBLE_COLLECTIONS_PATH": f"{COLLECTIONS}:{os.path.expanduser('~/.ansible/collections')}",
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
            "TOKENLABS_MIRROR": str(self.mirror),
            "TOKENLABS_TENANT_KEY_DIR": str(self.state_dir / "tenant-keys"),
            "PATH": bindir + os.pathsep + str(REPO / ".venv" / "bin") + os.pathsep + os.environ.get("PATH", ""),
        })

    def kubectl(self, *args, stdin=None, check=True):
        proc = subprocess.run([str(binary("kubectl")), f"--kubeconfig={self.state.kubeconfig}", *args], input=stdin,
                              capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise TestWorldError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def get_json(self, *args):
        """``kubectl get … -o json`` parsed, None when the object does not exist."""
        proc = self.kubectl(*args, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def apply(self, manifest: dict):
        self.kubectl("apply", "--server-side", "--field-manager=bench", "-f", "-", stdin=json.dumps(manifest))

    def playbook(self, *args, env=None):
        return subprocess.run([str(PLAYBOOK), *args], capture_output=True, text=True, env=dict(self.env, **(env or {})),
                              cwd=str(REPO), check=False)

    def module(self, name, params):
        """One ``tokenlabs.inference.<name>`` task; returns (result, time.monotonic() when ansible-playbook exited).
        A failure of a tenant module is reported without its output (it may hold keys)."""
        self.plays += 1
        play = self.work / f"play{self.plays}.json"
        vars_file = self.work / f"vars{self.plays}.json"
        vars_file.write_text(json.dumps({"bench_params": params}))
        args = {key: "{{ bench_params.%s }}" % key for key in params}
        play.write_text(json.dumps([{"name": "bench", "hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": [{
                                         "name": f"Run {name}", "no_log": False,
                                         f"tokenlabs.inference.{name}": args}]}]))
        proc = self.playbook(str(play), "-e", f"@{vars_file}", env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        returned = time.monotonic()
        vars_file.unlink()
        if proc.returncode != 0:
            if name in SECRET_MODULES:
                raise SystemExit(f"{name} run failed (output withheld: it may hold keys)")
            raise SystemExit(f"{name} run failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"], returned

    # -- sites and tenants
    def site(self, site_id):
        """A site (``testworld/kuadrant_site.py``) whose AuthConfig Authorino serves."""
        return kuadrant_site.Site(self.get_json, self.apply, lambda name, params: self.module(name, params)[0],
                                  site_id, self.tiers).create()

    def tenants(self, site, items):
        """One `tenants` module run for a site's tenants; returns (result, time.monotonic() when it returned)."""
        return self.module("tenants", {
            "tenants": items, "tiers": self.tiers, "namespace": site.kuadrant_ns, "selector": site.selector,
            "auth_policy_namespace": site.gateway_ns, "return_keys": True})


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
    site = world.site("propagation")
    authconfig = site.name
    items = [{"name": f"p{i:05d}", "tier": "free"} for i in range(n)]
    rows = []
    result, returned = world.tenants(site, items)
    keys = list(result["api_keys"].values())
    rows.append(("onboard -> accepted", wait_all(world, authconfig, keys, lambda d: d.allowed, returned)))
    result, returned = world.tenants(site, [dict(i, tier="pro") for i in items])
    assert result["authorino_refresh"]["authconfigs"] == [authconfig], result["authorino_refresh"]
    rows.append(("tier change -> new tier", wait_all(
        world, authconfig, keys, lambda d: d.allowed and d.identity.get("groups") == "pro", returned)))
    returned = world.tenants(site, [{"name": i["name"], "state": "absent"} for i in items])[1]
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
    site = world.site("scale")
    authconfig = site.name
    rows = []
    have = 0
    keys = []
    for n in sizes:
        items = [{"name": f"s{i:05d}", "tier": "free"} for i in range(have, n)]
        result = world.tenants(site, items)[0]
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
    except (TestWorldError, TimeoutError) as exc:
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
