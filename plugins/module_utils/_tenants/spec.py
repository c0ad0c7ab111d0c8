# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Desired tenants: the fields an operator gives, checked before anything is read or written.

Private to this collection (not an API for other collections; it may change
without notice). No I/O: everything here is unit-tested directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.keys import digest, key_problem
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.secret import (
    TenantError, generation, secret_meta)
from ansible_collections.tokenlabs.inference.plugins.module_utils._validation import (
    dns_label_problem, format_time, parse_duration_seconds, parse_rfc3339)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract


TENANT_FIELDS = ("name", "state", "tier", "user_id", "display_name", "contact", "expires_at",
                 "api_key", "rotate", "grace_period", "create", "key_generation", "take_over")


class TenantSpec(object):
    """One desired tenant after static validation.

    ``None`` for display_name/contact/expires_at/user_id/tier means "keep the
    live value" (for a new tenant: unset / the name / required); an empty string
    removes the annotation.
    """

    __slots__ = TENANT_FIELDS + ("grace_seconds", "owner")

    def __init__(self, **kwargs):
        for field in self.__slots__:
            setattr(self, field, kwargs.get(field))

    def __repr__(self):  # never shows the key
        return "TenantSpec(name=%r, state=%r, tier=%r)" % (self.name, self.state, self.tier)


def normalize_tiers(tiers):
    """The tier table dict (tokenlabs_tiers) or a list of names -> sorted list of names."""
    if tiers is None:
        return None
    if isinstance(tiers, dict):
        names = list(tiers.keys())
    elif isinstance(tiers, (list, tuple)):
        names = list(tiers)
    elif isinstance(tiers, str):
        names = [t.strip() for t in tiers.split(",") if t.strip()]
    else:
        raise TenantError("tiers must be the tier table (a dict keyed by tier name) or a list of tier "
                          "names, got %s" % type(tiers).__name__)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad or not names:
        raise TenantError("tiers must name at least one tier, each a non-empty string; got %r" % (names,))
    return sorted(names)


def validate_item(item, tiers, where="tenant"):
    """Static checks of one desired tenant dict -> (TenantSpec or None, [errors])."""
    errors = []
    if not isinstance(item, dict):
        return None, ["%s must be a dict with at least name and tier, got %s" % (where, type(item).__name__)]
    unknown = sorted(set(item) - set(TENANT_FIELDS))
    if unknown:
        errors.append("%s has unknown field(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(TENANT_FIELDS)))
    name = item.get("name")
    label = "%s %r" % (where, name) if name else where
    if name is None or name == "":
        errors.append("%s: name is required" % where)
    else:
        problem = dns_label_problem("name", name)
        if problem:
            errors.append("%s: %s" % (where, problem))
    state = item.get("state") or "present"
    if state not in ("present", "absent"):
        errors.append("%s: state %r is not allowed; use present or absent" % (label, state))
    tier = item.get("tier")
    problem = contract.tier_problem(tier, tiers, label) if tier not in (None, "") and tiers is not None else None
    if problem:
        errors.append(problem)
    if tier == "":
        errors.append("%s: tier must not be empty; allowed tiers: %s" % (label, ", ".join(tiers or [])))
    user_id = item.get("user_id")
    if user_id not in (None, ""):
        problem = dns_label_problem("user_id", user_id)
        if problem:
            errors.append("%s: %s" % (label, problem))
    elif user_id == "":
        errors.append("%s: user_id must not be empty (omit it to use the name)" % label)
    for field in ("display_name", "contact"):
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 256 or "\n" in value):
            errors.append("%s: %s %r must be a single-line string of at most 256 characters" % (label, field, value))
    expires_at = item.get("expires_at")
    expires_norm = None
    if expires_at not in (None, ""):
        parsed = parse_rfc3339(expires_at)
        if parsed is None:
            errors.append("%s: expires_at %r is not an RFC 3339 timestamp with a timezone, "
                          "e.g. 2026-12-31T23:59:59Z" % (label, str(expires_at)))
        else:
            expires_norm = format_time(parsed)
    elif expires_at == "":
        expires_norm = ""
    api_key = item.get("api_key")
    if api_key is not None:
        problem = key_problem(api_key)
        if problem:
            errors.append("%s: api_key (value hidden) %s" % (label, problem))
    grace = item.get("grace_period")
    grace_seconds = None
    if grace not in (None, "", 0, "0"):
        grace_seconds = parse_duration_seconds(grace)
        if grace_seconds is None:
            errors.append("%s: grace_period %r is not a duration; use a number with a unit s, m, h, d or w, "
                          "e.g. 30m, 24h, 7d, 1h30m" % (label, grace))
    rotate = item.get("rotate")
    if rotate not in (None, True, False):
        errors.append("%s: rotate %r must be true or false" % (label, rotate))
    generation = item.get("key_generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)
                                   or generation < 1):
        errors.append("%s: key_generation %r must be a whole number >= 1 (raise it by one to rotate the key once)"
                      % (label, generation))
    if generation is not None and rotate:
        errors.append("%s: give either rotate or key_generation, not both" % label)
    take_over = item.get("take_over")
    if take_over not in (None, True, False):
        errors.append("%s: take_over %r must be true or false" % (label, take_over))
    if errors:
        return None, errors
    spec = TenantSpec(name=name, state=state, tier=tier, user_id=user_id,
                      display_name=item.get("display_name"), contact=item.get("contact"),
                      expires_at=expires_norm, api_key=api_key, rotate=bool(rotate),
                      grace_period=grace, grace_seconds=grace_seconds,
                      create=item.get("create", True) is not False,
                      key_generation=generation, take_over=bool(take_over))
    return spec, []


def validate_items(items, tiers):
    """Validate a desired list -> (specs, errors).  Duplicate names are errors."""
    specs, errors, seen, keys_seen = [], [], {}, {}
    for index, item in enumerate(items or []):
        spec, errs = validate_item(item, tiers, where="tenants[%d]" % index)
        errors.extend(errs)
        name = item.get("name") if isinstance(item, dict) else None
        if name in seen:
            errors.append("tenants[%d]: name %r is listed twice (also tenants[%d]); each tenant once"
                          % (index, name, seen[name]))
            continue
        if name:
            seen[name] = index
        key = item.get("api_key") if isinstance(item, dict) else None
        if isinstance(key, str) and key:
            key_digest = digest(key)
            if key_digest in keys_seen:
                errors.append("tenants[%d] %r: api_key (value hidden) is the same as the api_key given for tenant %r; "
                              "every tenant needs its own key" % (index, name, keys_seen[key_digest]))
                continue
            keys_seen[key_digest] = name
        if spec is not None:
            specs.append(spec)
    return specs, errors


def rotation_wanted(spec, main):
    """Whether reconciling ``spec`` against the live ``main`` Secret installs a new key.

    ``rotate`` (runbook) always does; ``key_generation`` (inventory) does once, when it is
    above the live generation. A generation below the live one is an error.
    """
    if spec.state != "present" or main is None:
        return False
    if spec.rotate:
        return True
    if spec.key_generation is None:
        return False
    live = generation(secret_meta(main).get("annotations") or {})
    if spec.key_generation < live:
        raise TenantError("tenant %r: key_generation %d is below the live key generation %d (the key was rotated "
                          "since); generations only go up: set %d to keep the key, %d to rotate once more"
                          % (spec.name, spec.key_generation, live, live, live + 1))
    return spec.key_generation > live


def tier_errors(specs, tiers):
    """Desired tenants whose tier is not one of ``tiers`` (checked once the tiers are known)."""
    problems = (contract.tier_problem(spec.tier, tiers, "tenant %r" % spec.name)
                for spec in specs if spec.state == "present" and spec.tier)
    return [problem for problem in problems if problem]
