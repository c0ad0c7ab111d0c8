# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The Kuadrant policies rendered from a validated tier table, and how live state is read against them.

Private to this collection (not an API for other collections; it may change
without notice). No I/O (tests/unit/plugins/module_utils/_tiers/test_policy_render.py):
the CEL predicates, :func:`render_policies` (AuthPolicy, RateLimitPolicy,
TokenRateLimitPolicy), the other module inputs, the tenants that still use a
tier, and the comparison of desired and live policies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import (
    EXPIRY_ANNOTATIONS, GROUPS_ANNOTATION, TIERS_ANNOTATION, USER_ID_ANNOTATION, api_key_selector, tenant_tiers)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers.table import (
    DEFAULT_POLICY_NAMES, DEFAULT_TOKEN_PATHS, GATEWAY_API_GROUP, OBJECT_NAME_RE, POLICY_KINDS,
    TARGET_KINDS, TENANT_HEADER, TIER_HEADER, TierTableError, ValidTierTable, format_window, validate_tiers)


# --- CEL predicates ---------------------------------------------------------------
def _cel_string(value):
    return json.dumps(value)


def _cel_list(values):
    return "[" + ", ".join(_cel_string(v) for v in values) + "]"


def tier_predicate(tier, all_tiers):
    """CEL (wasm-shim) predicate: the tenant's tier is exactly ``tier``.

    ``auth.identity.groups`` is the comma-separated ``kuadrant.io/groups``
    annotation published by the AuthPolicy.  Only tier names count; the
    filtered list can equal exactly one ``[tier]``, so the predicates of two
    tiers are disjoint by construction (a key carrying two tiers matches none;
    the AuthPolicy refuses it anyway).
    """
    return 'auth.identity.groups.split(",").filter(g, g in %s) == [%s]' % (
        _cel_list(sorted(all_tiers)), _cel_string(tier))


REQUEST_SCOPE_PREDICATE = 'request.method != "OPTIONS"'


def token_scope_predicate(token_paths):
    """CEL predicate: a POST to a path whose response carries OpenAI ``usage``.

    ``request.url_path`` has no query string, so ``?x=1`` cannot bypass it.
    """
    paths = list(token_paths)
    if len(paths) == 1:
        path_test = "request.url_path == %s" % _cel_string(paths[0])
    else:
        path_test = "request.url_path in %s" % _cel_list(paths)
    return 'request.method == "POST" && %s' % path_test


_ANNOTATIONS = "auth.identity.metadata.annotations"


def allowed_tier_rule(all_tiers):
    """CEL (Authorino) predicate: the key's groups name exactly one tier of the table."""
    return ('has(%(a)s) && %(g)s in %(a)s && %(a)s[%(g)s].split(",").filter(g, g in %(tiers)s).size() == 1'
            % {"a": _ANNOTATIONS, "g": _cel_string(GROUPS_ANNOTATION), "tiers": _cel_list(sorted(all_tiers))})


def key_not_expired_rule():
    """CEL (Authorino) predicate: no expiry annotation, or each lies in the future.

    Covers ``tokenlabs.io/expires-at`` (tenant expiry) and
    ``tokenlabs.io/retires-at`` (old key after a rotation).  ``request.time`` is
    the request's timestamp ({seconds, nanos}); an annotation that is not
    RFC 3339 makes the predicate fail, so the key is refused (fail closed).
    """
    checks = []
    for annotation in EXPIRY_ANNOTATIONS:
        checks.append('(!(%(e)s in %(a)s) || (timestamp(%(a)s[%(e)s]) - timestamp("1970-01-01T00:00:00Z"))'
                      '.getSeconds() > int(request.time.seconds))'
                      % {"a": _ANNOTATIONS, "e": _cel_string(annotation)})
    return "!has(%s) || (%s)" % (_ANNOTATIONS, " && ".join(checks))


# --- Rendering -------------------------------------------------------------------------
def _escape_selector(annotation):
    # Authorino (gjson) selectors need dots in keys escaped.
    return annotation.replace(".", "\\.")


def _rates(entries):
    return [{"limit": number, "window": format_window(window_ms)} for window_ms, number in entries]


def render_policies(tiers, target_kind, target_name, namespace, tenant_selector,
                    token_paths=DEFAULT_TOKEN_PATHS, names=None):
    """Render the three policies from a tier table (raw or validated).

    Returns ``{kind: manifest}`` for AuthPolicy, RateLimitPolicy and
    TokenRateLimitPolicy.
    """
    table = tiers if _is_normalised(tiers) else validate_tiers(tiers)
    all_tiers = sorted(table)
    names = dict(DEFAULT_POLICY_NAMES, **(names or {}))
    target_ref = {"group": GATEWAY_API_GROUP, "kind": target_kind, "name": target_name}
    counters = [{"expression": "auth.identity.userid"}]

    def manifest(kind, spec):
        api_version = POLICY_KINDS[kind][0]
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {
                "name": names[kind],
                "namespace": namespace,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                "annotations": {TIERS_ANNOTATION: ",".join(all_tiers)},
            },
            "spec": spec,
        }

    auth_spec = {
        "targetRef": dict(target_ref),
        # CORS preflight carries no Authorization header: never authenticate it.
        "when": [{"predicate": REQUEST_SCOPE_PREDICATE}],
        "rules": {
            "authentication": {
                "api-key-tenants": {
                    "apiKey": {
                        "selector": api_key_selector(tenant_selector),
                        "allNamespaces": False,
                    },
                    "credentials": {"authorizationHeader": {"prefix": "Bearer"}},
                    # server-side defaults, spelled out so live == desired
                    "metrics": False,
                    "priority": 0,
                },
            },
            "authorization": {
                "allowed-tiers": {
                    "patternMatching": {"patterns": [{"predicate": allowed_tier_rule(all_tiers)}]},
                    "metrics": False,
                    "priority": 0,
                },
                "key-not-expired": {
                    "patternMatching": {"patterns": [{"predicate": key_not_expired_rule()}]},
                    "metrics": False,
                    "priority": 0,
                },
            },
            "response": {
                "success": {
                    # The tenant and tier on the request to the AI Gateway, which turns them into the labels of its
                    # token metric (metricsRequestHeaderAttributes); a client's own value is overwritten.
                    "headers": dict((header, {
                        "plain": {"selector": "auth.identity.metadata.annotations.%s" % _escape_selector(annotation)},
                        "metrics": False,
                        "priority": 0,
                    }) for header, annotation in ((TENANT_HEADER, USER_ID_ANNOTATION), (TIER_HEADER, GROUPS_ANNOTATION))),
                    "filters": {
                        "identity": {
                            "json": {
                                "properties": {
                                    "groups": {"selector": "auth.identity.metadata.annotations.%s"
                                               % _escape_selector(GROUPS_ANNOTATION)},
                                    "userid": {"selector": "auth.identity.metadata.annotations.%s"
                                               % _escape_selector(USER_ID_ANNOTATION)},
                                },
                            },
                            "metrics": False,
                            "priority": 0,
                        },
                    },
                },
            },
        },
    }
    request_limits = {}
    token_limits = {}
    for tier in all_tiers:
        request_limits["%s-requests" % tier] = {
            "rates": _rates(table[tier]["requests"]),
            "when": [{"predicate": REQUEST_SCOPE_PREDICATE}, {"predicate": tier_predicate(tier, all_tiers)}],
            "counters": list(counters),
        }
        token_limits["%s-tokens" % tier] = {
            "rates": _rates(table[tier]["tokens"]),
            "when": [{"predicate": token_scope_predicate(token_paths)},
                     {"predicate": tier_predicate(tier, all_tiers)}],
            "counters": list(counters),
        }
    return {
        "AuthPolicy": manifest("AuthPolicy", auth_spec),
        "RateLimitPolicy": manifest("RateLimitPolicy", {"targetRef": dict(target_ref), "limits": request_limits}),
        "TokenRateLimitPolicy": manifest("TokenRateLimitPolicy",
                                         {"targetRef": dict(target_ref), "limits": token_limits}),
    }


def _is_normalised(tiers):
    return isinstance(tiers, ValidTierTable)


# --- Other inputs --------------------------------------------------------------------------
def validate_policy_inputs(target_kind, target_name, namespace, names, token_paths, tenant_selector,
                           kuadrant_namespace):
    """Check the module's non-tier inputs; raise TierTableError listing every problem."""
    errors = []
    if target_kind not in TARGET_KINDS:
        errors.append("target_kind = %r; allowed: %s" % (target_kind, ", ".join(sorted(TARGET_KINDS))))
    for field, value in (("target_name", target_name), ("target_namespace", namespace),
                         ("kuadrant_namespace", kuadrant_namespace)):
        if not isinstance(value, str) or not OBJECT_NAME_RE.match(value) or len(value) > 253:
            errors.append("%s = %r is not a valid Kubernetes name; allowed: lower-case a-z, 0-9, '-' and '.'"
                          % (field, value))
    for kind, name in sorted((names or {}).items()):
        if not isinstance(name, str) or not OBJECT_NAME_RE.match(name) or len(name) > 253:
            errors.append("%s name = %r is not a valid Kubernetes name; allowed: lower-case a-z, 0-9, '-' and '.'"
                          % (kind, name))
    paths = list(token_paths or [])
    if not paths:
        errors.append("token_paths is empty; allowed: one or more URL paths such as /v1/chat/completions")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or "?" in path or '"' in path or "\\" in path:
            errors.append("token_paths entry %r is invalid; allowed: an absolute URL path without query string, "
                          "e.g. /v1/completions" % (path,))
    if len(set(paths)) != len(paths):
        errors.append("token_paths lists a path twice: %s" % ", ".join(paths))
    if not isinstance(tenant_selector, dict) or not tenant_selector:
        errors.append("tenant_selector = %r; allowed: a non-empty dict of label name to value, e.g. {app: token-labs}"
                      % (tenant_selector,))
    else:
        for key, value in sorted(tenant_selector.items(), key=lambda kv: str(kv[0])):
            if not isinstance(key, str) or not isinstance(value, str) or not key or "," in key + value \
                    or "=" in key + value:
                errors.append("tenant_selector entry %r: %r is not a label; allowed: string label name and value"
                              % (key, value))
    if errors:
        raise TierTableError(errors)


# --- Tenants using tiers -----------------------------------------------------------------
def check_tenant_tiers(tenant_secrets, new_tiers, old_tiers):
    """Find tenants the new table would lock out.

    Returns ``(blocked, warnings)``: ``blocked`` maps a tier missing from the
    new table to the tenant Secret names still using it (the change must be
    refused); ``warnings`` lists tenants whose tier was not allowed before
    either (nothing changes for them).  ``old_tiers`` None = unknown previous
    table: every tenant without a tier in the new table blocks.
    """
    new_tiers = set(new_tiers)
    blocked = {}
    warnings = []
    for secret in sorted(tenant_secrets, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        name = (secret.get("metadata") or {}).get("name", "?")
        groups = tenant_tiers(secret)
        if any(g in new_tiers for g in groups):
            continue
        if old_tiers is None:
            lost = groups or ["(no %s annotation)" % GROUPS_ANNOTATION]
        else:
            lost = [g for g in groups if g in old_tiers]
        if lost:
            for tier in lost:
                blocked.setdefault(tier, []).append(name)
        else:
            warnings.append("tenant %s has tier %s, which is not in the tier table; its key is refused (403)"
                            % (name, ",".join(groups) or "(none)"))
    return blocked, warnings


def describe_blocked(blocked, kuadrant_namespace):
    parts = ["tier '%s' is used by %s" % (tier, ", ".join(names)) for tier, names in sorted(blocked.items())]
    return ("refusing to remove tiers that tenants still use (%s, tenant Secrets in namespace %s): those keys "
            "would be refused immediately. Move the tenants to another tier (or delete them) first, or keep the "
            "tier in tokenlabs_tiers." % ("; ".join(parts), kuadrant_namespace))


# --- Desired vs live ----------------------------------------------------------------------
def live_matches(desired, live):
    """True when ``live`` already has the desired spec, labels and annotations."""
    if not live:
        return False
    if live.get("spec") != desired["spec"]:
        return False
    live_meta = live.get("metadata") or {}
    for field in ("labels", "annotations"):
        have = live_meta.get(field) or {}
        for key, value in (desired["metadata"].get(field) or {}).items():
            if have.get(key) != value:
                return False
    return True


def policy_path(kind, namespace, name=None):
    api_version, plural = POLICY_KINDS[kind]
    path = "/apis/%s/namespaces/%s/%s" % (api_version, namespace, plural)
    return path + "/" + name if name else path


def target_path(kind, namespace, name):
    return "/apis/%s/v1/namespaces/%s/%s/%s" % (GATEWAY_API_GROUP, namespace, TARGET_KINDS[kind], name)


# The discovery documents that must list these resources, and the install step
# that provides them.
REQUIRED_APIS = (
    ("/apis/kuadrant.io/v1", ("authpolicies", "ratelimitpolicies"),
     "the Kuadrant CRDs (kuadrant-operator Helm chart, Kuadrant install step of playbooks/site.yml) are missing"),
    ("/apis/kuadrant.io/v1alpha1", ("tokenratelimitpolicies",),
     "TokenRateLimitPolicy (kuadrant.io/v1alpha1) is missing: install kuadrant-operator v1.3.0 or later "
     "(v1.4.2+ recommended) with its CRDs (Kuadrant install step of playbooks/site.yml)"),
    ("/apis/gateway.networking.k8s.io/v1", ("gateways", "httproutes"),
     "the Gateway API CRDs (gateway.networking.k8s.io/v1, Gateway API CRD install step of playbooks/site.yml) "
     "are missing"),
)


def missing_apis(discovery):
    """``discovery`` maps a group-version path to its APIResourceList (or None if 404).

    Returns a list of operator-readable messages, one per missing install step.
    """
    problems = []
    for path, resources, message in REQUIRED_APIS:
        doc = discovery.get(path)
        have = set(r.get("name") for r in (doc or {}).get("resources") or [])
        lacking = [r for r in resources if r not in have]
        if lacking:
            problems.append("%s (%s not served by %s)" % (message, ", ".join(lacking), path))
    return problems
