"""Tenant keys and the AuthPolicy on the real Authorino v0.26.1 (no mock).

Each tenant is made by the collection's modules (``tenant``/``tenants``) in the
Kuadrant namespace; the AuthConfig is the one the real kuadrant-operator generated
from the AuthPolicy ``tier_policies`` rendered; every decision comes from
Authorino's gRPC Check.
"""

from __future__ import annotations

import time

from world import Poller
from support.tenant_runner import key_of

MANAGED = {"authorino.kuadrant.io/managed-by": "authorino"}
HOUR = 3600


def onboard(site, name, tier, **params):
    result = site.runner.tenant(name=name, tier=tier, tiers=site.tiers, selector=site.selector, return_key=True,
                                **params)
    assert not result.get("failed"), result
    return result["api_key"]


def test_the_operators_authconfig_is_ready_in_authorino(site):
    status = site.authconfig_status()
    assert status["summary"]["ready"] is True and status["summary"]["numHostsReady"] == "1/1"
    live = site.cp.kubectl_json("get", "authconfig", site.name, "-n", site.kuadrant_ns)
    assert live["spec"]["hosts"] == [site.name] and len(site.name) == 64
    assert live["metadata"]["labels"] == {"kuadrant.io/managed": "true", "kuadrant.io/auth": "true"}
    assert set(live["spec"]["response"]["success"]["dynamicMetadata"]) == {"identity"}
    assert "when" not in live["spec"]  # the top-level `when` is the wasm action's, not Authorino's


def test_a_tenant_of_each_tier_is_accepted_with_its_tier_and_user_id(site):
    items = [{"name": f"each-{tier}", "tier": tier, "user_id": f"uid-{tier}"} for tier in site.tiers]
    result = site.runner.tenants(items, tiers=site.tiers, selector=site.selector, return_keys=True)
    assert sorted(result["created"]) == sorted(i["name"] for i in items), result
    for item in items:
        decision = site.wait_for(lambda d: d.allowed, result["api_keys"][item["name"]])
        assert decision.http_status == 200
        assert decision.identity == {"groups": item["tier"], "userid": item["user_id"]}
    single = onboard(site, "each-single", "pro", user_id="uid-single")
    decision = site.wait_for(lambda d: d.allowed, single)
    waited = decision.waited
    assert decision.identity == {"groups": "pro", "userid": "uid-single"}
    assert waited < 5


def test_wrong_key_missing_header_and_wrong_scheme_are_401(site):
    key = onboard(site, "scheme", "free")
    site.wait_for(lambda d: d.allowed, key)
    for decision in (site.check("tlabs_sk_" + "0" * 64),            # a key nobody has
                     site.check(None),                               # no Authorization header
                     site.check(key, scheme="Basic"),                # wrong scheme
                     site.check(key, scheme="")):                    # bare key, no scheme
        assert decision.http_status == 401, decision
        assert not decision.allowed


def test_unknown_missing_and_double_tiers_are_403(site):
    cases = {"gold": {"kuadrant.io/groups": "gold"}, "none": {}, "double": {"kuadrant.io/groups": "free,pro"}}
    for name, annotations in cases.items():
        key = f"handmade-{name}-key-0123456789abcdefghijklmnopqrstuvwxyz"
        site.kubectl_secret(f"tenant-hand-{name}", key, dict(annotations, **{"secret.kuadrant.io/user-id": name}))
        decision = site.wait_for(lambda d: d.http_status != 401, key)  # until Authorino has the key
        assert decision.http_status == 403, (name, decision)


def test_options_preflight_never_reaches_authorino(site):
    """The AuthPolicy's `when` becomes the wasm auth action's predicate (not the AuthConfig's).

    wasm-shim's CEL evaluating it to false for OPTIONS, so that Authorino is not
    called: test_quotas.py::test_options_is_never_authenticated_or_counted.
    """
    plugin, _limits = site.quota_config()  # the wasm-shim configuration the operator generated
    [action] = [a for s in plugin["actionSets"] for a in s["actions"] if a["service"] == "auth-service"]
    assert action["scope"] == site.name
    assert action["predicates"] == ['request.method != "OPTIONS"']
    # Had it reached Authorino, a preflight (no Authorization header) would be refused:
    assert site.check(None, method="OPTIONS").http_status == 401


def identity_is(groups, userid=None):
    return lambda d: d.allowed and d.identity.get("groups") == groups and (userid is None or
                                                                           d.identity.get("userid") == userid)


def test_upstream_authorino_ignores_annotation_only_updates(site):
    """Pins the upstream behaviour the tenant modules work around (research section 5).

    `kubectl annotate` of the tier (the seed's change-tier procedure) keeps the
    key, so Authorino (v0.24.0, and still v0.26.1) logs "api key unchanged" and keeps the old tier.
    If this starts failing, Authorino fixed it and the AuthConfig touch in
    authorino_refresh can go.
    """
    key = onboard(site, "seedway", "free")
    site.wait_for(identity_is("free"), key)
    site.cp.kubectl("annotate", "secret", "tenant-seedway", "-n", site.kuadrant_ns,
                    "kuadrant.io/groups=pro", "--overwrite")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert site.check(key).identity["groups"] == "free"
        time.sleep(0.1)


def test_tier_change_takes_effect_without_refusing_the_key(site):
    key = onboard(site, "upgrade", "free", user_id="uid-upgrade")
    site.wait_for(identity_is("free"), key)
    with Poller(site, key) as poller:
        result = site.runner.tenant(name="upgrade", tier="pro", tiers=site.tiers, selector=site.selector, must_exist=True)
        assert result["changed"] and result["authorino_refresh"] == {"authconfigs": [site.name], "skipped": None}
        waited = site.wait_for(identity_is("pro", "uid-upgrade"), key).waited
        time.sleep(0.3)
    assert poller.decisions and poller.refusals() == []
    assert waited < 5
    # the bulk module the same way
    with Poller(site, key) as poller:
        # the runbook onboarded it: the inventory takes it over explicitly
        result = site.runner.tenants([{"name": "upgrade", "tier": "enterprise", "take_over": True}],
                                     tiers=site.tiers, selector=site.selector)
        assert result["updated"] == ["upgrade"] and result["authorino_refresh"]["authconfigs"] == [site.name]
        site.wait_for(identity_is("enterprise", "uid-upgrade"), key)
    assert poller.refusals() == []


def test_expiry_added_moved_and_removed_takes_effect(site):
    now = time.time()
    key = onboard(site, "expiring", "pro")
    assert site.check(key, at=now + 2 * HOUR).allowed  # no expiry yet

    def set_expiry(value):
        with Poller(site, key) as poller:
            result = site.runner.tenant(name="expiring", tiers=site.tiers, selector=site.selector, must_exist=True,
                                        expires_at=value)
            assert result["changed"], result
        return poller

    one_hour = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + HOUR))
    poller = set_expiry(one_hour)
    site.wait_for(lambda d: d.http_status == 403, key, at=now + 2 * HOUR)       # added
    assert site.check(key, at=now + HOUR / 2).allowed
    assert poller.refusals() == []

    three_hours = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3 * HOUR))
    poller = set_expiry(three_hours)
    site.wait_for(lambda d: d.allowed, key, at=now + 2 * HOUR)                   # moved later
    assert site.check(key, at=now + 4 * HOUR).http_status == 403
    assert poller.refusals() == []

    poller = set_expiry("")
    site.wait_for(lambda d: d.allowed, key, at=now + 4 * HOUR)                   # removed
    assert site.check(key, at=now + 1000 * HOUR).allowed
    assert poller.refusals() == []


def test_expiry_in_the_past_is_refused(site):
    key = "tlabs_sk_" + "ab" * 24
    site.kubectl_secret("tenant-lapsed", key, {"kuadrant.io/groups": "free", "secret.kuadrant.io/user-id": "lapsed",
                                               "tokenlabs.io/expires-at": "2020-01-01T00:00:00Z"})
    decision = site.wait_for(lambda d: d.http_status != 401, key)
    assert decision.http_status == 403
    future = "tlabs_sk_" + "cd" * 24
    site.kubectl_secret("tenant-current", future, {"kuadrant.io/groups": "free",
                                                   "secret.kuadrant.io/user-id": "current",
                                                   "tokenlabs.io/expires-at": "2099-01-01T00:00:00Z"})
    assert site.wait_for(lambda d: d.allowed, future).identity == {"groups": "free", "userid": "current"}


def test_rotation_without_grace_switches_keys_at_once(site):
    old = onboard(site, "rotor", "free", user_id="uid-rotor")
    site.wait_for(lambda d: d.allowed, old)
    result = site.runner.tenant(name="rotor", tiers=site.tiers, selector=site.selector, rotate=True, return_key=True)
    new = result["api_key"]
    assert new != old
    decision = site.wait_for(lambda d: d.allowed, new)
    waited_new = decision.waited
    assert decision.identity == {"groups": "free", "userid": "uid-rotor"}
    waited_old = site.wait_for(lambda d: d.http_status == 401, old).waited
    assert waited_new < 5 and waited_old < 5


def test_rotation_with_grace_keeps_the_old_key_until_it_ends(site):
    old = onboard(site, "graceful", "pro", user_id="uid-graceful")
    site.wait_for(lambda d: d.allowed, old)
    with Poller(site, old) as poller:
        result = site.runner.tenant(name="graceful", tiers=site.tiers, selector=site.selector, rotate=True,
                                    grace_period="1h", return_key=True)
        new = result["api_key"]
        new_decision = site.wait_for(lambda d: d.allowed, new)
        time.sleep(0.5)
    assert poller.refusals() == [], "the old key was refused during its grace period"
    old_decision = site.check(old)
    assert old_decision.allowed
    # one identity, so one quota: same user id and tier for both keys
    assert old_decision.identity == new_decision.identity == {"groups": "pro", "userid": "uid-graceful"}
    later = time.time() + HOUR + 60
    assert site.check(old, at=later).http_status == 403   # the grace period is over
    assert site.check(new, at=later).allowed


def test_revoke_refuses_at_once_and_onboard_accepts_at_once(site):
    key = onboard(site, "leaver", "enterprise")
    waited_onboard = site.wait_for(lambda d: d.allowed, key).waited
    result = site.runner.tenant(name="leaver", state="absent", selector=site.selector)
    assert result["changed"] and result["outcome"] == "deleted"
    waited_revoke = site.wait_for(lambda d: d.http_status == 401, key).waited
    assert waited_onboard < 5 and waited_revoke < 5


def test_a_tenant_made_the_seed_way_keeps_working_when_adopted(site):
    """`kubectl apply` of the seed's template, then `tenants` takes it over: the key never stops working."""
    key = "tlabs_sk_" + "5e" * 24
    site.kubectl_secret("tenant-seedco", key, {"kuadrant.io/groups": "pro", "secret.kuadrant.io/user-id": "seedco"})
    site.wait_for(identity_is("pro", "seedco"), key)
    with Poller(site, key) as poller:
        result = site.runner.tenants([{"name": "seedco", "tier": "enterprise", "display_name": "Seed Co"}],
                                     tiers=site.tiers, selector=site.selector)
        assert result["updated"] == ["seedco"], result
        site.wait_for(identity_is("enterprise", "seedco"), key)
    assert poller.decisions and poller.refusals() == []
    secret = site.runner.secret("seedco")
    assert key_of(secret) == key  # adopted with its key
