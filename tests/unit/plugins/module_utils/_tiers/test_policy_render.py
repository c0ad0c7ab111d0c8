"""Unit tests of the policies rendered from the tier table, and of reading live state against them.

What the rendered CEL does is proven on the engines that evaluate it, in
tests/conformance: the limit predicates with wasm-shim's CEL crate
(test_wasm_predicates.py, test_quotas.py), the authorization rules on the real
Authorino (test_authorino_rules.py, test_authorino_tenants.py).
"""

import copy
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract
from support.tiers import DEFAULT_TIERS  # noqa: E402

REPO = Path(__file__).resolve().parents[5]
CRD_WINDOW = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def render(tiers=None, **kwargs):
    return policy_render.render_policies(tiers if tiers is not None else DEFAULT_TIERS, "Gateway", "token-labs-gateway",
                                         "token-labs", {"app": "token-labs"}, **kwargs)


def errors_of(tiers):
    with pytest.raises(tier_table.TierTableError) as info:
        tier_table.validate_tiers(tiers)
    return info.value.errors


# --- the table --------------------------------------------------------------------------


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
        assert policy["apiVersion"] == tier_table.POLICY_KINDS[kind][0]
        assert policy["metadata"]["name"] == tier_table.DEFAULT_POLICY_NAMES[kind]
        assert policy["metadata"]["annotations"][contract.TIERS_ANNOTATION] == "enterprise,free,pro"
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
    policies = policy_render.render_policies(DEFAULT_TIERS, "HTTPRoute", "llm-route", "ns1", {"team": "x"},
                                             names={"AuthPolicy": "auth-x"})
    assert policies["AuthPolicy"]["metadata"]["name"] == "auth-x"
    assert policies["RateLimitPolicy"]["metadata"]["name"] == "token-labs-request-limits"
    assert policies["TokenRateLimitPolicy"]["spec"]["targetRef"]["kind"] == "HTTPRoute"
    api_key = policies["AuthPolicy"]["spec"]["rules"]["authentication"]["api-key-tenants"]
    assert api_key["apiKey"]["selector"] == {"matchLabels": {"team": "x", contract.AUTHORINO_WATCH_LABEL: "authorino"}}
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
    assert policy_render.tier_predicate("pro", ["pro", "free"]) == (
        'auth.identity.groups.split(",").filter(g, g in ["free", "pro"]) == ["pro"]')


def test_token_limits_match_the_path_without_query_string():
    predicate = render()["TokenRateLimitPolicy"]["spec"]["limits"]["free-tokens"]["when"][0]["predicate"]
    assert "request.url_path" in predicate and "request.path" not in predicate.replace("request.url_path", "")
    single = policy_render.token_scope_predicate(["/v1/completions"])
    assert single == 'request.method == "POST" && request.url_path == "/v1/completions"'


# --- tenants and removal of tiers --------------------------------------------------------------
def secret(name, groups=None):
    annotations = {} if groups is None else {contract.GROUPS_ANNOTATION: groups}
    return {"metadata": {"name": name, "annotations": annotations}}


def test_removing_a_used_tier_is_blocked_and_names_the_tenants():
    tenants = [secret("tenant-b", "pro"), secret("tenant-a", "pro"), secret("tenant-c", "free")]
    blocked, warnings = policy_render.check_tenant_tiers(tenants, ["free", "enterprise"], {"free", "pro", "enterprise"})
    assert blocked == {"pro": ["tenant-a", "tenant-b"]} and warnings == []
    message = policy_render.describe_blocked(blocked, "kuadrant-system")
    assert "tier 'pro' is used by tenant-a, tenant-b" in message and "kuadrant-system" in message


def test_removing_an_unused_tier_is_fine():
    blocked, warnings = policy_render.check_tenant_tiers([secret("t", "free")], ["free"], {"free", "pro"})
    assert blocked == {} and warnings == []


def test_tenants_already_refused_only_warn():
    blocked, warnings = policy_render.check_tenant_tiers([secret("t", "gold"), secret("u")], ["free"], {"free", "pro"})
    assert blocked == {}
    assert len(warnings) == 2 and "tenant t has tier gold" in warnings[0]


def test_unknown_previous_table_blocks_every_tenant_left_without_a_tier():
    blocked, _warnings = policy_render.check_tenant_tiers([secret("t", "gold"), secret("u", "free")], ["free"], None)
    assert blocked == {"gold": ["t"]}


def test_the_policy_records_the_tiers_the_tenant_side_reads():
    assert contract.policy_tiers(render()["AuthPolicy"]) == {"enterprise", "free", "pro"}


# --- desired vs live, APIs, inputs ---------------------------------------------------------------
def test_live_matches_ignores_foreign_metadata_but_not_spec():
    desired = render()["RateLimitPolicy"]
    live = copy.deepcopy(desired)
    live["metadata"]["labels"]["other"] = "x"
    live["metadata"]["resourceVersion"] = "7"
    assert policy_render.live_matches(desired, live)
    live["spec"]["limits"]["free-requests"]["rates"][0]["limit"] = 11
    assert not policy_render.live_matches(desired, live)
    assert not policy_render.live_matches(desired, None)
    stale = copy.deepcopy(desired)
    stale["metadata"]["annotations"][contract.TIERS_ANNOTATION] = "free"
    assert not policy_render.live_matches(desired, stale)


def test_missing_apis_name_the_install_step():
    full = {"/apis/kuadrant.io/v1": {"resources": [{"name": "authpolicies"}, {"name": "ratelimitpolicies"}]},
            "/apis/kuadrant.io/v1alpha1": {"resources": [{"name": "tokenratelimitpolicies"}]},
            "/apis/gateway.networking.k8s.io/v1": {"resources": [{"name": "gateways"}, {"name": "httproutes"}]}}
    assert policy_render.missing_apis(full) == []
    no_trlp = dict(full, **{"/apis/kuadrant.io/v1alpha1": {"resources": [{"name": "planpolicies"}]}})
    problems = policy_render.missing_apis(no_trlp)
    assert len(problems) == 1 and "TokenRateLimitPolicy" in problems[0] and "kuadrant-operator" in problems[0]
    nothing = policy_render.missing_apis({})
    assert len(nothing) == 3 and "Kuadrant CRDs" in nothing[0] and "Gateway API" in nothing[2]


def test_other_inputs_are_validated():
    ok = dict(target_kind="Gateway", target_name="gw", namespace="ns", names=dict(tier_table.DEFAULT_POLICY_NAMES),
              token_paths=["/v1/completions"], tenant_selector={"app": "token-labs"}, kuadrant_namespace="k")
    policy_render.validate_policy_inputs(**ok)
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
        with pytest.raises(tier_table.TierTableError, match=re.escape(fragment)):
            policy_render.validate_policy_inputs(**dict(ok, **{field: value}))


def test_the_auth_policy_sets_the_tenant_and_tier_headers_the_ai_gateway_labels_its_metrics_with():
    headers = render()["AuthPolicy"]["spec"]["rules"]["response"]["success"]["headers"]
    assert headers == {
        "x-tokenlabs-tenant": {"plain": {"selector": "auth.identity.metadata.annotations.secret\\.kuadrant\\.io/user-id"},
                               "metrics": False, "priority": 0},
        "x-tokenlabs-tier": {"plain": {"selector": "auth.identity.metadata.annotations.kuadrant\\.io/groups"},
                             "metrics": False, "priority": 0}}
    defaults = yaml.safe_load((REPO / "roles/envoy_gateway/defaults/main.yml").read_text())
    assert tier_table.METRICS_HEADER_ATTRIBUTES == "x-tokenlabs-tenant:tenant,x-tokenlabs-tier:tier" == \
        defaults["envoy_gateway_ai_gateway_values"]["controller"]["metricsRequestHeaderAttributes"]
