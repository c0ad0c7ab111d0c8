"""The tiers a tenant may have come from the deployed AuthPolicy (annotation tokenlabs.io/tiers)."""

from __future__ import annotations

import json

from support.tenant_runner import Runner


def deploy_auth_policy(cp, namespace, tiers, name="token-labs-auth"):
    cp.apply(json.dumps({
        "apiVersion": "kuadrant.io/v1", "kind": "AuthPolicy",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"tokenlabs.io/tiers": ",".join(tiers)}},
        "spec": {"targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"},
                 "rules": {"authentication": {"anyone": {"anonymous": {}}}}}}))


def test_omitted_tiers_are_read_from_the_deployed_auth_policy(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    deploy_auth_policy(control_plane, namespace, ["free", "pro"])
    res = run.tenant(name="acme", tier="pro", tiers=None, return_key=True)
    assert not res.get("failed"), res
    assert res["outcome"] == "created" and res["tenant"]["tier"] == "pro"
    mark = run.mark()
    refused = run.tenant(name="bigco", tier="enterprise", tiers=None, return_key=True)
    assert refused["failed"] is True
    assert "tier 'enterprise' is not a known tier; allowed tiers: free, pro" in refused["msg"]
    listed = run.tenants([{"name": "bigco", "tier": "enterprise"}], tiers=None, return_keys=True)
    assert listed["failed"] is True and "allowed tiers: free, pro" in listed["msg"]
    assert run.secret_writes(mark) == []


def test_given_tiers_that_differ_from_the_gateway_are_refused_before_any_write(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    deploy_auth_policy(control_plane, namespace, ["free", "pro"])
    mark = run.mark()
    res = run.tenants([{"name": "acme", "tier": "free"}], return_keys=True)  # TIERS: enterprise, free, pro
    assert res["failed"] is True
    assert ("tiers enterprise, free, pro differ from the tiers the gateway accepts (AuthPolicy %s/token-labs-auth, "
            "annotation tokenlabs.io/tiers: free, pro)" % namespace) in res["msg"]
    assert "site.yml --tags tiers" in res["msg"]
    assert run.secret_writes(mark) == []
    # check mode (site.yml --check before the tiers role deployed a new table): a warning, then the plan
    checked = run.tenants([{"name": "acme", "tier": "enterprise"}], "--check", return_keys=True)
    assert not checked.get("failed") and checked["changed"] is True, checked
    assert any("differ from the tiers the gateway accepts" in w for w in checked["warnings"])
    # the same list as the gateway is fine
    same = run.tenants([{"name": "acme", "tier": "free"}], tiers=["pro", "free"], return_keys=True)
    assert same["created"] == ["acme"]


def test_omitted_tiers_without_a_deployed_policy_is_a_clear_error(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    res = run.tenant(name="acme", tier="pro", tiers=None, return_key=True)
    assert res["failed"] is True
    assert "tiers were not given and cannot be read from the cluster" in res["msg"]
    assert "AuthPolicy %s/token-labs-auth does not exist" % namespace in res["msg"]
    # a revoke needs no tiers at all
    gone = run.tenant(name="acme", state="absent")
    assert not gone.get("failed") and gone["outcome"] == "unchanged"
