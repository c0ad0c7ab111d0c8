"""Build and drive testworld/rust/quota_harness (wasm-shim v0.14.1's request path over Limitador v2.4.2's library).

    build()                      cargo build --release --locked, cached in $TOKENLABS_CACHE/cargo-target
    QuotaHarness(storage)        one harness process ("memory" or a redis:// URL); .configure/.route/.request
    count_with_limitador_v2_3()  requests counted by Limitador v2.3.0's library (the reference set's Limitador),
                                 testworld/rust/counter_probe_v2_3, on a Redis the harness then shares

The harness gets, per request, the identity the real Authorino returned (see
``send`` below); everything after that -- predicates, descriptors, counting --
happens in the crates wasm-shim and Limitador are built from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from testworld.base import CACHE, PACKAGE, REPO, TestWorldError

CRATE = PACKAGE / "rust" / "quota_harness"
PROBE_CRATE = PACKAGE / "rust" / "counter_probe_v2_3"
TARGET = CACHE / "cargo-target"
BINARY = TARGET / "release" / "quota-harness"
PROBE_BINARY = TARGET / "release" / "counter-probe-v2-3"


class HarnessError(TestWorldError):
    """A failure of the harness, with a message meant for the operator."""


def build() -> Path:
    """Build the harness (a no-op when cargo finds it up to date); returns the binary."""
    cargo = shutil.which("cargo")
    if not cargo:
        raise HarnessError("cargo is missing: the quota conformance tests build testworld/rust/quota_harness (Rust) "
                           "with it; install Rust (rustup or the Debian cargo package)")
    prerequisites = subprocess.run([sys.executable, str(REPO / "scripts" / "prerequisites.py"), "conformance"],
                                   capture_output=True, text=True, check=False)
    if prerequisites.returncode != 0:
        raise HarnessError(f"the quota harness cannot be built here:\n{prerequisites.stderr.strip()}")
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    for crate in (CRATE, PROBE_CRATE):
        proc = subprocess.run([cargo, "build", "--release", "--locked", "--quiet", "--manifest-path",
                               str(crate / "Cargo.toml")], env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HarnessError(f"cargo build of testworld/rust/{crate.name} failed:\n{proc.stderr[-4000:]}")
    return BINARY


def count_with_limitador_v2_3(storage: str, limits: list, namespace: str, descriptors: list, requests: int) -> list:
    """Send ``requests`` ShouldRateLimit hits through Limitador v2.3.0's library on ``storage`` (a redis:// URL);
    whether each was limited."""
    proc = subprocess.run([str(PROBE_BINARY)], input=json.dumps({
        "storage": storage, "limits": limits, "namespace": namespace, "descriptors": descriptors,
        "requests": requests}), capture_output=True, text=True, check=False, timeout=60)
    answer = json.loads(proc.stdout or "{}") if proc.returncode == 0 else {"error": proc.stderr[-2000:]}
    if "error" in answer or "limited" not in answer:
        raise HarnessError(f"counter-probe-v2-3: {answer.get('error', answer)}")
    return answer["limited"]


class QuotaHarness:
    def __init__(self, binary: Path = BINARY):
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)

    def call(self, **op) -> dict:
        self.proc.stdin.write(json.dumps(op) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise HarnessError(f"quota-harness exited: {self.proc.stderr.read()[-2000:]}")
        return json.loads(line)

    def configure(self, plugin: dict, limits: list, storage: str = "memory") -> dict:
        answer = self.call(op="configure", plugin=plugin, limits=limits, storage=storage)
        if "error" in answer:
            raise HarnessError(f"configure: {answer['error']}")
        return answer

    def eval(self, expression: str, **attributes) -> dict:
        return self.call(op="eval", expression=expression, attributes=attributes)

    def route(self, request: dict) -> dict:
        return self.call(op="route", request=request)

    def request(self, request: dict, identity: dict | None, response: dict | None = None) -> dict:
        """The request's limit actions; without ``response``, those that wait for it are left and the answer's
        ``deferred`` says where they begin (for :meth:`respond`)."""
        return self.call(op="request", request=request, identity=identity, response=response)

    def respond(self, request: dict, identity: dict | None, response: dict, deferred: int) -> dict:
        """The actions a request-phase call left (from ``deferred``), on the response (``content_type``, ``body``)."""
        return self.call(op="request", request=request, identity=identity, response=response, resume=deferred)

    def counters(self, namespace: str) -> list:
        return self.call(op="counters", namespace=namespace)["counters"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def send(authorino, harness: QuotaHarness, key: str | None, method: str = "POST", path: str = "/v1/chat/completions",
         host: str = "inference.token-labs.local", response: dict | None = None) -> dict:
    """One request through the gateway's policy layer, as wasm-shim runs it.

    Route selection and the auth action's predicates in the harness; if they
    say so, the real Authorino (``authorino``: an AuthorinoClient); then the
    limit actions with Authorino's identity. Returns ``{"status", ...}``.
    """
    headers = {"authorization": f"Bearer {key}"} if key else {}
    request = {"method": method, "path": path, "host": host, "headers": headers}
    route = harness.route(request)
    if route.get("status") == 500:  # the pipeline cannot be built (a route predicate error, no host)
        return {"status": 500, "errors": [route["error"]], "authorino_called": False}
    identity = None
    auth = route.get("auth") or {}
    if auth.get("error"):
        return {"status": 500, "errors": [auth["error"]], "authorino_called": False}
    if auth.get("call"):
        decision = authorino.check(auth["scope"], method=method, path=path, headers=headers, host=host)
        if not decision.allowed:
            return {"status": decision.http_status, "authorino_called": True}
        identity = decision.identity
    result = harness.request(request, identity, response)
    result["authorino_called"] = bool(auth.get("call"))
    return result
