"""A "site" on a cluster where the real kuadrant-operator runs: a Gateway, its route, the tier policies, and what
the operator generated for them.

Used by the conformance tests (``tests/conformance/world.py`` adds Authorino's Check and the tenant runner) and
the benchmarks (``bench/authorino_bench.py``, ``bench/quota_bench.py``). The cluster is the test world's
(``python -m testworld up cluster platform``) with Kuadrant deployed by the collection -- :func:`deploy` applies the GatewayClass ``eg`` (the
gateway role's, without the rest of the platform) and runs ``site.yml --tags kuadrant``; kuadrant-operator 1.5.2
with limitador-operator and authorino-operator then runs (``testworld/kuadrant.py``).

A site (:class:`Site`) is one gateway namespace holding the Gateway ``token-labs-gateway`` (listener ``http``,
port 80, ``inference.token-labs.local``) and the HTTPRoute ``llm-inference`` (``PathPrefix /v1``), with the
AuthPolicy, RateLimitPolicy and TokenRateLimitPolicy the collection's ``tier_policies`` module writes for that
Gateway. Nothing is translated here: the AuthConfig Authorino serves, the wasm-shim plugin configuration and the
Limitador limits are the operator's, read back with ``testworld/kuadrant_outputs.py``. The tenants of a site are
Secrets in the Kuadrant namespace (where the operator writes the AuthConfigs) carrying the site's selector -- the
common ``app: token-labs`` plus ``tokenlabs.test/site: <id>`` -- so sites on one cluster never see each other's
tenants.

The caller supplies the cluster access: ``get_json(*kubectl_args)`` (parsed ``kubectl get … -o json``, None when the
object does not exist), ``apply(manifest)`` (server-side apply of one object) and ``run_module(name, params)`` (one
``tokenlabs.inference.<name>`` task run by ansible-playbook against the cluster; returns the task's result).
"""

from __future__ import annotations

import time

from testworld import kuadrant_outputs
from testworld.base import TestWorldError

KUADRANT_NAMESPACE = "kuadrant-system"
GATEWAY_CLASS = "eg"
GATEWAY_CLASS_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY = "token-labs-gateway"
LISTENER = "http"
ROUTE = "llm-inference"
HOSTNAME = "inference.token-labs.local"
SELECTOR = {"app": "token-labs"}
SITE_LABEL = "tokenlabs.test/site"
# The policy names tier_policies writes by default.
AUTH_POLICY = "token-labs-auth"
REQUEST_POLICY = "token-labs-request-limits"
TOKEN_POLICY = "token-labs-token-limits"
OPERATOR_TIMEOUT = 90.0


def gateway_class() -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": GATEWAY_CLASS_CONTROLLER}}


def site_objects(namespace: str) -> list[dict]:
    """The namespace, Gateway and HTTPRoute of a site."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": GATEWAY, "namespace": namespace},
         "spec": {"gatewayClassName": GATEWAY_CLASS,
                  "listeners": [{"name": LISTENER, "port": 80, "protocol": "HTTP", "hostname": HOSTNAME}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": ROUTE, "namespace": namespace},
         "spec": {"parentRefs": [{"name": GATEWAY}],
                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"}}]}]}},
    ]


def site_selector(site_id: str) -> dict:
    """The tenant selector of one site: the common labels plus the site's own."""
    return dict(SELECTOR, **{SITE_LABEL: site_id})


def deploy(apply, run_playbook) -> None:
    """Kuadrant as the collection deploys it: the GatewayClass ``eg`` and ``site.yml -i inventory/local --tags
    kuadrant`` (``run_playbook(*args)`` answers a CompletedProcess)."""
    apply(gateway_class())
    proc = run_playbook("site.yml", "-i", "inventory/local", "--tags", "kuadrant")
    if proc.returncode != 0:
        raise TestWorldError(f"site.yml --tags kuadrant failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")


def authconfig_current(authconfig: dict | None, rules: dict) -> bool:
    """Whether a generated AuthConfig carries the AuthPolicy's authentication and authorization rules."""
    return bool(authconfig) and all((authconfig.get("spec") or {}).get(part) == rules.get(part)
                                    for part in ("authentication", "authorization"))


def ready(authconfig: dict | None) -> bool:
    """Whether Authorino reports an AuthConfig Ready."""
    conditions = ((authconfig or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def expected_limits(request_limits: dict, token_limits: dict) -> list[tuple]:
    """(name, max_value) of every Limitador limit the two limit policies' ``spec.limits`` make, sorted."""
    return sorted((name, rate["limit"]) for limits in (request_limits, token_limits)
                  for name, limit in limits.items() for rate in limit["rates"])


def plugin_reflects(config: dict | None, auth_scope: str, scope: str, request_count: int, token_count: int) -> bool:
    """Whether a wasm-shim plugin configuration has an action set for the route with the auth action of its
    AuthConfig (``auth_scope``), one request-limit action with a condition per RateLimitPolicy limit and one
    check action per TokenRateLimitPolicy limit (limit scope ``scope`` = ``<route namespace>/<route>``)."""
    for action_set in (config or {}).get("actionSets") or []:
        actions = action_set.get("actions") or []
        auth = [a for a in actions if a.get("service") == "auth-service" and a.get("scope") == auth_scope]
        request = [a for a in actions if a.get("service") == "ratelimit-service" and a.get("scope") == scope]
        checks = [a for a in actions if a.get("service") == "ratelimit-check-service" and a.get("scope") == scope]
        if (auth and len(request) == 1 and len(request[0].get("conditionalData") or []) == request_count
                and len(checks) == token_count):
            return True
    return False


class Site:
    """One gateway namespace (``g-<site_id>``) and the tenant selector of its own, served by what kuadrant-operator
    generated for its route. :meth:`create` writes it and waits until Authorino serves its AuthConfig."""

    def __init__(self, get_json, apply, run_module, site_id: str, tiers: dict,
                 kuadrant_namespace: str = KUADRANT_NAMESPACE, timeout: float = OPERATOR_TIMEOUT):
        self.get_json, self.apply, self.run_module = get_json, apply, run_module
        self.gateway_ns = "g-" + site_id
        self.kuadrant_ns = kuadrant_namespace
        self.selector = site_selector(site_id)
        self.tiers = tiers
        self.timeout = timeout
        self.authconfig = None
        self.name = None  # the AuthConfig's name: the scope Authorino's Check is asked for

    def create(self) -> Site:
        for manifest in site_objects(self.gateway_ns):
            self.apply(manifest)
        self.apply_policies(self.tiers)
        return self

    def policy(self, kind: str, name: str) -> dict:
        found = self.get_json("get", kind, name, "-n", self.gateway_ns)
        if not found:
            raise TestWorldError(f"{kind} {self.gateway_ns}/{name} not found")
        return found

    def apply_policies(self, tiers: dict) -> str:
        """``tier_policies`` for this site's Gateway, then wait for the operator's AuthConfig with the AuthPolicy's
        rules, Ready in Authorino; returns its name."""
        result = self.run_module("tier_policies", {
            "tiers": tiers, "target_kind": "Gateway", "target_name": GATEWAY, "target_namespace": self.gateway_ns,
            "kuadrant_namespace": self.kuadrant_ns, "tenant_selector": self.selector})
        if result.get("failed"):
            raise TestWorldError(f"tier_policies failed for {self.gateway_ns}: {result.get('msg')}")
        self.tiers = tiers
        rules = self.policy("authpolicy", AUTH_POLICY)["spec"]["rules"]

        def generated():
            found = kuadrant_outputs.authconfig(self.get_json, self.kuadrant_ns, self.gateway_ns, ROUTE)
            return found if authconfig_current(found, rules) else None
        self.authconfig = kuadrant_outputs.wait_for(
            generated, self.timeout, f"the AuthConfig of {self.gateway_ns}/{ROUTE} for the applied AuthPolicy")
        self.name = self.authconfig["metadata"]["name"]
        self.wait_ready()
        return self.name

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        found = None
        while time.monotonic() < deadline:
            found = self.get_json("get", "authconfig", self.name, "-n", self.kuadrant_ns)
            if ready(found):
                return
            time.sleep(0.2)
        raise TestWorldError(f"AuthConfig {self.kuadrant_ns}/{self.name} not Ready after {timeout:.0f}s: "
                             f"{(found or {}).get('status')}")

    def quota_config(self) -> tuple[dict, list]:
        """(wasm-shim plugin config, Limitador limits) kuadrant-operator generated for this site's route, once they
        reflect the applied RateLimitPolicy and TokenRateLimitPolicy."""
        request_limits = self.policy("ratelimitpolicy", REQUEST_POLICY)["spec"]["limits"]
        token_limits = self.policy("tokenratelimitpolicy", TOKEN_POLICY)["spec"]["limits"]
        expected = expected_limits(request_limits, token_limits)
        scope = f"{self.gateway_ns}/{ROUTE}"

        def limits():
            found = kuadrant_outputs.limitador_limits(self.get_json, self.kuadrant_ns, self.gateway_ns, ROUTE)
            return found if sorted((limit["name"], limit["max_value"]) for limit in found) == expected else None

        def plugin():
            config = kuadrant_outputs.wasm_config(self.get_json, self.gateway_ns, GATEWAY)
            return config if plugin_reflects(config, self.name, scope, len(request_limits), len(token_limits)) else None
        return (kuadrant_outputs.wait_for(plugin, self.timeout, f"the wasm-shim configuration of {scope}"),
                kuadrant_outputs.wait_for(limits, self.timeout, f"the Limitador limits of {scope}"))
