"""One owner per tenant: the inventory (`tenants`, site.yml) and the runbook (`tenant`, tenant.yml, AWX).

Each reversal the two paths used to inflict on each other has a test here; each failed on the
code before ownership existed (the inventory silently won).
"""

from __future__ import annotations

import json

import pytest
from support.tenant_runner import SUPPLIED_KEY, TIERS, Runner, key_of

OWNER = "tokenlabs.io/owner"
GENERATION = "tokenlabs.io/key-generation"


@pytest.fixture
def run(control_plane, namespace, tmp_path):
    return Runner(control_plane, namespace, tmp_path)


def annotations(run, tenant):
    return run.secret(tenant)["metadata"]["annotations"]


def test_the_runbook_cannot_change_revoke_or_rekey_an_inventory_tenant(run):
    made = run.tenants([{"name": "inv", "tier": "free", "api_key": SUPPLIED_KEY}])
    assert made["created"] == ["inv"] and annotations(run, "inv")[OWNER] == "inventory"
    mark = run.mark()
    for params in ({"tier": "pro"}, {"rotate": True, "return_key": True}, {"state": "absent"},
                   {"expires_at": "2099-01-01T00:00:00Z"}):
        res = run.tenant(name="inv", must_exist=True, **params)
        assert res["failed"], params
        assert "tenant 'inv' is managed by the inventory" in res["msg"]
        assert "tokenlabs_tenants" in res["msg"] and "take_over" in res["msg"]
    assert run.secret_writes(mark) == []
    assert key_of(run.secret("inv")) == SUPPLIED_KEY and annotations(run, "inv")["kuadrant.io/groups"] == "free"
    # so the next deploy changes nothing back
    assert run.tenants([{"name": "inv", "tier": "free", "api_key": SUPPLIED_KEY}])["changed"] is False


def test_the_inventory_does_not_set_back_a_runbook_tenant(run):
    run.tenant(name="desk", tier="free", return_key=True)
    assert run.tenant(name="desk", tier="pro", must_exist=True)["changed"]  # change_tier with tenant.yml
    mark = run.mark()
    res = run.tenants([{"name": "desk", "tier": "free"}])                 # a stale inventory entry
    assert res["failed"]
    assert "tenant 'desk' is managed by the runbook" in res["msg"] and "take_over: true" in res["msg"]
    assert run.secret_writes(mark) == []
    assert annotations(run, "desk")["kuadrant.io/groups"] == "pro"


def test_take_over_moves_a_tenant_between_owners_and_keeps_its_key(run):
    key = run.tenant(name="moving", tier="free", return_key=True)["api_key"]
    res = run.tenants([{"name": "moving", "tier": "pro", "take_over": True}])
    assert res["updated"] == ["moving"] and annotations(run, "moving")[OWNER] == "inventory"
    assert key_of(run.secret("moving")) == key
    res = run.tenant(name="moving", tier="enterprise", take_over=True, must_exist=True)
    assert res["changed"] and annotations(run, "moving")[OWNER] == "runbook"


def test_a_secret_without_owner_is_adopted_with_its_key(run):
    key = "tlabs_sk_" + "9c" * 24
    run.cp.apply(json.dumps({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                             "metadata": {"name": "tenant-seed", "namespace": run.ns,
                                          "labels": {"app": "token-labs", "authorino.kuadrant.io/managed-by": "authorino"},
                                          "annotations": {"kuadrant.io/groups": "pro",
                                                          "secret.kuadrant.io/user-id": "seed"}},
                             "stringData": {"api_key": key}}))
    res = run.tenants([{"name": "seed", "tier": "pro"}])
    assert res["updated"] == ["seed"] and "generated" not in json.dumps(res.get("key_files") or {})
    assert key_of(run.secret("seed")) == key and annotations(run, "seed")[OWNER] == "inventory"
    assert run.info(name=["seed"])["tenants"][0]["owner"] == "inventory"


def test_prune_never_touches_runbook_tenants(run):
    for name in ("walkin-1", "walkin-2"):
        run.tenant(name=name, tier="free", return_key=True)
    run.tenants([{"name": "inv-a", "tier": "free"}, {"name": "inv-b", "tier": "pro"}], return_keys=True)
    res = run.tenants([{"name": "inv-a", "tier": "free"}], prune=True)
    assert res["deleted"] == ["inv-b"]
    assert sorted(n for n in run.secret_names()) == ["tenant-inv-a", "tenant-walkin-1", "tenant-walkin-2"]


def test_rotation_in_inventory_is_declarative(run):
    old = run.tenants([{"name": "gen", "tier": "free"}], return_keys=True)["api_keys"]["gen"]
    assert annotations(run, "gen")[GENERATION] == "1"
    refused = run.tenants([{"name": "gen", "tier": "free", "rotate": True}])
    assert refused["failed"] and "raise key_generation by one instead" in refused["msg"]
    rotated = run.tenants([{"name": "gen", "tier": "free", "key_generation": 2, "grace_period": "1h"}],
                          return_keys=True)
    new = rotated["api_keys"]["gen"]
    assert new != old and key_of(run.secret("gen")) == new and annotations(run, "gen")[GENERATION] == "2"
    assert [n for n in run.secret_names() if ".retired-" in n]  # the old key for its grace period
    mark = run.mark()
    again = run.tenants([{"name": "gen", "tier": "free", "key_generation": 2, "grace_period": "1h"}],
                        return_keys=True)
    assert again["changed"] is False and not again.get("api_keys") and run.secret_writes(mark) == []
    lower = run.tenants([{"name": "gen", "tier": "free", "key_generation": 1}])
    assert lower["failed"] and "below the live key generation 2" in lower["msg"]


def test_runbook_rotations_raise_the_generation(run):
    run.tenant(name="rb", tier="free", return_key=True)
    run.tenant(name="rb", rotate=True, must_exist=True, return_key=True)
    assert annotations(run, "rb")[GENERATION] == "2"
    assert run.info(name=["rb"])["tenants"][0]["key_generation"] == 2


def test_mixed_use_100_inventory_and_20_runbook_tenants(run):
    inventory = [{"name": "i%03d" % i, "tier": ("free", "pro")[i % 2]} for i in range(100)]
    assert len(run.tenants(inventory, return_keys=True)["created"]) == 100
    tasks = [{"name": "Onboard r%02d" % i, "tokenlabs.inference.tenant": {
        "name": "r%02d" % i, "tier": "enterprise", "tiers": TIERS, "namespace": run.ns, "return_key": True},
        "no_log": True} for i in range(20)]
    assert run.playbook(tasks, json_output=False).returncode == 0
    mark = run.mark()
    rerun = run.tenants(inventory)
    assert rerun["changed"] is False and run.secret_writes(mark) == []
    refused = run.tenant(name="i007", tier="enterprise", must_exist=True)
    assert refused["failed"] and "managed by the inventory" in refused["msg"]
    # the playbooks an operator runs: tenants.yml (AWX "Sync tenants") and site.yml's tenant step
    (run.tmp / "inv.json").write_text(json.dumps({"tokenlabs_tenants": inventory, "tokenlabs_kuadrant_namespace": run.ns,
                                                  "tokenlabs_tenant_key_dir": str(run.tmp / "keys")}))
    args = ("-i", "inventory/local", "-e", "@" + str(run.tmp / "inv.json"))
    # (site.yml's tenant step first labels the test's hand-made namespace, as the kuadrant role would have)
    assert run.cp.ansible_playbook("site.yml", *args, "--tags", "tenants").returncode == 0
    for playbook, extra in (("tenants.yml", []), ("site.yml", ["--tags", "tenants"])):
        mark = run.cp.audit_mark()
        proc = run.cp.ansible_playbook(playbook, *args, *extra)
        assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert run.cp.client_writes(mark, run.ns) == [], playbook
    emptied = run.tenants([], prune=True, prune_override=True)
    assert sorted(emptied["deleted"]) == [t["name"] for t in inventory]
    assert run.secret_names() == ["tenant-r%02d" % i for i in range(20)]
