"""The conformance world: the engines that enforce tenants' keys, next to the local control plane.

* the session's cluster (``tests/conftest.py``: kube-apiserver + etcd, scheduler, controller-manager, KWOK
  nodes, the current set's controllers) with the mirrored CRDs;
* Kuadrant deployed by the collection (``site.yml --tags kuadrant``): the real kuadrant-operator v1.5.2 with
  limitador-operator and authorino-operator (``testworld/kuadrant.py``) turns the policies into AuthConfigs,
  Limitador limits and the wasm-shim configuration;
* Authorino v0.26.1 built from its Go module and run out of cluster (``testworld/authorino.py``), cluster-wide
  with the flags authorino-operator gives Kuadrant's Authorino;
* per test module a "site": a Gateway + HTTPRoute in a namespace of its own and the policies ``tier_policies``
  renders for them. What Authorino serves and what the quota harness counts with is what the operator
  generated for that route (``testworld/kuadrant_outputs.py``) -- nothing is translated here.

Tenant Secrets live in the Kuadrant namespace, where the operator writes the AuthConfigs (the AuthPolicy does
not select Secrets of all namespaces); each site selects its own tenants with a label of its own.
Requests reach Authorino over gRPC the way wasm-shim sends them (``testworld/authorino_client.py``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from support.tenant_runner import Runner
from support.tiers import DEFAULT_TIERS
from testworld import kuadrant_site


class Site(kuadrant_site.Site):
    """``testworld.kuadrant_site.Site`` on the session cluster, with Authorino's Check and the tenant runner."""

    def __init__(self, cp, authorino, tmp_path, tiers=None):
        self.cp = cp
        self.client = authorino["client"]  # authorino_client.AuthorinoClient
        self.runner = Runner(cp, kuadrant_site.KUADRANT_NAMESPACE, tmp_path)
        super().__init__(self._get_json, lambda manifest: cp.apply(json.dumps(manifest)),
                         lambda name, params: self.runner.module(name, params)[0], uuid.uuid4().hex[:8],
                         tiers or DEFAULT_TIERS)
        self.create()

    def _get_json(self, *args):
        proc = self.cp.kubectl(*args, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def authconfig_status(self) -> dict:
        return self.cp.kubectl_json("get", "authconfig", self.name, "-n", self.kuadrant_ns).get("status") or {}

    # -- requests
    def check(self, key=None, *, scheme="Bearer", method="POST", path="/v1/chat/completions", at=None,
              headers=None):
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["authorization"] = f"{scheme} {key}" if scheme else key
        return self.client.check(self.name, method=method, path=path, headers=all_headers, at=at)

    def wait_for(self, predicate, key, timeout=10.0, **kwargs):
        """Poll Check until ``predicate(decision)``; returns that decision (``.waited``: seconds it took)."""
        started = time.monotonic()
        while True:
            decision = self.check(key, **kwargs)
            if predicate(decision):
                decision.waited = time.monotonic() - started
                return decision
            if time.monotonic() - started > timeout:
                raise AssertionError(f"no matching decision after {timeout}s; last: {decision}")
            time.sleep(0.02)

    # -- tenants made by hand (the seed's kubectl way)
    def kubectl_secret(self, name, key, annotations, labels=None):
        labels = dict(labels if labels is not None else dict(self.selector, **{"authorino.kuadrant.io/managed-by": "authorino"}))
        self.cp.apply(json.dumps({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": self.kuadrant_ns, "labels": labels, "annotations": annotations},
            "stringData": {"api_key": key}}))


class Poller:
    """Checks one key continuously in a thread; records every decision (to prove 'never refused')."""

    def __init__(self, site: Site, key: str):
        self.site, self.key = site, key
        self.decisions = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.decisions.append(self.site.check(self.key))
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def refusals(self):
        return [d for d in self.decisions if not d.allowed]
