"""Benchmark: the cost of the policy layer per request -- Authorino's decision plus the limit decision.

Starts its own test world like bench/authorino_bench.py (cluster + platform controllers, Kuadrant deployed by the
collection, so the real kuadrant-operator 1.5.2 runs; Authorino v0.26.1), one site
(``testworld/kuadrant_site.py``: Gateway, HTTPRoute and the policies ``tier_policies`` writes) with one tenant per
tier, and the quota harness (testworld/rust/quota_harness: wasm-shim v0.14.1's request path -- its CEL crate
``cel`` 0.14.0 -- over Limitador's library ``limitador`` 0.12.0, in-memory storage or a real redis-server)
configured with the wasm-shim plugin configuration and the Limitador limits kuadrant-operator generated for the
site (``testworld/kuadrant_outputs.py``). Sends ``--requests`` requests one after another through
``quota_harness.send`` (route + auth predicates, gRPC Check, limit actions with descriptors, Limitador
check-and-update, token report). Limits are set high so no request is refused. Prints requests/s and p50/p99
latency per storage.

    .venv/bin/python bench/quota_bench.py [--requests 2000] [--storage memory,redis]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench import authorino_bench as ab  # World, percentile()
from testworld import quota_harness as qh
from testworld.base import REPO, TestWorldError
from testworld.redis import RedisServer

BIG = {"requests_per_minute": 10_000_000, "tokens_per_minute": 1_000_000_000}
TIERS = {"free": BIG, "pro": BIG}


def configure(harness, site, storage):
    """The harness with the plugin config and Limitador limits kuadrant-operator generated for ``site`` (once they
    reflect its policies)."""
    plugin, limits = site.quota_config()
    harness.configure(plugin, limits, storage)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--storage", default="memory,redis")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".cache" / "bench-quota")
    args = parser.parse_args(argv)
    storages = [s for s in args.storage.split(",") if s]
    if args.requests < 1 or not set(storages) <= {"memory", "redis"} or not storages:
        parser.error("--requests >= 1 and --storage a list of memory, redis")
    binary = qh.build()
    work = Path(tempfile.mkdtemp(prefix="quota-bench-", dir=str(REPO / ".cache")))
    world = ab.World(args.state_dir, work, tiers=TIERS)
    rows = []
    redis = None
    try:
        world.up()
        site = world.site("quota")
        result, _returned = world.tenants(site, [{"name": "q-free", "tier": "free"}, {"name": "q-pro", "tier": "pro"}])
        keys = list(result["api_keys"].values())
        ab.wait_all(world, site.name, keys, lambda d: d.allowed, time.monotonic())  # Authorino has the keys
        usage = {"content_type": "application/json",
                 "body": json.dumps({"usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}})}
        for storage in storages:
            url = "memory"
            if storage == "redis":
                redis = RedisServer(work / "redis")
                url = redis.url
            harness = qh.QuotaHarness(binary)
            try:
                configure(harness, site, url)
                samples = []
                started = time.perf_counter()
                for i in range(args.requests):
                    t0 = time.perf_counter()
                    answer = qh.send(world.client, harness, keys[i % len(keys)], response=usage)
                    samples.append((time.perf_counter() - t0) * 1000)
                    if answer["status"] != 200 or answer.get("errors"):
                        raise SystemExit(f"request {i} was not allowed cleanly: {answer}")
                elapsed = time.perf_counter() - started
            finally:
                harness.close()
            rows.append((storage, args.requests / elapsed, ab.percentile(samples, 50), ab.percentile(samples, 99)))
    except (TestWorldError, TimeoutError) as exc:
        raise SystemExit(f"quota_bench: {exc}") from exc
    finally:
        if redis:
            redis.stop()
        world.down()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nPolicy layer per request ({args.requests} sequential requests, 2 tenants; Authorino gRPC Check + "
          "route/limit predicates + Limitador check-and-update + token report):")
    print("| Limitador storage | requests/s | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|")
    for storage, rate, p50, p99 in rows:
        print(f"| {storage} | {rate:.0f} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
