"""Unit tests of the apply flow's decisions with an in-memory stand-in for KubeApi.

The real API server is exercised in tests/integration/test_tier_policies.py;
these cover what is hard to provoke there: failures half-way through a run.
"""

import copy

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers.policy_apply import (
    PolicyApplyError, reconcile_policies, remove_policies)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

TIERS = {"free": {"requests_per_minute": 1, "tokens_per_minute": 10},
         "pro": {"requests_per_minute": 5, "tokens_per_minute": 50}}
DISCOVERY = {
    "/apis/kuadrant.io/v1": {"resources": [{"name": "authpolicies"}, {"name": "ratelimitpolicies"}]},
    "/apis/kuadrant.io/v1alpha1": {"resources": [{"name": "tokenratelimitpolicies"}]},
    "/apis/gateway.networking.k8s.io/v1": {"resources": [{"name": "gateways"}, {"name": "httproutes"}]},
}
GATEWAY = policy_render.target_path("Gateway", "gw-ns", "gw")


class FakeApi(object):
    def __init__(self, objects=None, fail_on=None, tenants=None, extra_on_apply=None):
        self.objects = dict(DISCOVERY)
        self.objects[GATEWAY] = {"kind": "Gateway"}
        self.objects.update(objects or {})
        self.fail_on = fail_on
        self.tenants = tenants or []
        self.extra_on_apply = extra_on_apply or {}
        self.calls = []

    def get(self, path, query=None, missing_ok=False):
        self.calls.append(("GET", path))
        if path in self.objects:
            return copy.deepcopy(self.objects[path])
        if missing_ok:
            return None
        raise ApiError(404, "Not Found", "not found", "GET", path)

    def list(self, path, label_selector=None, limit=None, metadata_only=False):
        self.calls.append(("LIST", path, label_selector, metadata_only))
        return copy.deepcopy(self.tenants)

    def apply(self, path, body, force=True):
        self.calls.append(("APPLY", path))
        if self.fail_on and self.fail_on in path:
            raise ApiError(422, "Unprocessable Entity", "spec.limits: Invalid value", "PATCH", path)
        obj = copy.deepcopy(body)
        obj["spec"].update(copy.deepcopy(self.extra_on_apply.get(body["kind"], {})))
        obj["metadata"]["resourceVersion"] = "1"
        self.objects[path] = obj
        return copy.deepcopy(obj)

    def request(self, method, path, body=None, **kwargs):
        self.calls.append((method, path))
        self.objects[path] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def delete(self, path, missing_ok=True, preconditions=None):
        self.calls.append(("DELETE", path))
        self.objects.pop(path, None)


def reconcile(api, tiers=None, check_mode=False):
    tiers = TIERS if tiers is None else tiers
    return reconcile_policies(api, tier_table.validate_tiers(tiers), target_kind="Gateway", target_name="gw",
                              namespace="gw-ns", kuadrant_namespace="kuadrant-system",
                              tenant_selector={"app": "token-labs"}, token_paths=tier_table.DEFAULT_TOKEN_PATHS,
                              names=dict(tier_table.DEFAULT_POLICY_NAMES), check_mode=check_mode)


def writes(api):
    return [c for c in api.calls if c[0] in ("APPLY", "PUT", "DELETE")]


def test_first_run_creates_then_nothing_to_do():
    api = FakeApi()
    result = reconcile(api)
    assert [p["action"] for p in result["policies"]] == ["created"] * 3
    assert [c[1].split("/")[-2] for c in writes(api)] == ["ratelimitpolicies", "tokenratelimitpolicies",
                                                          "authpolicies"]
    assert ("LIST", "/api/v1/namespaces/kuadrant-system/secrets", contract.tenant_label_selector({"app": "token-labs"}), True) in api.calls
    api.calls = []
    again = reconcile(api)
    assert again["changed"] is False and writes(api) == [] and "diff" not in again


def test_partial_failure_says_what_was_and_was_not_applied():
    api = FakeApi(fail_on="tokenratelimitpolicies")
    with pytest.raises(PolicyApplyError) as info:
        reconcile(api)
    message = str(info.value)
    assert "applying TokenRateLimitPolicy/token-labs-token-limits failed" in message
    assert "Already done: RateLimitPolicy created" in message
    assert "not applied: TokenRateLimitPolicy, AuthPolicy" in message
    assert info.value.changed is True
    assert [p["action"] for p in info.value.policies] == ["created", "failed"]


def test_foreign_fields_left_by_server_side_apply_are_replaced():
    api = FakeApi(extra_on_apply={"RateLimitPolicy": {"limits": {"free-daily": {"rates": []}}}})
    reconcile(api)
    rlp = api.objects[policy_render.policy_path("RateLimitPolicy", "gw-ns", "token-labs-request-limits")]
    assert "free-daily" not in rlp["spec"]["limits"]
    assert ("PUT", policy_render.policy_path("RateLimitPolicy", "gw-ns", "token-labs-request-limits")) in api.calls


def test_missing_crds_and_target_stop_before_any_write():
    api = FakeApi()
    del api.objects["/apis/kuadrant.io/v1alpha1"]
    with pytest.raises(PolicyApplyError, match="TokenRateLimitPolicy .* is missing: install kuadrant-operator"):
        reconcile(api)
    assert writes(api) == []
    api = FakeApi()
    del api.objects[GATEWAY]
    with pytest.raises(PolicyApplyError, match="target Gateway gw-ns/gw does not exist"):
        reconcile(api)
    assert writes(api) == []


def test_check_mode_on_an_empty_cluster_reports_what_would_be_created():
    api = FakeApi()
    for path in list(DISCOVERY) + [GATEWAY]:
        del api.objects[path]
    result = reconcile(api, check_mode=True)
    assert result["changed"] is True
    assert [p["action"] for p in result["policies"]] == ["created"] * 3
    assert writes(api) == [] and not [c for c in api.calls if c[0] == "APPLY"]
    warning = result["warnings"][-1]
    assert warning.startswith("check mode: ") and "target Gateway gw-ns/gw does not exist" in warning
    assert "Kuadrant CRDs" in warning and "earlier role of playbooks/site.yml" in warning
    # With everything in place, check mode goes through the (dry-run) apply as before.
    api = FakeApi()
    result = reconcile(api, check_mode=True)
    assert result["changed"] is True and not [w for w in result["warnings"] if w.startswith("check mode")]
    assert len([c for c in api.calls if c[0] == "APPLY"]) == 3


def test_used_tier_removal_stops_before_any_write():
    api = FakeApi()
    reconcile(api)
    api.tenants = [{"metadata": {"name": "tenant-acme", "annotations": {contract.GROUPS_ANNOTATION: "pro"}}}]
    api.calls = []
    with pytest.raises(PolicyApplyError, match="tier 'pro' is used by tenant-acme"):
        reconcile(api, {"free": TIERS["free"]})
    assert writes(api) == []


def test_remove_policies():
    api = FakeApi()
    reconcile(api)
    result = remove_policies(api, "gw-ns", dict(tier_table.DEFAULT_POLICY_NAMES))
    assert [p["action"] for p in result["policies"]] == ["deleted"] * 3
    assert result["policies"][-1]["kind"] == "AuthPolicy"  # authentication is removed last
    again = remove_policies(api, "gw-ns", dict(tier_table.DEFAULT_POLICY_NAMES))
    assert again["changed"] is False and [p["action"] for p in again["policies"]] == ["absent"] * 3
