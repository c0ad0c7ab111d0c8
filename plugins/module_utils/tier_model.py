# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The tier table (``tokenlabs_tiers``) and the Kuadrant policies rendered from it.

Pure functions only: validation, window arithmetic, policy rendering and the
comparison of desired and live policies.  Nothing here talks to Kubernetes, so
everything is unit-tested (tests/unit/test_tier_model.py).

Public entry points for other code of the collection:

* :func:`tier_names` -- validate a tier table and return its tier names
  (the tenant modules use it to validate a tenant's tier).
* :func:`validate_tiers` -- validate and normalise a tier table.
* :func:`render_policies` -- AuthPolicy, RateLimitPolicy, TokenRateLimitPolicy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

# --- Names shared with the tenant modules ------------------------------------
ANNOTATION_GROUPS = "kuadrant.io/groups"
ANNOTATION_USER_ID = "secret.kuadrant.io/user-id"
ANNOTATION_EXPIRES_AT = "tokenlabs.io/expires-at"
# Old key kept for a grace period after a rotation (tenant modules).
ANNOTATION_RETIRES_AT = "tokenlabs.io/retires-at"
# Each of these (RFC 3339) ends a key's validity at the gateway.
EXPIRY_ANNOTATIONS = (ANNOTATION_EXPIRES_AT, ANNOTATION_RETIRES_AT)
# Written on every policy: the tier names the policies were rendered from.
ANNOTATION_TIERS = "tokenlabs.io/tiers"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "tokenlabs.inference"

DEFAULT_TOKEN_PATHS = ("/v1/chat/completions", "/v1/completions")
DEFAULT_POLICY_NAMES = {
    "AuthPolicy": "token-labs-auth",
    "RateLimitPolicy": "token-labs-request-limits",
    "TokenRateLimitPolicy": "token-labs-token-limits",
}

# kind -> (apiVersion, plural); TokenRateLimitPolicy is still v1alpha1.
POLICY_KINDS = {
    "AuthPolicy": ("kuadrant.io/v1", "authpolicies"),
    "RateLimitPolicy": ("kuadrant.io/v1", "ratelimitpolicies"),
    "TokenRateLimitPolicy": ("kuadrant.io/v1alpha1", "tokenratelimitpolicies"),
}
# Limits first, then authentication: a new tier has limits before any of its
# keys is accepted.
APPLY_ORDER = ("RateLimitPolicy", "TokenRateLimitPolicy", "AuthPolicy")

TARGET_KINDS = {
    "Gateway": "gateways",
    "HTTPRoute": "httproutes",
}
GATEWAY_API_GROUP = "gateway.networking.k8s.io"

# --- Tier table schema ----------------------------------------------------------
SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

# friendly key -> (kind, window in ms)
FRIENDLY_KEYS = {}
for _kind, _prefix in (("requests", "requests"), ("tokens", "tokens")):
    for _unit, _ms in (("second", SECOND_MS), ("minute", MINUTE_MS), ("hour", HOUR_MS),
                       ("day", DAY_MS), ("week", WEEK_MS)):
        FRIENDLY_KEYS["%s_per_%s" % (_prefix, _unit)] = (_kind, _ms)
# explicit rate lists: key -> kind
RATE_LIST_KEYS = {"request_rates": "requests", "token_rates": "tokens"}
RATE_ITEM_KEYS = ("limit", "window")
ALLOWED_TIER_KEYS = tuple(sorted(FRIENDLY_KEYS)) + tuple(sorted(RATE_LIST_KEYS))

KIND_LABELS = {"requests": "request", "tokens": "token"}

# The CRDs accept ^([0-9]{1,5}(h|m|s|ms)){1,4}$; Kuadrant counts whole seconds.
CRD_WINDOW_RE = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_WINDOW_TOKEN_RE = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_WINDOW_FULL_RE = re.compile(r"^(\d+(ms|w|d|h|m|s))+$")
_UNIT_MS = {"ms": 1, "s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
MAX_WINDOW_HOURS = 99999

# RFC 1123 label: what Kubernetes accepts as a DNS-safe name part.
TIER_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Limit keys are "<tier>-requests" / "<tier>-tokens"; keep them label-sized.
TIER_NAME_MAX = 48
# Kubernetes object names (RFC 1123 subdomain).
OBJECT_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ValidTierTable(dict):
    """A tier table returned by :func:`validate_tiers` (tier -> {"requests": [...], "tokens": [...]})."""


class TierTableError(ValueError):
    """The tier table (or another input) is invalid.  ``errors`` lists every problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(TierTableError, self).__init__(self.describe())

    def describe(self):
        if len(self.errors) == 1:
            return self.errors[0]
        return "%d problems: %s" % (len(self.errors), "; ".join(self.errors))


# --- Windows ------------------------------------------------------------------------
def parse_window(value):
    """Return a window in milliseconds from ``1d``, ``12h``, ``90s``, ``1h30m``, ``2w``...

    Raises ValueError with the allowed format.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration string such as 1m, 12h, 1d, 90s or 1h30m is required")
    text = value.strip().lower()
    if not _WINDOW_FULL_RE.match(text):
        raise ValueError("allowed: a duration such as 1m, 12h, 1d, 90s or 1h30m "
                         "(units w, d, h, m, s, ms)")
    total = 0
    for number, unit in _WINDOW_TOKEN_RE.findall(text):
        total += int(number) * _UNIT_MS[unit]
    if total <= 0:
        raise ValueError("a window must be longer than zero")
    if total % SECOND_MS:
        raise ValueError("Kuadrant counts whole seconds; allowed: a whole number of seconds (1s or more)")
    if total > MAX_WINDOW_HOURS * HOUR_MS:
        raise ValueError("the longest window the CRD accepts is %dh" % MAX_WINDOW_HOURS)
    return total


def format_window(window_ms):
    """Render milliseconds the way the CRD pattern accepts: 24h, 1m, 1m30s (never 1d)."""
    if window_ms <= 0 or window_ms % SECOND_MS:
        raise ValueError("window must be a positive whole number of seconds, got %sms" % window_ms)
    hours, rest = divmod(window_ms, HOUR_MS)
    minutes, rest = divmod(rest, MINUTE_MS)
    seconds = rest // SECOND_MS
    parts = []
    if hours:
        parts.append("%dh" % hours)
    if minutes:
        parts.append("%dm" % minutes)
    if seconds:
        parts.append("%ds" % seconds)
    text = "".join(parts)
    if not CRD_WINDOW_RE.match(text):
        raise ValueError("window %r does not fit the CRD pattern" % text)
    return text


def describe_window(window_ms):
    names = {SECOND_MS: "second", MINUTE_MS: "minute", HOUR_MS: "hour", DAY_MS: "day", WEEK_MS: "week"}
    if window_ms in names:
        return names[window_ms]
    return format_window(window_ms)


# --- Validation -----------------------------------------------------------------------
def _positive_int(value):
    """Return ``value`` as int if it is a positive integer (int or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def normalise_tier_name(name):
    """Lower-case and turn separators into '-': the form used to detect colliding names."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).strip().lower()).strip("-")


def _check_names(names):
    errors = []
    by_normal = {}
    for name in names:
        shown = repr(name)
        if not isinstance(name, str):
            errors.append("tokenlabs_tiers: tier name %s is a %s; allowed: a lower-case DNS label "
                          "(a-z, 0-9, '-'), quote it in YAML" % (shown, type(name).__name__))
            continue
        if not TIER_NAME_RE.match(name) or len(name) > TIER_NAME_MAX:
            suggestion = normalise_tier_name(name)
            hint = " (e.g. '%s')" % suggestion if suggestion and TIER_NAME_RE.match(suggestion) else ""
            errors.append("tokenlabs_tiers: tier name %s is not DNS-safe; allowed: 1-%d characters a-z, 0-9 "
                          "and '-', starting and ending with a letter or digit%s"
                          % (shown, TIER_NAME_MAX, hint))
        by_normal.setdefault(normalise_tier_name(name), []).append(name)
    for normal, group in sorted(by_normal.items()):
        if len(group) > 1:
            errors.append("tokenlabs_tiers: tier names %s collide (all normalise to '%s', and tenants would be "
                          "ambiguous); allowed: names that differ after lower-casing and replacing '_', '.' "
                          "and spaces with '-'" % (", ".join(repr(n) for n in sorted(group, key=str)), normal))
    return errors


def validate_tiers(tiers):
    """Validate a tier table and return it normalised.

    Returns ``{tier: {"requests": [(window_ms, limit), ...], "tokens": [...]}}``
    with rates sorted by window.  Raises :class:`TierTableError` listing every
    problem (tier, field, value, what is allowed).
    """
    if tiers is None or (isinstance(tiers, dict) and not tiers):
        raise TierTableError(["tokenlabs_tiers is empty; allowed: a dict of at least one tier, e.g. "
                              "{free: {requests_per_minute: 10, requests_per_day: 100, "
                              "tokens_per_minute: 5000, tokens_per_day: 50000}}"])
    if not isinstance(tiers, dict):
        raise TierTableError(["tokenlabs_tiers must be a dict of tier name to limits, got a %s"
                              % type(tiers).__name__])
    errors = _check_names(list(tiers))
    result = ValidTierTable()
    for name in sorted(tiers, key=str):
        limits = tiers[name]
        where = "tokenlabs_tiers.%s" % name
        if not isinstance(limits, dict) or not limits:
            errors.append("%s must be a dict of limits (allowed keys: %s), got %r"
                          % (where, ", ".join(ALLOWED_TIER_KEYS), limits))
            continue
        rates = {"requests": [], "tokens": []}  # (window_ms, limit, field)
        for key in sorted(limits, key=str):
            value = limits[key]
            if key in FRIENDLY_KEYS:
                kind, window_ms = FRIENDLY_KEYS[key]
                number = _positive_int(value)
                if number is None:
                    errors.append("%s.%s = %r is not a positive integer; allowed: a whole number >= 1"
                                  % (where, key, value))
                    continue
                rates[kind].append((window_ms, number, key))
            elif key in RATE_LIST_KEYS:
                kind = RATE_LIST_KEYS[key]
                if not isinstance(value, list) or not value:
                    errors.append("%s.%s = %r must be a non-empty list of {limit: N, window: DURATION}"
                                  % (where, key, value))
                    continue
                for index, item in enumerate(value):
                    field = "%s[%d]" % (key, index)
                    if not isinstance(item, dict):
                        errors.append("%s.%s = %r must be a dict {limit: N, window: DURATION}" % (where, field, item))
                        continue
                    unknown = sorted(str(k) for k in item if k not in RATE_ITEM_KEYS)
                    if unknown:
                        errors.append("%s.%s has unknown key(s) %s; allowed: limit, window"
                                      % (where, field, ", ".join(unknown)))
                    number = _positive_int(item.get("limit"))
                    if number is None:
                        errors.append("%s.%s.limit = %r is not a positive integer; allowed: a whole number >= 1"
                                      % (where, field, item.get("limit")))
                    try:
                        window_ms = parse_window(item.get("window"))
                    except ValueError as exc:
                        errors.append("%s.%s.window = %r is invalid: %s" % (where, field, item.get("window"), exc))
                        continue
                    if number is not None:
                        rates[kind].append((window_ms, number, field))
            else:
                errors.append("%s has unknown key %r; allowed: %s" % (where, key, ", ".join(ALLOWED_TIER_KEYS)))
        normalised = {}
        for kind in ("requests", "tokens"):
            entries = sorted(rates[kind])
            if not entries:
                errors.append("%s has no %s limit; set %s_per_minute / %s_per_day or %s (a tier cannot be "
                              "unlimited; use a large number instead)"
                              % (where, KIND_LABELS[kind], kind, kind, "%s_rates" % KIND_LABELS[kind]))
                continue
            for index, (window_ms, number, field) in enumerate(entries):
                for other_window, other_number, other_field in entries[index + 1:]:
                    if other_window == window_ms:
                        errors.append("%s.%s and %s.%s both limit %s per %s; allowed: one limit per window"
                                      % (where, field, where, other_field, kind, describe_window(window_ms)))
                    elif number > other_number:
                        errors.append("%s.%s = %d is above %s.%s = %d; allowed: a limit over a shorter window "
                                      "that is at most the limit over a longer window"
                                      % (where, field, number, where, other_field, other_number))
            normalised[kind] = [(window_ms, number) for window_ms, number, _field in entries]
        result[name] = normalised
    if errors:
        raise TierTableError(errors)
    return result


def tier_names(tiers):
    """Validate ``tiers`` (the ``tokenlabs_tiers`` table) and return its tier names, sorted."""
    return sorted(validate_tiers(tiers))


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
            % {"a": _ANNOTATIONS, "g": _cel_string(ANNOTATION_GROUPS), "tiers": _cel_list(sorted(all_tiers))})


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


def label_selector_string(selector):
    """``{app: token-labs}`` -> ``app=token-labs`` (sorted)."""
    return ",".join("%s=%s" % (key, selector[key]) for key in sorted(selector))


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
                "annotations": {ANNOTATION_TIERS: ",".join(all_tiers)},
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
                        "selector": {"matchLabels": dict(tenant_selector)},
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
                    "filters": {
                        "identity": {
                            "json": {
                                "properties": {
                                    "groups": {"selector": "auth.identity.metadata.annotations.%s"
                                               % _escape_selector(ANNOTATION_GROUPS)},
                                    "userid": {"selector": "auth.identity.metadata.annotations.%s"
                                               % _escape_selector(ANNOTATION_USER_ID)},
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
def tenant_groups(secret):
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ANNOTATION_GROUPS) or ""
    return [g for g in raw.split(",") if g]


def previous_tiers(live_auth_policy):
    """Tier names the live AuthPolicy was rendered from, or None if unknown."""
    if not live_auth_policy:
        return None
    annotations = (live_auth_policy.get("metadata") or {}).get("annotations") or {}
    if ANNOTATION_TIERS not in annotations:
        return None
    return set(t for t in annotations[ANNOTATION_TIERS].split(",") if t)


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
        groups = tenant_groups(secret)
        if any(g in new_tiers for g in groups):
            continue
        if old_tiers is None:
            lost = groups or ["(no %s annotation)" % ANNOTATION_GROUPS]
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
