"""A site on a cluster where kuadrant-operator runs: its objects, its selector, and waiting for what the operator
generated -- the AuthConfig with the applied rules, Ready; the plugin config and limits of the applied limits."""

import pytest

from testworld import kuadrant_outputs as ko
from testworld import kuadrant_site as ks
from testworld.base import TestWorldError

RULES = {"authentication": {"api-key-users": {"apiKey": {"selector": {"matchLabels": {"app": "token-labs"}}}}},
         "authorization": {"tier": {"opa": {"rego": "allow = true"}}}}
REQUEST_LIMITS = {"free-requests": {"rates": [{"limit": 10, "window": "1m"}, {"limit": 100, "window": "1d"}]}}
TOKEN_LIMITS = {"free-tokens": {"rates": [{"limit": 5000, "window": "1m"}]}}


def test_site_objects_and_selector():
    namespace, gateway, route = ks.site_objects("g-1")
    assert namespace["metadata"]["name"] == "g-1"
    assert gateway["spec"]["listeners"] == [{"name": "http", "port": 80, "protocol": "HTTP",
                                             "hostname": "inference.token-labs.local"}]
    assert gateway["spec"]["gatewayClassName"] == ks.gateway_class()["metadata"]["name"] == "eg"
    assert route["metadata"] == {"name": "llm-inference", "namespace": "g-1"}
    assert route["spec"]["parentRefs"] == [{"name": "token-labs-gateway"}]
    assert ks.site_selector("a1") == {"app": "token-labs", "tokenlabs.test/site": "a1"}
    assert ks.SELECTOR == {"app": "token-labs"}  # not changed by a site's selector


def test_authconfig_current_and_ready():
    assert ks.authconfig_current({"spec": dict(RULES, hosts=["x"])}, RULES)
    assert not ks.authconfig_current({"spec": {"authentication": RULES["authentication"]}}, RULES)
    assert not ks.authconfig_current(None, RULES)
    assert ks.ready({"status": {"conditions": [{"type": "Available", "status": "True"},
                                               {"type": "Ready", "status": "True"}]}})
    assert not ks.ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not ks.ready(None)


def plugin(auth_scope="ac", scope="g-1/llm-inference", conditions=2, checks=1):
    actions = [{"service": "auth-service", "scope": auth_scope},
               {"service": "ratelimit-service", "scope": scope, "conditionalData": [{}] * conditions}]
    actions += [{"service": "ratelimit-check-service", "scope": scope}] * checks
    return {"actionSets": [{"name": "other", "actions": []}, {"name": "route", "actions": actions}]}


def test_plugin_reflects_the_applied_limits():
    assert ks.expected_limits(REQUEST_LIMITS, TOKEN_LIMITS) == [
        ("free-requests", 10), ("free-requests", 100), ("free-tokens", 5000)]
    assert ks.plugin_reflects(plugin(), "ac", "g-1/llm-inference", 2, 1)
    assert not ks.plugin_reflects(plugin(conditions=1), "ac", "g-1/llm-inference", 2, 1)  # an older policy
    assert not ks.plugin_reflects(plugin(auth_scope="old"), "ac", "g-1/llm-inference", 2, 1)
    assert not ks.plugin_reflects(plugin(scope="g-2/llm-inference"), "ac", "g-1/llm-inference", 2, 1)
    assert not ks.plugin_reflects(None, "ac", "g-1/llm-inference", 2, 1)


class FakeCluster:
    """The operator's outputs appear after the policies are applied (the AuthConfig Ready on the second read)."""

    def __init__(self):
        self.applied, self.modules, self.reads = [], [], 0
        self.objects = {}

    def apply(self, manifest):
        self.applied.append((manifest["kind"], manifest["metadata"].get("namespace"), manifest["metadata"]["name"]))

    def run_module(self, name, params):
        self.modules.append((name, params))
        ns = params["target_namespace"]
        authconfig = {"metadata": {"name": "ac", "annotations": {
            ko.ROUTE_RULE_ANNOTATION: ko.route_rule(ns, "llm-inference")}}, "spec": dict(RULES)}
        self.objects.update({
            ("get", "authpolicy", "token-labs-auth", "-n", ns): {"spec": {"rules": RULES}},
            ("get", "ratelimitpolicy", "token-labs-request-limits", "-n", ns): {"spec": {"limits": REQUEST_LIMITS}},
            ("get", "tokenratelimitpolicy", "token-labs-token-limits", "-n", ns): {"spec": {"limits": TOKEN_LIMITS}},
            ("get", "authconfigs", "-n", "kuadrant-system", "-l", ko.MANAGED_AUTHCONFIGS): {"items": [authconfig]},
            ("get", "envoyextensionpolicy", "kuadrant-token-labs-gateway", "-n", ns): {
                "spec": {"wasm": [{"config": plugin(scope=f"{ns}/llm-inference", conditions=1)}]}},
            ("get", "limitador", "limitador", "-n", "kuadrant-system"): {"spec": {"limits": [
                {"name": n, "max_value": v, "namespace": f"{ns}/llm-inference"}
                for n, v in ks.expected_limits(REQUEST_LIMITS, TOKEN_LIMITS)]}},
        })
        return {"changed": True}

    def get_json(self, *args):
        if args[:2] == ("get", "authconfig"):
            self.reads += 1
            return {"status": {"conditions": [{"type": "Ready", "status": "True" if self.reads > 1 else "False"}]}}
        return self.objects.get(args)


def test_a_site_is_created_and_served():
    cluster = FakeCluster()
    site = ks.Site(cluster.get_json, cluster.apply, cluster.run_module, "s1", {"free": {}}, timeout=1).create()
    assert cluster.applied == [("Namespace", None, "g-s1"), ("Gateway", "g-s1", "token-labs-gateway"),
                               ("HTTPRoute", "g-s1", "llm-inference")]
    assert cluster.modules == [("tier_policies", {
        "tiers": {"free": {}}, "target_kind": "Gateway", "target_name": "token-labs-gateway",
        "target_namespace": "g-s1", "kuadrant_namespace": "kuadrant-system",
        "tenant_selector": {"app": "token-labs", "tokenlabs.test/site": "s1"}})]
    assert site.name == "ac" and cluster.reads == 2
    config, limits = site.quota_config()
    assert config["actionSets"][1]["name"] == "route"
    assert [limit["name"] for limit in limits] == ["free-requests", "free-requests", "free-tokens"]


def test_a_failed_policy_run_or_a_missing_authconfig_is_an_error():
    cluster = FakeCluster()
    with pytest.raises(TestWorldError, match="tier_policies failed for g-s2: no"):
        ks.Site(cluster.get_json, cluster.apply, lambda name, params: {"failed": True, "msg": "no"}, "s2", {}).create()

    def policies_only(name, params):  # the policies are written, the operator generates no AuthConfig
        result = cluster.run_module(name, params)
        del cluster.objects[("get", "authconfigs", "-n", "kuadrant-system", "-l", ko.MANAGED_AUTHCONFIGS)]
        return result
    with pytest.raises(TimeoutError, match="the AuthConfig of g-s3/llm-inference"):
        ks.Site(cluster.get_json, cluster.apply, policies_only, "s3", {}, timeout=0.05).create()
