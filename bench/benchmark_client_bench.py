"""What the benchmark job's client can absorb: CPU per streamed token and the most tokens/s it can time.

A benchmark is only as good as its client: if the client spends its CPU parsing chunks, measured
ITL grows and decode tok/s saturates at the client's limit instead of the engine's. This starts the
test server (testworld/openai_server.py) as a separate process with no delays, streams
``--output-tokens`` one-token chunks per request through the collection's load generator
(plugins/module_utils/_jobs/benchmark_load.py) at each concurrency, and prints per level the tokens/s
seen, the client's CPU time per token (its own process only) and the token rate that CPU cost
allows on one core, plus the client's peak RSS.

    .venv/bin/python bench/benchmark_client_bench.py [--concurrency 1,16,64] [--output-tokens 256]

The server is Python too and shares the machine's cores, so "tokens/s seen" is a floor; the CPU
per token is the client's own cost.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_load as load
from testworld.openai_server import ServerProcess


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--output-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(tmp, models="test-model", ttft_ms=0, itl_ms=0)
        try:
            print("| concurrency | requests | tokens | wall s | tokens/s seen | client CPU µs/token | tokens/s per core |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                count = concurrency * args.rounds
                bodies = [load.request_body("test-model", 64, args.output_tokens, i, {"ignore_eos": True})
                          for i in range(count)]
                cpu = time.process_time()
                results, wall = load.run_level(server.url, load.headers_for("bench", None), True, 120, bodies,
                                               concurrency)
                cpu = time.process_time() - cpu
                failed = [r.error for r in results if not r.ok]
                if failed:
                    raise SystemExit("requests failed: %s" % failed[:3])
                tokens = sum(r.completion_tokens for r in results)
                print("| %d | %d | %d | %.2f | %.0f | %.1f | %.0f |" % (
                    concurrency, count, tokens, wall, tokens / wall, cpu / tokens * 1e6, tokens / cpu))
        finally:
            server.stop()
    print("\nclient peak RSS: %.0f MB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))


if __name__ == "__main__":
    main()
