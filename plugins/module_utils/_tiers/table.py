# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The tier table (``tokenlabs_tiers``): validation, tier names, rate windows.

Private to this collection (not an API for other collections; it may change
without notice). No I/O (tests/unit/plugins/module_utils/_tiers/test_table.py).
:func:`validate_tiers` checks and normalises a table (its keys are the tiers). The policies rendered from it: policy_render.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation

# What makes a Secret a tenant (labels, the annotations the policies read): _tenants/contract.py.

DEFAULT_TOKEN_PATHS = ("/v1/chat/completions", "/v1/completions")
DEFAULT_POLICY_NAMES = {
    "AuthPolicy": "token-labs-auth",
    "RateLimitPolicy": "token-labs-request-limits",
    "TokenRateLimitPolicy": "token-labs-token-limits",
}

# Request headers the AuthPolicy sets from the key's identity for the AI Gateway's metric labels
# (docs/usage.md): the tenant (user id) and the tier.
TENANT_HEADER = "x-tokenlabs-tenant"
TIER_HEADER = "x-tokenlabs-tier"
# The AI Gateway's metricsRequestHeaderAttributes: header:label pairs, the labels the usage report reads.
METRICS_HEADER_ATTRIBUTES = "%s:tenant,%s:tier" % (TENANT_HEADER, TIER_HEADER)

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
CRD_WINDOW_RE = validation.GATEWAY_DURATION_RE
MAX_WINDOW_HOURS = 99999

# RFC 1123 label: what Kubernetes accepts as a DNS-safe name part.
TIER_NAME_RE = validation.DNS_LABEL_RE
# Limit keys are "<tier>-requests" / "<tier>-tokens"; keep them label-sized.
TIER_NAME_MAX = 48
# Kubernetes object names (RFC 1123 subdomain).
OBJECT_NAME_RE = validation.DNS_SUBDOMAIN_RE


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
    total = validation.parse_duration_ms(value)
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
                number = validation.positive_int(value)
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
                    number = validation.positive_int(item.get("limit"))
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
