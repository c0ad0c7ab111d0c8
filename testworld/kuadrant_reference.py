"""Stand-in for kuadrant-operator 1.4.3 (the reference release set), AuthConfigs only.

kuadrant-operator v1.4.3 cannot be built here (the Go module proxy refuses github.com/kuadrant/kuadrant-operator
v1.4.3), so on a cluster deployed with the reference set nothing turns the AuthPolicy into an AuthConfig. For the
demo's key check and the upgrade test's "before", ``gateway_check`` writes the AuthConfig v1.4.3 would write, as
this module derives it from the deployed AuthPolicy -- and nothing else: the conformance tests and every
current-set world use what the real kuadrant-operator 1.5.2 generated (``kuadrant_outputs``). Once kuadrant-operator
1.5.2 runs, it finds this AuthConfig under the same name and takes it over.

Source: kuadrant-operator v1.4.3 (unchanged in v1.5.2 for these points) -- ``api/v1/merge_strategies.go``
``PathID`` (GatewayClass|Gateway|Listener|HTTPRoute|HTTPRouteRule, each ``namespace/name``; listener
``<gateway>#<listener>``, rule ``<route>#rule-<n>``), ``internal/controller/authconfigs_reconciler.go``
``buildDesiredAuthConfig`` and ``auth_workflow_helpers.go`` ``AuthConfigNameForPath`` (hex SHA-256 of the PathID,
in the Kuadrant namespace, labels ``kuadrant.io/managed`` + ``kuadrant.io/auth``, ``spec.hosts = [name]``, the
rules copied, ``response.success.filters`` -> ``dynamicMetadata``; the top-level ``when`` is not copied). Only the
bare (implicit ``defaults``) policy shape ``tier_policies`` writes is handled.
"""

from __future__ import annotations

import copy
import hashlib

from testworld.kuadrant_outputs import ROUTE_RULE_ANNOTATION, route_rule

AUTHCONFIG_API_VERSION = "authorino.kuadrant.io/v1beta3"
AUTH_OBJECT_LABELS = {"kuadrant.io/managed": "true", "kuadrant.io/auth": "true"}


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
    """The AuthConfig kuadrant-operator 1.4.3 writes for ``policy`` on ``path``."""
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
                ROUTE_RULE_ANNOTATION: route_rule(route_ns, route, rule_index + 1),
            },
        },
        "spec": spec,
    }
