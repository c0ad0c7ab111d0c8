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
from testworld import kuadrant_outputs

SELECTOR = {"app": "token-labs"}
SITE_LABEL = "tokenlabs.test/site"
KUADRANT_NAMESPACE = "kuadrant-system"
GATEWAY_CLASS = "eg"
GATEWAY = "token-labs-gateway"
LISTENER = "http"
ROUTE = "llm-inference"
HOSTNAME = "inference.token-labs.local"
OPERATOR_TIMEOUT = 90.0


class Site:
    """One gateway namespace and its tenants, served by what kuadrant-operator generated for its route."""

    def __init__(self, cp, authorino, tmp_path, tiers=None):
        self.cp = cp
        self.client = authorino["client"]  # authorino_client.AuthorinoClient
        site_id = uuid.uuid4().hex[:8]
        self.gateway_ns = "g-" + site_id
        self.kuadrant_ns = KUADRANT_NAMESPACE
        self.selector = dict(SELECTOR, **{SITE_LABEL: site_id})
        self.tiers = tiers or DEFAULT_TIERS
        cp.kubectl("create", "namespace", self.gateway_ns)
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

    def get_json(self, *args):
        """``kubectl get … -o json`` parsed, None when the object does not exist."""
        proc = self.cp.kubectl(*args, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def policy(self, kind, name):
        return self.cp.kubectl_json("get", kind, name, "-n", self.gateway_ns)

    # -- policies, and what the operator made of them
    def apply_policies(self, tiers):
        result = self.runner.module("tier_policies", {
            "tiers": tiers, "target_kind": "Gateway", "target_name": GATEWAY,
            "target_namespace": self.gateway_ns, "kuadrant_namespace": self.kuadrant_ns,
            "tenant_selector": self.selector})[0]
        assert not result.get("failed"), result
        self.tiers = tiers
        self.auth_policy = self.policy("authpolicy", "token-labs-auth")
        rules = self.auth_policy["spec"]["rules"]

        def generated():
            found = kuadrant_outputs.authconfig(self.get_json, self.kuadrant_ns, self.gateway_ns, ROUTE)
            current = found and all(found["spec"].get(part) == rules.get(part)
                                    for part in ("authentication", "authorization"))
            return found if current else None
        self.authconfig = kuadrant_outputs.wait_for(
            generated, OPERATOR_TIMEOUT, f"the AuthConfig of {self.gateway_ns}/{ROUTE} for the applied AuthPolicy")
        self.name = self.authconfig["metadata"]["name"]
        self.wait_ready()

    def quota_config(self):
        """(wasm-shim plugin config, Limitador limits) kuadrant-operator generated for this site's route, once they
        reflect the applied RateLimitPolicy and TokenRateLimitPolicy."""
        request_limits = self.policy("ratelimitpolicy", "token-labs-request-limits")["spec"]["limits"]
        token_limits = self.policy("tokenratelimitpolicy", "token-labs-token-limits")["spec"]["limits"]
        expected = sorted((name, rate["limit"]) for limits in (request_limits, token_limits)
                          for name, limit in limits.items() for rate in limit["rates"])
        scope = f"{self.gateway_ns}/{ROUTE}"

        def limits():
            found = kuadrant_outputs.limitador_limits(self.get_json, self.kuadrant_ns, self.gateway_ns, ROUTE)
            return found if sorted((limit["name"], limit["max_value"]) for limit in found) == expected else None

        def plugin():
            config = kuadrant_outputs.wasm_config(self.get_json, self.gateway_ns, GATEWAY)
            for action_set in (config or {}).get("actionSets") or []:
                actions = action_set.get("actions") or []
                auth = [a for a in actions if a["service"] == "auth-service" and a["scope"] == self.name]
                request = [a for a in actions if a["service"] == "ratelimit-service" and a["scope"] == scope]
                checks = [a for a in actions if a["service"] == "ratelimit-check-service" and a["scope"] == scope]
                if (auth and len(request) == 1 and len(request[0].get("conditionalData") or []) == len(request_limits)
                        and len(checks) == len(token_limits)):
                    return config
            return None
        return (kuadrant_outputs.wait_for(plugin, OPERATOR_TIMEOUT, f"the wasm-shim configuration of {scope}"),
                kuadrant_outputs.wait_for(limits, OPERATOR_TIMEOUT, f"the Limitador limits of {scope}"))

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
