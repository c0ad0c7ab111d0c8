"""Unit tests of the tier table model: validation, windows, rendering.

What the rendered CEL does is proven on the engines that evaluate it, in
tests/conformance: the limit predicates with wasm-shim's CEL crate
(test_wasm_predicates.py, test_quotas.py), the authorization rules on the real
Authorino (test_authorino_rules.py, test_authorino_tenants.py).
"""

import copy
import re

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils import tier_model as tm

DEFAULT_TIERS = {
    "free": {"requests_per_minute": 10, "requests_per_day": 100, "tokens_per_minute": 5000,
             "tokens_per_day": 50000},
    "pro": {"requests_per_minute": 100, "requests_per_day": 5000, "tokens_per_minute": 50000,
            "tokens_per_day": 500000},
    "enterprise": {"requests_per_minute": 1000, "requests_per_day": 50000, "tokens_per_minute": 500000,
                   "tokens_per_day": 5000000},
}
CRD_WINDOW = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def render(tiers=None, **kwargs):
    return tm.render_policies(tiers if tiers is not None else DEFAULT_TIERS, "Gateway", "token-labs-gateway",
                              "token-labs", {"app": "token-labs"}, **kwargs)


def errors_of(tiers):
    with pytest.raises(tm.TierTableError) as info:
        tm.validate_tiers(tiers)
    return info.value.errors


# --- the table --------------------------------------------------------------------------
def test_default_table_is_valid_and_lists_its_tiers():
    assert tm.tier_names(DEFAULT_TIERS) == ["enterprise", "free", "pro"]
    table = tm.validate_tiers(DEFAULT_TIERS)
    assert table["free"] == {"requests": [(60000, 10), (86400000, 100)],
                             "tokens": [(60000, 5000), (86400000, 50000)]}


def test_platform_defaults_carry_the_reference_table():
    import yaml
    from pathlib import Path
    defaults = yaml.safe_load((Path(__file__).parents[2] / "roles/platform_defaults/defaults/main.yml").read_text())
    assert defaults["tokenlabs_tiers"] == DEFAULT_TIERS


@pytest.mark.parametrize("text, ms, rendered", [
    ("1m", 60000, "1m"), ("1d", 86400000, "24h"), ("12h", 43200000, "12h"), ("90s", 90000, "1m30s"),
    ("1h30m", 5400000, "1h30m"), ("2w", 1209600000, "336h"), ("1D", 86400000, "24h"), ("1s", 1000, "1s"),
    ("1000ms", 1000, "1s"), ("30d", 2592000000, "720h"), ("1d1h1m1s", 90061000, "25h1m1s"),
])
def test_windows_are_rendered_in_the_crd_form(text, ms, rendered):
    assert tm.parse_window(text) == ms
    assert tm.format_window(ms) == rendered
    assert CRD_WINDOW.match(rendered)


@pytest.mark.parametrize("value, fragment", [
    ("0s", "longer than zero"), ("500ms", "whole number of seconds"), ("1.5h", "allowed"), ("1y", "allowed"),
    ("", "allowed"), (60, "duration string"), (None, "duration string"), (True, "duration string"),
    ("100000h", "99999h"), ("1h 30m", "allowed"),
])
def test_bad_windows_are_refused(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        tm.parse_window(value)


def test_explicit_rates_and_friendly_keys_mix():
    tiers = {"trial": {"requests_per_minute": 5, "request_rates": [{"limit": 40, "window": "12h"}],
                       "tokens_per_hour": "1000", "token_rates": [{"limit": 9000, "window": "1d"}]}}
    table = tm.validate_tiers(tiers)
    assert table["trial"]["requests"] == [(60000, 5), (43200000, 40)]
    assert table["trial"]["tokens"] == [(3600000, 1000), (86400000, 9000)]
    rlp = render(tiers)["RateLimitPolicy"]
    assert rlp["spec"]["limits"]["trial-requests"]["rates"] == [
        {"limit": 5, "window": "1m"}, {"limit": 40, "window": "12h"}]
    trlp = render(tiers)["TokenRateLimitPolicy"]
    assert trlp["spec"]["limits"]["trial-tokens"]["rates"] == [
        {"limit": 1000, "window": "1h"}, {"limit": 9000, "window": "24h"}]


@pytest.mark.parametrize("value", [0, -1, 1.5, 10.0, "ten", "", None, True, [10], "1e3"])
def test_non_positive_or_non_integer_limits_are_refused(value):
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["pro"]["requests_per_day"] = value
    errors = errors_of(tiers)
    assert len(errors) == 1
    assert "tokenlabs_tiers.pro.requests_per_day = %r" % (value,) in errors[0]
    assert "positive integer" in errors[0] and "allowed" in errors[0]


def test_unknown_keys_are_refused_with_the_allowed_keys():
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["request_per_minute"] = 3
    errors = errors_of(tiers)
    assert errors == [e for e in errors if "tokenlabs_tiers.free has unknown key 'request_per_minute'" in e]
    assert "requests_per_minute" in errors[0]


def test_unknown_keys_in_explicit_rates_are_refused():
    tiers = {"free": {"requests_per_minute": 1, "token_rates": [{"limit": 5, "window": "1m", "burst": 2}]}}
    errors = errors_of(tiers)
    assert any("token_rates[0] has unknown key(s) burst" in e for e in errors)


@pytest.mark.parametrize("name", ["Pro", "pro_plus", "-pro", "pro-", "pro.max", "pro plus", "", "x" * 49, "é"])
def test_tier_names_must_be_dns_safe(name):
    tiers = {name: dict(DEFAULT_TIERS["pro"])}
    errors = errors_of(tiers)
    assert any(("tier name %r is not DNS-safe" % name) in e and "allowed" in e for e in errors)


def test_non_string_tier_names_are_refused():
    assert any("tier name 1 is a int" in e for e in errors_of({1: dict(DEFAULT_TIERS["pro"])}))
    assert any("tier name True is a bool" in e for e in errors_of({True: dict(DEFAULT_TIERS["free"])}))


@pytest.mark.parametrize("a, b", [("pro", "Pro"), ("pro-plus", "pro_plus"), ("pro-plus", "PRO.PLUS")])
def test_colliding_tier_names_are_refused(a, b):
    errors = errors_of({a: dict(DEFAULT_TIERS["pro"]), b: dict(DEFAULT_TIERS["pro"])})
    collisions = [e for e in errors if "collide" in e]
    assert len(collisions) == 1 and repr(a) in collisions[0] and repr(b) in collisions[0]


@pytest.mark.parametrize("tiers", [{}, None])
def test_an_empty_table_is_refused(tiers):
    assert "tokenlabs_tiers is empty" in errors_of(tiers)[0]


def test_a_table_that_is_not_a_dict_is_refused():
    assert "must be a dict" in errors_of(["free"])[0]
    assert "must be a dict of limits" in errors_of({"free": 10})[0]


def test_per_minute_above_per_day_is_refused():
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["tokens_per_minute"] = 60000
    errors = errors_of(tiers)
    assert errors == ["tokenlabs_tiers.free.tokens_per_minute = 60000 is above tokenlabs_tiers.free.tokens_per_day "
                      "= 50000; allowed: a limit over a shorter window that is at most the limit over a longer "
                      "window"]


def test_equal_minute_and_day_limits_are_allowed():
    tiers = {"flat": {"requests_per_minute": 10, "requests_per_day": 10, "tokens_per_day": 1}}
    assert tm.tier_names(tiers) == ["flat"]


def test_one_limit_per_window():
    tiers = {"free": {"requests_per_day": 100, "request_rates": [{"limit": 50, "window": "24h"}],
                      "tokens_per_day": 5}}
    errors = errors_of(tiers)
    assert any("both limit requests per day" in e for e in errors)


def test_every_tier_needs_request_and_token_limits():
    errors = errors_of({"free": {"requests_per_day": 100}})
    assert errors == [e for e in errors if "has no token limit" in e] and len(errors) == 1


def test_all_problems_are_reported_at_once():
    errors = errors_of({"Free": {"requests_per_day": 0, "tokens_per_day": 5, "colour": "red"}})
    assert len(errors) == 4  # name, limit, unknown key, no request limit left


# --- rendered policies ------------------------------------------------------------------
def test_rendered_limits_match_the_table():
    policies = render()
    rlp = policies["RateLimitPolicy"]["spec"]
    trlp = policies["TokenRateLimitPolicy"]["spec"]
    for tier, limits in DEFAULT_TIERS.items():
        assert rlp["limits"]["%s-requests" % tier]["rates"] == [
            {"limit": limits["requests_per_minute"], "window": "1m"},
            {"limit": limits["requests_per_day"], "window": "24h"}]
        assert trlp["limits"]["%s-tokens" % tier]["rates"] == [
            {"limit": limits["tokens_per_minute"], "window": "1m"},
            {"limit": limits["tokens_per_day"], "window": "24h"}]
        for spec in (rlp, trlp):
            limit = spec["limits"]["%s-%s" % (tier, "requests" if spec is rlp else "tokens")]
            assert limit["counters"] == [{"expression": "auth.identity.userid"}]
    assert set(rlp["limits"]) == {"free-requests", "pro-requests", "enterprise-requests"}
    for kind, policy in policies.items():
        assert policy["apiVersion"] == tm.POLICY_KINDS[kind][0]
        assert policy["metadata"]["name"] == tm.DEFAULT_POLICY_NAMES[kind]
        assert policy["metadata"]["annotations"][tm.ANNOTATION_TIERS] == "enterprise,free,pro"
        assert policy["spec"]["targetRef"] == {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                               "name": "token-labs-gateway"}


def test_windows_in_rendered_policies_match_the_crd_pattern():
    tiers = {"odd": {"request_rates": [{"limit": 1, "window": "90s"}, {"limit": 3, "window": "1d12h"}],
                     "tokens_per_week": 9}}
    policies = render(tiers)
    for kind in ("RateLimitPolicy", "TokenRateLimitPolicy"):
        for limit in policies[kind]["spec"]["limits"].values():
            for rate in limit["rates"]:
                assert CRD_WINDOW.match(rate["window"]), rate
    assert [r["window"] for r in policies["RateLimitPolicy"]["spec"]["limits"]["odd-requests"]["rates"]] == [
        "1m30s", "36h"]


def test_changing_one_number_changes_exactly_that_limit():
    before = render()
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["pro"]["tokens_per_minute"] = 60000
    after = render(tiers)
    assert before["AuthPolicy"] == after["AuthPolicy"]
    assert before["RateLimitPolicy"] == after["RateLimitPolicy"]
    b, a = before["TokenRateLimitPolicy"]["spec"]["limits"], after["TokenRateLimitPolicy"]["spec"]["limits"]
    assert [k for k in b if b[k] != a[k]] == ["pro-tokens"]
    assert a["pro-tokens"]["rates"][0] == {"limit": 60000, "window": "1m"}
    assert a["pro-tokens"]["rates"][1] == b["pro-tokens"]["rates"][1]


def test_custom_names_and_http_route_target():
    policies = tm.render_policies(DEFAULT_TIERS, "HTTPRoute", "llm-route", "ns1", {"team": "x"},
                                  names={"AuthPolicy": "auth-x"})
    assert policies["AuthPolicy"]["metadata"]["name"] == "auth-x"
    assert policies["RateLimitPolicy"]["metadata"]["name"] == "token-labs-request-limits"
    assert policies["TokenRateLimitPolicy"]["spec"]["targetRef"]["kind"] == "HTTPRoute"
    api_key = policies["AuthPolicy"]["spec"]["rules"]["authentication"]["api-key-tenants"]
    assert api_key["apiKey"]["selector"] == {"matchLabels": {"team": "x"}}
    assert api_key["credentials"] == {"authorizationHeader": {"prefix": "Bearer"}}


def test_auth_policy_publishes_groups_and_userid_and_skips_preflight():
    spec = render()["AuthPolicy"]["spec"]
    props = spec["rules"]["response"]["success"]["filters"]["identity"]["json"]["properties"]
    assert props == {"groups": {"selector": "auth.identity.metadata.annotations.kuadrant\\.io/groups"},
                     "userid": {"selector": "auth.identity.metadata.annotations.secret\\.kuadrant\\.io/user-id"}}
    assert spec["when"] == [{"predicate": 'request.method != "OPTIONS"'}]


def test_the_allow_list_is_derived_from_the_table():
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["team"] = dict(tiers["pro"])
    del tiers["free"]
    rule = render(tiers)["AuthPolicy"]["spec"]["rules"]["authorization"]["allowed-tiers"]
    predicate = rule["patternMatching"]["patterns"][0]["predicate"]
    assert '["enterprise", "pro", "team"]' in predicate and '"free"' not in predicate


def test_tier_predicate_text():
    assert tm.tier_predicate("pro", ["pro", "free"]) == (
        'auth.identity.groups.split(",").filter(g, g in ["free", "pro"]) == ["pro"]')


def test_token_limits_match_the_path_without_query_string():
    predicate = render()["TokenRateLimitPolicy"]["spec"]["limits"]["free-tokens"]["when"][0]["predicate"]
    assert "request.url_path" in predicate and "request.path" not in predicate.replace("request.url_path", "")
    single = tm.token_scope_predicate(["/v1/completions"])
    assert single == 'request.method == "POST" && request.url_path == "/v1/completions"'


# --- tenants and removal of tiers --------------------------------------------------------------
def secret(name, groups=None):
    annotations = {} if groups is None else {tm.ANNOTATION_GROUPS: groups}
    return {"metadata": {"name": name, "annotations": annotations}}


def test_removing_a_used_tier_is_blocked_and_names_the_tenants():
    tenants = [secret("tenant-b", "pro"), secret("tenant-a", "pro"), secret("tenant-c", "free")]
    blocked, warnings = tm.check_tenant_tiers(tenants, ["free", "enterprise"], {"free", "pro", "enterprise"})
    assert blocked == {"pro": ["tenant-a", "tenant-b"]} and warnings == []
    message = tm.describe_blocked(blocked, "kuadrant-system")
    assert "tier 'pro' is used by tenant-a, tenant-b" in message and "kuadrant-system" in message


def test_removing_an_unused_tier_is_fine():
    blocked, warnings = tm.check_tenant_tiers([secret("t", "free")], ["free"], {"free", "pro"})
    assert blocked == {} and warnings == []


def test_tenants_already_refused_only_warn():
    blocked, warnings = tm.check_tenant_tiers([secret("t", "gold"), secret("u")], ["free"], {"free", "pro"})
    assert blocked == {}
    assert len(warnings) == 2 and "tenant t has tier gold" in warnings[0]


def test_unknown_previous_table_blocks_every_tenant_left_without_a_tier():
    blocked, _warnings = tm.check_tenant_tiers([secret("t", "gold"), secret("u", "free")], ["free"], None)
    assert blocked == {"gold": ["t"]}


def test_previous_tiers_come_from_the_policy_annotation():
    assert tm.previous_tiers(None) is None
    assert tm.previous_tiers({"metadata": {}}) is None
    assert tm.previous_tiers(render()["AuthPolicy"]) == {"enterprise", "free", "pro"}


# --- desired vs live, APIs, inputs ---------------------------------------------------------------
def test_live_matches_ignores_foreign_metadata_but_not_spec():
    desired = render()["RateLimitPolicy"]
    live = copy.deepcopy(desired)
    live["metadata"]["labels"]["other"] = "x"
    live["metadata"]["resourceVersion"] = "7"
    assert tm.live_matches(desired, live)
    live["spec"]["limits"]["free-requests"]["rates"][0]["limit"] = 11
    assert not tm.live_matches(desired, live)
    assert not tm.live_matches(desired, None)
    stale = copy.deepcopy(desired)
    stale["metadata"]["annotations"][tm.ANNOTATION_TIERS] = "free"
    assert not tm.live_matches(desired, stale)


def test_missing_apis_name_the_install_step():
    full = {"/apis/kuadrant.io/v1": {"resources": [{"name": "authpolicies"}, {"name": "ratelimitpolicies"}]},
            "/apis/kuadrant.io/v1alpha1": {"resources": [{"name": "tokenratelimitpolicies"}]},
            "/apis/gateway.networking.k8s.io/v1": {"resources": [{"name": "gateways"}, {"name": "httproutes"}]}}
    assert tm.missing_apis(full) == []
    no_trlp = dict(full, **{"/apis/kuadrant.io/v1alpha1": {"resources": [{"name": "planpolicies"}]}})
    problems = tm.missing_apis(no_trlp)
    assert len(problems) == 1 and "TokenRateLimitPolicy" in problems[0] and "kuadrant-operator" in problems[0]
    nothing = tm.missing_apis({})
    assert len(nothing) == 3 and "Kuadrant CRDs" in nothing[0] and "Gateway API" in nothing[2]


def test_other_inputs_are_validated():
    ok = dict(target_kind="Gateway", target_name="gw", namespace="ns", names=dict(tm.DEFAULT_POLICY_NAMES),
              token_paths=["/v1/completions"], tenant_selector={"app": "token-labs"}, kuadrant_namespace="k")
    tm.validate_policy_inputs(**ok)
    for field, value, fragment in [
        ("target_kind", "Service", "allowed: Gateway, HTTPRoute"),
        ("target_name", "My_GW", "target_name = 'My_GW'"),
        ("token_paths", [], "token_paths is empty"),
        ("token_paths", ["v1/completions"], "absolute URL path"),
        ("token_paths", ["/v1/completions?x=1"], "without query string"),
        ("token_paths", ["/a", "/a"], "twice"),
        ("tenant_selector", {}, "non-empty dict"),
        ("tenant_selector", {"app": 1}, "not a label"),
        ("names", {"AuthPolicy": "Bad Name"}, "AuthPolicy name = 'Bad Name'"),
    ]:
        with pytest.raises(tm.TierTableError, match=re.escape(fragment)):
            tm.validate_policy_inputs(**dict(ok, **{field: value}))


def test_label_selector_string():
    assert tm.label_selector_string({"b": "2", "a": "1"}) == "a=1,b=2"
