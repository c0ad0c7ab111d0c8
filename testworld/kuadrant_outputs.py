"""What the real kuadrant-operator (``testworld/kuadrant.py``) generated from the collection's policies, read back.

Authorino and the quota harness are fed these objects, never a re-implementation of the operator:

* the AuthConfig of one HTTPRoute rule (kuadrant-operator v1.5.2 ``internal/controller/authconfigs_reconciler.go``:
  in the Kuadrant namespace, labels ``kuadrant.io/managed`` + ``kuadrant.io/auth``, the rule it serves in the
  annotation ``HTTPRouteRule.gateway.networking.k8s.io``);
* the wasm-shim plugin configuration: ``spec.wasm[0].config`` of the EnvoyExtensionPolicy ``kuadrant-<gateway>``
  in the Gateway's namespace (``internal/controller/envoy_gateway_extension_reconciler.go``);
* the Limitador limits: ``spec.limits`` of the Limitador CR ``limitador`` in the Kuadrant namespace, whose
  ``namespace`` is ``<route namespace>/<route>`` (``limitador_limits_reconciler.go``).

``get_json(*kubectl_args)`` answers the parsed ``kubectl get … -o json`` or None when the object does not exist.
"""

from __future__ import annotations

import time

ROUTE_RULE_ANNOTATION = "HTTPRouteRule.gateway.networking.k8s.io"
MANAGED_AUTHCONFIGS = "kuadrant.io/managed=true,kuadrant.io/auth=true"
LIMITADOR = "limitador"


def route_rule(route_namespace: str, route: str, rule: int = 1) -> str:
    """The locator of an HTTPRoute rule (1-based), as the annotation names it."""
    return f"httproute.gateway.networking.k8s.io:{route_namespace}/{route}#rule-{rule}"


def authconfig(get_json, kuadrant_namespace: str, route_namespace: str, route: str, rule: int = 1) -> dict | None:
    """The AuthConfig the operator generated for one route rule, or None."""
    listed = get_json("get", "authconfigs", "-n", kuadrant_namespace, "-l", MANAGED_AUTHCONFIGS) or {}
    wanted = route_rule(route_namespace, route, rule)
    for item in listed.get("items") or []:
        if (item["metadata"].get("annotations") or {}).get(ROUTE_RULE_ANNOTATION) == wanted:
            return item
    return None


def wasm_config(get_json, gateway_namespace: str, gateway: str) -> dict | None:
    """The wasm-shim plugin configuration of one Gateway, or None."""
    policy = get_json("get", "envoyextensionpolicy", f"kuadrant-{gateway}", "-n", gateway_namespace)
    wasm = ((policy or {}).get("spec") or {}).get("wasm") or []
    return wasm[0].get("config") if wasm else None


def limitador_limits(get_json, kuadrant_namespace: str, route_namespace: str, route: str) -> list[dict]:
    """The Limitador limits of one route (counted in Limitador namespace ``<route namespace>/<route>``)."""
    limitador = get_json("get", "limitador", LIMITADOR, "-n", kuadrant_namespace) or {}
    namespace = f"{route_namespace}/{route}"
    return [limit for limit in (limitador.get("spec") or {}).get("limits") or [] if limit.get("namespace") == namespace]


def wait_for(produce, timeout: float, what: str, interval: float = 0.2):
    """Poll ``produce()`` until it answers something truthy; the last answer in the error otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = produce()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"kuadrant-operator did not produce {what} within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)
