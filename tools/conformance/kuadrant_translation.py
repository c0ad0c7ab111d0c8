"""Test-side stand-in for kuadrant-operator v1.4.3's AuthPolicy -> AuthConfig translation.

The Kuadrant operator cannot run here (no kubelet), so the conformance tests
translate the AuthPolicy that ``tier_policies`` rendered the way the operator
does and hand the result to the real Authorino.  It follows
``../shared/research/kuadrant-translation.md`` sections 0, 1 and 3, i.e. these
kuadrant-operator v1.4.3 files:

* ``api/v1/merge_strategies.go`` -- ``PathID``: the topology path
  GatewayClass|Gateway|Listener|HTTPRoute|HTTPRouteRule, each ``namespace/name``;
  listener ``<gateway>#<listener>``, rule ``<route>#rule-<n>`` (policy-machinery
  ``machinery/gateway_api_types.go``).
* ``internal/controller/authconfigs_reconciler.go`` ``buildDesiredAuthConfig``
  and ``auth_workflow_helpers.go`` ``AuthConfigNameForPath``: one AuthConfig per
  path, name = hex SHA-256 of the PathID, in the Kuadrant namespace, labels
  ``kuadrant.io/managed`` + ``kuadrant.io/auth``, ``spec.hosts = [name]``, rules
  copied verbatim, ``rules.response.success.filters`` ->
  ``response.success.dynamicMetadata``; the top-level ``when`` is NOT copied.
* ``internal/wasm/utils.go`` ``buildWasmActionsForAuth``: the auth action of the
  wasm-shim, scope = AuthConfig name, ``predicates`` = the AuthPolicy's
  top-level ``when`` (false => Authorino is not called).

Only the bare (implicit ``defaults``) policy shape is handled -- what
``tier_policies`` writes; ``defaults``/``overrides`` merging is out of scope.
"""

from __future__ import annotations

import copy
import hashlib

AUTHCONFIG_API_VERSION = "authorino.kuadrant.io/v1beta3"
# AuthObjectLabels, internal/controller/state_of_the_world.go
AUTH_OBJECT_LABELS = {"kuadrant.io/managed": "true", "kuadrant.io/auth": "true"}
ROUTE_RULE_ANNOTATION = "HTTPRouteRule.gateway.networking.k8s.io"


def path_id(gateway_class: str, gateway_ns: str, gateway: str, listener: str,
            route_ns: str, route: str, rule_index: int) -> str:
    """PathID of one HTTPRouteRule (0-based ``rule_index``) under one listener."""
    return "|".join([
        gateway_class,
        f"{gateway_ns}/{gateway}",
        f"{gateway_ns}/{gateway}#{listener}",
        f"{route_ns}/{route}",
        f"{route_ns}/{route}#rule-{rule_index + 1}",
    ])


def authconfig_name(path: str) -> str:
    """AuthConfigNameForPath: lower-case hex SHA-256 of the PathID."""
    return hashlib.sha256(path.encode()).hexdigest()


def _spec_proper(policy: dict) -> dict:
    spec = policy.get("spec") or {}
    for section in ("overrides", "defaults"):
        if section in spec:
            return spec[section]
    return spec


def authconfig_for(policy: dict, path: str, kuadrant_namespace: str, route_ns: str, route: str,
                   rule_index: int) -> dict:
    """The AuthConfig kuadrant-operator writes for ``policy`` on ``path``."""
    proper = _spec_proper(policy)
    rules = copy.deepcopy(proper.get("rules") or {})
    name = authconfig_name(path)
    spec: dict = {"hosts": [name]}
    if proper.get("patterns"):
        spec["patterns"] = copy.deepcopy(proper["patterns"])
    for section in ("authentication", "metadata", "authorization", "callbacks"):
        if rules.get(section):
            spec[section] = rules[section]
    response = rules.get("response") or {}
    if response:
        out: dict = {}
        for field in ("unauthenticated", "unauthorized"):
            if field in response:
                out[field] = response[field]
        success = response.get("success") or {}
        if success:
            out["success"] = {}
            if "headers" in success:
                out["success"]["headers"] = success["headers"]
            if "filters" in success:  # json tag `filters` -> AuthConfig dynamicMetadata
                out["success"]["dynamicMetadata"] = success["filters"]
        spec["response"] = out
    return {
        "apiVersion": AUTHCONFIG_API_VERSION,
        "kind": "AuthConfig",
        "metadata": {
            "name": name,
            "namespace": kuadrant_namespace,
            "labels": dict(AUTH_OBJECT_LABELS),
            "annotations": {
                ROUTE_RULE_ANNOTATION: f"httproute.gateway.networking.k8s.io:{route_ns}/{route}#rule-{rule_index + 1}",
            },
        },
        "spec": spec,
    }


def wasm_auth_action(policy: dict, path: str) -> dict:
    """The wasm-shim auth action for ``path``: Authorino is called only when every predicate holds."""
    proper = _spec_proper(policy)
    meta = policy["metadata"]
    action = {
        "service": "auth-service",
        "scope": authconfig_name(path),
        "sources": [f"authpolicy.kuadrant.io:{meta['namespace']}/{meta['name']}"],
    }
    predicates = [w["predicate"] for w in proper.get("when") or []]
    if predicates:
        action["predicates"] = predicates
    return action
