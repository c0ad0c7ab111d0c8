"""The conformance world: the engines that enforce tenants' keys, next to the local control plane.

* the session's real kube-apiserver + etcd (``tests/conftest.py``) with the
  mirrored CRDs, Authorino's included;
* Authorino v0.24.0 built from its Go module and run out of cluster
  (``testworld/authorino.py``), cluster-wide with the flags
  authorino-operator gives Kuadrant's Authorino;
* per test module a "site": a Gateway + HTTPRoute, the policies that
  ``tier_policies`` renders for them, and the AuthConfig that
  kuadrant-operator v1.4.3 would derive (``testworld/kuadrant_translation.py``) --
  the operator itself cannot run here.

Tenants are made with the collection's own modules; requests reach Authorino
over gRPC the way wasm-shim sends them (``testworld/authorino_client.py``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid

from support.tenant_runner import Runner
from support.tiers import DEFAULT_TIERS
from testworld import kuadrant_translation as kt

SELECTOR = {"app": "token-labs"}
GATEWAY_CLASS = "eg"
GATEWAY = "token-labs-gateway"
LISTENER = "http"
ROUTE = "llm-inference"
HOSTNAME = "inference.token-labs.local"


class Site:
    """One gateway namespace + one Kuadrant namespace, translated to an AuthConfig served by Authorino."""

    def __init__(self, cp, authorino, tmp_path, tiers=None):
        self.cp = cp
        self.client = authorino["client"]  # authorino_client.AuthorinoClient
        self.gateway_ns = "g-" + uuid.uuid4().hex[:8]
        self.kuadrant_ns = "k-" + uuid.uuid4().hex[:8]
        self.tiers = tiers or DEFAULT_TIERS
        for ns in (self.gateway_ns, self.kuadrant_ns):
            cp.kubectl("create", "namespace", ns)
        self.runner = Runner(cp, self.kuadrant_ns, tmp_path)
        cp.apply(json.dumps({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": GATEWAY, "namespace": self.gateway_ns},
            "spec": {"gatewayClassName": GATEWAY_CLASS,
                     "listeners": [{"name": LISTENER, "port": 80, "protocol": "HTTP",
                                    "hostname": HOSTNAME}]}}))
        cp.apply(json.dumps({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": ROUTE, "namespace": self.gateway_ns},
            "spec": {"parentRefs": [{"name": GATEWAY}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}]}]}}))
        self.apply_policies(self.tiers)

    # -- policies and their translation
    def apply_policies(self, tiers):
        result = self.runner.module("tier_policies", {
            "tiers": tiers, "target_kind": "Gateway", "target_name": GATEWAY,
            "target_namespace": self.gateway_ns, "kuadrant_namespace": self.kuadrant_ns,
            "tenant_selector": SELECTOR})[0]
        assert not result.get("failed"), result
        self.auth_policy = self.cp.kubectl_json("get", "authpolicy", "token-labs-auth", "-n", self.gateway_ns)
        self.path = kt.path_id(GATEWAY_CLASS, self.gateway_ns, GATEWAY, LISTENER, self.gateway_ns, ROUTE, 0)
        self.authconfig = kt.authconfig_for(self.auth_policy, self.path, self.kuadrant_ns, self.gateway_ns,
                                            ROUTE, 0)
        self.name = self.authconfig["metadata"]["name"]
        self.cp.apply(json.dumps(self.authconfig), "--force-conflicts")
        self.wait_ready()

    def quota_config(self):
        """(wasm-shim plugin config, Limitador limits) kuadrant-operator derives for this site's path."""
        def get(kind, name):
            return self.cp.kubectl_json("get", kind, name, "-n", self.gateway_ns)
        request_policy = get("ratelimitpolicy", "token-labs-request-limits")
        token_policy = get("tokenratelimitpolicy", "token-labs-token-limits")
        route = get("httproute", ROUTE)
        plugin = kt.wasm_plugin_config(self.path, HOSTNAME, route, self.auth_policy, request_policy, token_policy)
        limits = (kt.limitador_limits(request_policy, self.gateway_ns, ROUTE)
                  + kt.limitador_limits(token_policy, self.gateway_ns, ROUTE, token=True))
        return plugin, limits

    def authconfig_status(self) -> dict:
        doc = self.cp.kubectl_json("get", "authconfig", self.name, "-n", self.kuadrant_ns)
        return doc.get("status") or {}

    def wait_ready(self, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            status = self.authconfig_status()
            ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
            if ready and ready[0].get("status") == "True":
                return status
            time.sleep(0.2)
        raise AssertionError(f"AuthConfig {self.kuadrant_ns}/{self.name} not Ready after {timeout}s: {status}")

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
        labels = dict(labels if labels is not None else dict(SELECTOR, **{"authorino.kuadrant.io/managed-by": "authorino"}))
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
