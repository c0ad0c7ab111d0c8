"""The AuthPolicy's authorization rules (tier allow-list, expiry, retired keys) on the real Authorino.

Each case is a tenant Secret with the given annotations (made by hand, so that
values the tenant modules refuse can be tried too) and one gRPC Check at a fixed
request time. Authorino's CEL is cel-go with Kuadrant's bindings; a rule that fails
to evaluate refuses the key.
"""

from __future__ import annotations

import hashlib

import pytest

from world import Site

NOW = 1767225600  # 2026-01-01T00:00:00Z, sent as the request time
GROUPS, USER_ID = "kuadrant.io/groups", "secret.kuadrant.io/user-id"
EXPIRES, RETIRES = "tokenlabs.io/expires-at", "tokenlabs.io/retires-at"


def decide(site, annotations):
    """Create a tenant Secret with ``annotations``; the HTTP status of a Check at NOW."""
    # the Kuadrant namespace holds every site's tenants: the name is the site's own
    name = "rule-" + hashlib.sha256((site.gateway_ns + repr(sorted((annotations or {}).items()))).encode()).hexdigest()[:10]
    key = f"tlabs_sk_{name}_" + "7f" * 20
    site.kubectl_secret(f"tenant-{name}", key, annotations or {})
    # until Authorino has loaded the key (401 = not known yet)
    return site.wait_for(lambda d: d.http_status != 401, key, at=NOW).http_status


@pytest.mark.parametrize("tier", ["free", "pro", "enterprise"])
def test_every_tier_in_the_table_is_allowed(site, tier):
    assert decide(site, {GROUPS: tier, USER_ID: "acme"}) == 200


@pytest.mark.parametrize("annotations", [
    {GROUPS: "gold"},            # unknown tier
    {GROUPS: ""},                # empty
    {USER_ID: "acme"},           # no groups annotation
    {},                          # no annotations at all
    {GROUPS: "free,pro"},        # two tiers: ambiguous
    {GROUPS: "PRO"},
    {GROUPS: "pro,pro"},
])
def test_keys_without_exactly_one_known_tier_are_refused(site, annotations):
    assert decide(site, annotations) == 403


def test_other_groups_next_to_the_tier_are_fine(site):
    assert decide(site, {GROUPS: "beta,pro"}) == 200


def test_a_tier_removed_from_the_table_is_refused(control_plane, authorino, tmp_path_factory):
    tiers = {"free": {"requests_per_minute": 10, "tokens_per_minute": 100},
             "enterprise": {"requests_per_minute": 100, "tokens_per_minute": 1000}}
    smaller = Site(control_plane, authorino, tmp_path_factory.mktemp("no-pro"), tiers=tiers)
    assert decide(smaller, {GROUPS: "pro"}) == 403
    assert decide(smaller, {GROUPS: "free"}) == 200


@pytest.mark.parametrize("expires_at, status", [
    ("2026-01-01T00:00:01Z", 200),        # one second left
    ("2030-06-30T12:00:00Z", 200),        # not yet expired
    ("2026-01-01T00:00:00Z", 403),        # expires exactly now
    ("2025-12-31T23:59:59Z", 403),        # expired
    ("2026-01-01T01:00:00+02:00", 403),   # offset notation, = 23:00Z the day before
    ("2026-01-01T03:00:00+02:00", 200),   # = 01:00Z
    ("not-a-date", 403),                  # unparseable: fail closed
    ("", 403),
])
def test_expiry_rule(site, expires_at, status):
    assert decide(site, {GROUPS: "pro", EXPIRES: expires_at}) == status


@pytest.mark.parametrize("retires_at, expires_at, status", [
    ("2026-01-01T00:10:00Z", None, 200),                    # retired key still in its grace period
    ("2025-12-31T23:50:00Z", None, 403),                    # grace period over
    ("2026-01-01T00:10:00Z", "2025-12-31T00:00:00Z", 403),  # tenant expired anyway
    ("garbage", "2030-01-01T00:00:00Z", 403),
])
def test_retired_keys_stop_working_at_retires_at(site, retires_at, expires_at, status):
    annotations = {GROUPS: "free", RETIRES: retires_at}
    if expires_at:
        annotations[EXPIRES] = expires_at
    assert decide(site, annotations) == status
