"""Test-side stand-in for kuadrant-operator v1.4.3's AuthPolicy -> AuthConfig translation.

The Kuadrant operator does not run here yet (issue 23), so the conformance tests
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
import re

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


# --------------------------------------------------------------------------------------------
# RateLimitPolicy / TokenRateLimitPolicy -> Limitador limits + wasm-shim plugin config
# (research sections 2 and 3): kuadrant-operator v1.4.3
# internal/controller/limitador_limits_reconciler.go, ratelimit_workflow_helpers.go
# (LimitNameToLimitadorIdentifier, TokenLimitNameToLimitadorIdentifier, LimitsNamespaceFromRoute),
# internal/cel/transformer.go (TransformCounterVariable), internal/wasm/types.go + utils.go
# (BuildActionSetsForPath, wasmActionFromLimit, wasmActionsFromTokenLimit, PredicatesFromHTTPRouteMatch),
# data_plane_policies_workflow.go (mergeAndVerify), internal/wasm/utils.go NewServiceBuilder.

SERVICES = {
    "auth-service": {"type": "auth", "endpoint": "kuadrant-auth-service", "failureMode": "deny", "timeout": "200ms"},
    "ratelimit-service": {"type": "ratelimit", "endpoint": "kuadrant-ratelimit-service", "failureMode": "allow",
                          "timeout": "100ms"},
    "ratelimit-check-service": {"type": "ratelimit-check", "endpoint": "kuadrant-ratelimit-service",
                                "failureMode": "allow", "timeout": "100ms"},
    "ratelimit-report-service": {"type": "ratelimit-report", "endpoint": "kuadrant-ratelimit-service",
                                 "failureMode": "allow", "timeout": "100ms"},
}
TOKEN_USAGE = 'responseBodyJSON("/usage/total_tokens")'
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def limit_identifier(policy_ns: str, policy_name: str, key: str, token: bool = False) -> str:
    """`limit.` (or `tokenlimit.`) + key with non-[A-Za-z0-9_] as `_` + `__` + 8 hex of SHA-256(ns/name/key)."""
    digest = hashlib.sha256(f"{policy_ns}/{policy_name}/{key}".encode()).hexdigest()[:8]
    return ("tokenlimit." if token else "limit.") + re.sub(r"[^A-Za-z0-9_]", "_", key) + "__" + digest


def window_seconds(window: str) -> int:
    """Rate.ToSeconds: int(time.ParseDuration(window).Seconds()), truncating (500ms -> 0)."""
    parts = re.findall(r"(\d+)(ms|h|m|s)", window)
    if not parts or "".join(n + u for n, u in parts) != window:
        return 0  # parse error -> 0
    return int(sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


def counter_variable(expression: str) -> str:
    """TransformCounterVariable(expr, false): descriptors[0]["<expr, trimmed>"]."""
    return f'descriptors[0]["{expression.strip()}"]'


def limitador_limits(policy: dict, route_ns: str, route: str, token: bool = False) -> list[dict]:
    """The Limitador CR `spec.limits` entries derived from one RateLimitPolicy / TokenRateLimitPolicy."""
    proper = _spec_proper(policy)
    meta = policy["metadata"]
    limits = []
    for key in sorted(proper.get("limits") or {}):
        limit = proper["limits"][key]
        identifier = limit_identifier(meta["namespace"], meta["name"], key, token)
        for rate in limit.get("rates") or []:
            limits.append({
                "name": key,
                "namespace": f"{route_ns}/{route}",  # LimitsNamespaceFromRoute: the route, even for a Gateway target
                "max_value": max(0, int(rate["limit"])),
                "seconds": window_seconds(rate["window"]),
                "conditions": [f'descriptors[0]["{identifier}"] == "1"'],
                "variables": [counter_variable(c["expression"]) for c in limit.get("counters") or []],
            })
    return limits


def match_predicates(match: dict) -> list[str]:
    """PredicatesFromHTTPRouteMatch: method, path (omitted = PathPrefix /), headers, query params."""
    predicates = []
    if match.get("method"):
        predicates.append(f"request.method == '{match['method']}'")
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = path.get("type", "PathPrefix"), path.get("value", "/")
    predicates.append({"Exact": f"request.url_path == '{value}'",
                       "PathPrefix": f"request.url_path.startsWith('{value}')",
                       "RegularExpression": f"request.url_path.matches('{value}')"}[kind])
    for header in match.get("headers") or []:
        predicates.append(f"request.headers.exists(h, h.lowerAscii() == '{header['name'].lower()}' && "
                          f"request.headers[h] == '{header['value']}')")
    for param in match.get("queryParams") or []:
        name = param["name"]
        predicates.append(f"'{name}' in queryMap(request.query) ? queryMap(request.query)['{name}'] == "
                          f"'{param['value']}' : false")
    return predicates


def _limit_actions(policy: dict, scope: str, token: bool) -> list[dict]:
    proper = _spec_proper(policy)
    meta = policy["metadata"]
    source = f"{'tokenratelimitpolicy' if token else 'ratelimitpolicy'}.kuadrant.io:{meta['namespace']}/{meta['name']}"
    top = [w["predicate"] for w in proper.get("when") or []]
    actions = []
    for key in sorted(proper.get("limits") or {}):
        limit = proper["limits"][key]
        identifier = limit_identifier(meta["namespace"], meta["name"], key, token)
        predicates = top + [w["predicate"] for w in limit.get("when") or []]
        data = [{"expression": {"key": identifier, "value": "1"}}]
        data += [{"expression": {"key": c["expression"], "value": c["expression"]}} for c in limit.get("counters") or []]
        if not token:
            actions.append({"service": "ratelimit-service", "scope": scope, "sources": [source],
                            "conditionalData": [{"predicates": predicates, "data": data}]})
            continue
        actions.append({"service": "ratelimit-check-service", "scope": scope, "sources": [source],
                        "conditionalData": [{"predicates": predicates, "data": data + [
                            {"expression": {"key": "ratelimit.hits_addend", "value": "0"}}]}]})
        actions.append({"service": "ratelimit-report-service", "scope": scope, "sources": [source],
                        "conditionalData": [{"predicates": predicates, "data": data + [
                            {"expression": {"key": "ratelimit.hits_addend", "value": TOKEN_USAGE}}]}]})
    return actions


def merge_actions(actions: list[dict]) -> list[dict]:
    """mergeAndVerify: consecutive actions of one scope and service become one (auth excepted)."""
    merged: list[dict] = []
    for action in actions:
        last = merged[-1] if merged else None
        if (last and last["service"] == action["service"] and last["scope"] == action["scope"]
                and action["service"] != "auth-service" and not action.get("predicates")
                and not last.get("predicates")):
            last["conditionalData"] = last["conditionalData"] + action["conditionalData"]
            last["sources"] = sorted(set(last["sources"]) | set(action["sources"]))
            continue
        merged.append(copy.deepcopy(action))
    return merged


def wasm_plugin_config(path: str, hostname: str, route: dict, auth_policy: dict | None,
                       request_policy: dict | None, token_policy: dict | None, rule_index: int = 0) -> dict:
    """The wasm-shim plugin config (EnvoyExtensionPolicy kuadrant-<gateway>) for one path."""
    route_meta = route["metadata"]
    scope = f"{route_meta['namespace']}/{route_meta['name']}"
    actions = []
    if auth_policy:
        actions.append(wasm_auth_action(auth_policy, path))
    # RLP/TRLP actions go after the auth action when they reference `auth.` (HasAuthAccess); ours do.
    if request_policy:
        actions += _limit_actions(request_policy, scope, token=False)
    if token_policy:
        actions += _limit_actions(token_policy, scope, token=True)
    action_sets = []
    matches = route["spec"]["rules"][rule_index].get("matches") or []
    for j, match in enumerate(matches):
        action_sets.append({
            "name": hashlib.sha256(f"{path}|{j + 1}|{hostname}".encode()).hexdigest(),
            "routeRuleConditions": {"hostnames": [hostname], "predicates": match_predicates(match)},
            "actions": merge_actions(actions),
        })
    return {"services": copy.deepcopy(SERVICES), "actionSets": action_sets}
