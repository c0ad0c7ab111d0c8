"""tenant / tenants / tenant_info modules against the real control plane (nothing mocked)."""

from __future__ import annotations

import os
import stat
import time

import pytest
from support.tenant_runner import SUPPLIED_KEY, SUPPLIED_KEY_2, Runner, key_of, strip_volatile


@pytest.fixture
def run(control_plane, namespace, tmp_path):
    return Runner(control_plane, namespace, tmp_path)


def test_onboard_shape_check_mode_rerun_and_diff(run, tmp_path):
    key_file = tmp_path / "keys" / "acme.key"
    params = dict(name="acme", tier="pro", display_name="ACME Corp", contact="ops@acme.example",
                  expires_at="2099-01-01T00:00:00+01:00", api_key_file=str(key_file))

    mark = run.mark()
    checked = run.tenant("--check", **params)
    assert checked["changed"] is True and checked["outcome"] == "created"
    assert run.secret_writes(mark) == [] and run.secret("acme") is None and not key_file.exists()

    created = run.tenant("--diff", **params)
    assert created["changed"] is True and created["api_key_file"] == str(key_file)
    key = key_file.read_text().strip()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key.startswith("tlabs_sk_") and len(key) >= len("tlabs_sk_") + 48

    secret = run.secret("acme")
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert secret["metadata"]["labels"] == {"authorino.kuadrant.io/managed-by": "authorino", "app": "token-labs"}
    ann = secret["metadata"]["annotations"]
    assert ann == {
        "kuadrant.io/groups": "pro", "secret.kuadrant.io/user-id": "acme", "tokenlabs.io/tenant": "acme",
        "tokenlabs.io/key-fingerprint": created["fingerprint"], "tokenlabs.io/created-at": ann["tokenlabs.io/created-at"],
        "tokenlabs.io/display-name": "ACME Corp", "tokenlabs.io/contact": "ops@acme.example",
        "tokenlabs.io/expires-at": "2098-12-31T23:00:00Z", "tokenlabs.io/owner": "runbook",
        "tokenlabs.io/key-generation": "1"}
    assert list(secret["data"]) == ["api_key"] and key_of(secret) == key
    assert created["diff"]["after"]["fingerprint"] == created["fingerprint"]

    mark = run.mark()
    again = run.tenant("--diff", **params)
    assert "outcome" in again, again
    assert again["changed"] is False and again["outcome"] == "unchanged" and again["stats"]["writes"] == 0
    assert run.secret_writes(mark) == []
    assert key_file.read_text().strip() == key  # no new key on a rerun
    for output in run.outputs:
        assert key not in output


def test_tier_change_touches_only_the_annotation(run, tmp_path):
    run.tenant(name="acme", tier="free", api_key=SUPPLIED_KEY)
    before = run.secret("acme")
    mark = run.mark()
    res = run.tenant("--check", name="acme", tier="enterprise", must_exist=True)
    assert res["changed"] and res["changes"] == ["tier free -> enterprise"] and run.secret_writes(mark) == []
    res = run.tenant(name="acme", tier="enterprise", must_exist=True)
    assert res["changed"] and res["tenant"]["tier"] == "enterprise"
    writes = run.secret_writes(mark)
    assert [w["verb"] for w in writes] == ["patch"]
    after = run.secret("acme")
    expected = strip_volatile(before)
    expected["metadata"]["annotations"]["kuadrant.io/groups"] = "enterprise"
    assert strip_volatile(after) == expected

    missing = run.tenant(name="ghost", tier="pro", must_exist=True)
    assert missing["failed"] and "tenant 'ghost' does not exist" in missing["msg"]


def test_rotation_without_grace_keeps_labels_and_annotations(run, tmp_path):
    key_file = tmp_path / "acme.key"
    run.tenant(name="acme", tier="pro", display_name="ACME", api_key_file=str(key_file))
    old_key = key_file.read_text().strip()
    before = run.secret("acme")
    mark = run.mark()
    res = run.tenant(name="acme", rotate=True, must_exist=True, api_key_file=str(key_file))
    assert res["changed"] and res["outcome"] == "updated"
    new_key = key_file.read_text().strip()
    assert new_key != old_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    after = run.secret("acme")
    assert key_of(after) == new_key
    expected = strip_volatile(before)
    expected["metadata"]["annotations"]["tokenlabs.io/key-fingerprint"] = res["fingerprint"]
    expected["metadata"]["annotations"]["tokenlabs.io/key-generation"] = "2"
    expected["data"] = after["data"]
    assert strip_volatile(after) == expected
    assert [w["verb"] for w in run.secret_writes(mark)] == ["patch"]
    assert run.secret_names() == ["tenant-acme"]


def test_rotation_with_grace_then_expiry_removes_the_old_key(run, tmp_path):
    key_file = tmp_path / "acme.key"
    run.tenant(name="acme", tier="pro", user_id="acme-co", api_key_file=str(key_file))
    old_key = key_file.read_text().strip()
    res = run.tenant(name="acme", rotate=True, grace_period="2h", api_key_file=str(key_file))
    assert res["changed"]
    names = run.secret_names()
    retired_name = [n for n in names if ".retired-" in n]
    assert len(retired_name) == 1
    retired = run.secret(None, retired_name[0])
    assert key_of(retired) == old_key and key_of(run.secret("acme")) == key_file.read_text().strip()
    r_ann = retired["metadata"]["annotations"]
    assert r_ann["kuadrant.io/groups"] == "pro" and r_ann["secret.kuadrant.io/user-id"] == "acme-co"
    assert retired["metadata"]["labels"] == run.secret("acme")["metadata"]["labels"]

    info = run.info(name=["acme"])["tenants"][0]
    assert info["rotation"]["pending"] is True
    assert info["rotation"]["retired_keys"][0]["secret"] == retired_name[0]

    # a tier change keeps the retired key in step (shared quota)
    run.tenant(name="acme", tier="enterprise")
    assert run.secret(None, retired_name[0])["metadata"]["annotations"]["kuadrant.io/groups"] == "enterprise"

    # the grace period ends: the next run removes the retired key, nothing else
    run.cp.kubectl("annotate", "secret", retired_name[0], "-n", run.ns, "--overwrite",
                   "tokenlabs.io/retires-at=2020-01-01T00:00:00Z")
    mark = run.mark()
    res = run.tenant(name="acme", tier="enterprise")
    assert res["changed"] and any("retired key" in c for c in res["changes"])
    assert run.secret_names() == ["tenant-acme"]
    assert [w["verb"] for w in run.secret_writes(mark)] == ["delete"]
    assert run.info(name=["acme"])["tenants"][0]["rotation"] == {"pending": False, "retired_keys": []}


def test_expiry_field(run):
    res = run.tenant(name="exp", tier="free", api_key=SUPPLIED_KEY, expires_at="2099-12-31T23:59:59Z")
    assert run.secret("exp")["metadata"]["annotations"]["tokenlabs.io/expires-at"] == "2099-12-31T23:59:59Z"
    assert run.info(name=["exp"])["tenants"][0]["expired"] is False
    mark = run.mark()
    res = run.tenant(name="exp", expires_at="2001-01-01T00:00:00Z")
    assert res["failed"] and "expires_at '2001-01-01T00:00:00Z' lies in the past" in res["msg"]
    res = run.tenant(name="exp", expires_at="next tuesday")
    assert res["failed"] and "expires_at 'next tuesday' is not an RFC 3339 timestamp" in res["msg"]
    assert run.secret_writes(mark) == []
    # an already-expired tenant (expiry passed since) is reported, not an error
    run.cp.kubectl("annotate", "secret", "tenant-exp", "-n", run.ns, "--overwrite",
                   "tokenlabs.io/expires-at=2001-01-01T00:00:00Z")
    assert run.info(name=["exp"])["tenants"][0]["expired"] is True
    res = run.tenants([{"name": "exp", "tier": "free", "take_over": True}])  # the runbook made it
    assert res["expired"] == ["exp"] and res["updated"] == ["exp"]
    assert run.secret("exp")["metadata"]["annotations"]["tokenlabs.io/owner"] == "inventory"
    res = run.tenant(name="exp", expires_at="", take_over=True)
    assert res["changed"] and "tokenlabs.io/expires-at" not in run.secret("exp")["metadata"]["annotations"]


def test_revoke(run, tmp_path):
    run.tenant(name="gone", tier="free", api_key=SUPPLIED_KEY)
    run.tenant(name="gone", rotate=True, grace_period="1d", api_key=SUPPLIED_KEY_2)
    assert len(run.secret_names()) == 2
    mark = run.mark()
    assert run.tenant("--check", name="gone", state="absent")["changed"] is True
    assert run.secret_writes(mark) == []
    res = run.tenant(name="gone", state="absent")
    assert res["changed"] and res["outcome"] == "deleted" and res["tenant"] is None
    assert run.secret_names() == []
    assert run.tenant(name="gone", state="absent")["changed"] is False


def test_tenants_list_rerun_update_and_prune(run, tmp_path):
    key_dir = tmp_path / "keys"
    items = [{"name": "t%d" % i, "tier": "free" if i % 2 else "pro", "display_name": "Tenant %d" % i}
             for i in range(6)]
    mark = run.mark()
    assert run.tenants(items, "--check", key_dir=str(key_dir))["created"] == sorted(t["name"] for t in items)
    assert run.secret_writes(mark) == [] and not key_dir.exists()

    res = run.tenants(items, key_dir=str(key_dir))
    assert res["created"] == ["t0", "t1", "t2", "t3", "t4", "t5"] and res["failures"] == []
    assert sorted(os.listdir(key_dir)) == ["t%d.key" % i for i in range(6)]
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    for i in range(6):
        assert key_of(run.secret("t%d" % i)) == (key_dir / ("t%d.key" % i)).read_text().strip()

    mark = run.mark()
    res = run.tenants(items, key_dir=str(key_dir))
    assert res["changed"] is False and res["unchanged"] == ["t0", "t1", "t2", "t3", "t4", "t5"]
    assert res["stats"]["writes"] == 0 and run.secret_writes(mark) == []

    items[0]["tier"] = "enterprise"
    items[1]["display_name"] = "Renamed"
    mark = run.mark()
    res = run.tenants(items, "--diff", key_dir=str(key_dir))
    assert res["updated"] == ["t0", "t1"] and res["created"] == []
    assert set(res["diff"]["after"]) == {"t0", "t1"} and res["diff"]["after"]["t0"]["tier"] == "enterprise"
    assert sorted(w["objectRef"]["name"] for w in run.secret_writes(mark)) == ["tenant-t0", "tenant-t1"]

    # a hand-made Secret with the selector is never pruned (not managed by us)
    run.cp.apply("""
apiVersion: v1
kind: Secret
metadata:
  name: legacy-demo
  namespace: %s
  labels: {authorino.kuadrant.io/managed-by: authorino, app: token-labs}
  annotations: {kuadrant.io/groups: free, secret.kuadrant.io/user-id: legacy}
data: {api_key: %s}
""" % (run.ns, "bGVnYWN5LWtleS12YWx1ZS0xMjM0NTY3ODkwYWJjZGVmZ2hpams="))

    mark = run.mark()
    refused = run.tenants(items[:2], prune=True, key_dir=str(key_dir))
    assert refused["failed"] and "prune would delete 4 of 6 managed tenants" in refused["msg"]
    assert run.secret_writes(mark) == []
    res = run.tenants(items[:4], prune=True, key_dir=str(key_dir))
    assert res["deleted"] == ["t4", "t5"] and res["unchanged"] == ["t0", "t1", "t2", "t3"]
    res = run.tenants(items[:1], prune=True, prune_override=True, key_dir=str(key_dir))
    assert res["deleted"] == ["t1", "t2", "t3"]
    assert run.secret_names() == ["legacy-demo", "tenant-t0"]

    info = run.info()
    assert [t["name"] for t in info["tenants"]] == ["legacy-demo", "t0"]
    assert info["tenants"][0]["managed"] is False and info["tenants"][0]["tier"] == "free"
    assert [t["name"] for t in run.info(tier=["enterprise"])["tenants"]] == ["t0"]


VAP = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: deny-blocked-%(ns)s}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [secrets]}]
  validations:
  - expression: >-
      !has(object.metadata.annotations) ||
      !('secret.kuadrant.io/user-id' in object.metadata.annotations) ||
      object.metadata.annotations['secret.kuadrant.io/user-id'] != 'blocked'
    message: user id 'blocked' is not allowed by policy
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: deny-blocked-%(ns)s}
spec:
  policyName: deny-blocked-%(ns)s
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %(ns)s}}
"""


def _wait_for_policy(run):
    probe = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: probe\n  namespace: %s\n  annotations:\n"
             "    secret.kuadrant.io/user-id: blocked\n" % run.ns)
    deadline = time.time() + 30
    while time.time() < deadline:
        res = run.cp.kubectl("create", "--dry-run=server", "-f", "-", input=probe, check=False)
        if res.returncode != 0:
            return
        time.sleep(0.5)
    raise AssertionError("the admission policy never became active")


def test_partial_failure_applies_the_rest_and_a_rerun_converges(run, tmp_path):
    run.cp.apply(VAP % {"ns": run.ns})
    _wait_for_policy(run)
    # a pre-existing object with a tenant's Secret name that is not a tenant Secret
    run.cp.kubectl("create", "secret", "generic", "tenant-clash", "-n", run.ns, "--from-literal=other=x")
    key_dir = tmp_path / "keys"
    items = [{"name": "ok1", "tier": "free"}, {"name": "blocked", "tier": "pro", "user_id": "blocked"},
             {"name": "clash", "tier": "free"}, {"name": "ok2", "tier": "pro"}]
    res = run.tenants(items, key_dir=str(key_dir))
    assert res["failed"] is True and res["created"] == ["ok1", "ok2"], res["failures"]
    failed = {f["name"]: f["error"] for f in res["failures"]}
    assert set(failed) == {"blocked", "clash"}
    assert "user id 'blocked' is not allowed by policy" in failed["blocked"]
    assert "tenant-clash already exists" in failed["clash"] and "not a tenant Secret" in failed["clash"]
    assert "2 tenant(s) failed, the others were applied (created 2" in res["msg"]
    assert sorted(os.listdir(key_dir)) == ["ok1.key", "ok2.key"]  # no key file for a tenant that failed
    assert run.secret("clash")["data"] == {"other": "eA=="}  # the foreign object is untouched

    run.cp.kubectl("delete", "validatingadmissionpolicybinding", "deny-blocked-" + run.ns)
    run.cp.kubectl("delete", "secret", "tenant-clash", "-n", run.ns)
    deadline = time.time() + 30
    while True:
        res = run.tenants(items, key_dir=str(key_dir))
        if not res.get("failures") or time.time() > deadline:
            break
        time.sleep(1)
    assert res["failures"] == [] and res["created"] == ["blocked", "clash"] and res["unchanged"] == ["ok1", "ok2"]
    mark = run.mark()
    res = run.tenants(items, key_dir=str(key_dir))
    assert res["changed"] is False and run.secret_writes(mark) == []


@pytest.mark.parametrize("params,message", [
    (dict(name="acme", tier="gold"), "tier 'gold' is not a known tier; allowed tiers: enterprise, free, pro"),
    (dict(name="Acme_Corp", tier="pro"), "name 'Acme_Corp' is not a valid DNS-1123 label"),
    (dict(name="acme", tier="pro", user_id="Bad.Id"), "user_id 'Bad.Id' is not a valid DNS-1123 label"),
    (dict(name="acme", tier="pro", user_id="taken"), "user_id 'taken' is already used by tenant(s) taken"),
    (dict(name="acme", tier="pro", api_key="tooshort-123"), "api_key (value hidden) is too short"),
    (dict(name="acme", tier="pro", api_key=SUPPLIED_KEY), "api_key (value hidden) is the key of tenant(s) taken"),
    (dict(name="acme", tier="pro", expires_at="2001-01-01T00:00:00Z"), "lies in the past"),
    (dict(name="acme", tier="pro", expires_at="31/12/2099"), "is not an RFC 3339 timestamp"),
    (dict(name="acme", tier="pro", grace_period="1h"), "only applies together with rotate=true"),
    (dict(name="acme", tier="pro", colour="red"), "Unsupported parameters"),
    (dict(name="acme", tier="pro"), "need a new key (acme) but it has nowhere to go"),
])
def test_bad_input_is_rejected_before_any_write(run, params, message):
    run.tenant(name="taken", tier="free", api_key=SUPPLIED_KEY)
    mark = run.mark()
    res = run.tenant(**params)
    assert res["failed"] and message in res["msg"], res["msg"]
    assert run.secret_writes(mark) == [] and run.secret_names() == ["tenant-taken"]
    assert SUPPLIED_KEY not in run.outputs[-1]


def test_bad_list_input_reports_every_problem(run):
    res = run.tenants([{"name": "a", "tier": "gold"}, {"name": "b", "tier": "free", "api_key": SUPPLIED_KEY},
                       {"name": "c", "tier": "free", "api_key": SUPPLIED_KEY}, {"name": "a", "tier": "pro"}],
                      return_keys=True)
    assert res["failed"]
    assert "tenants[0] 'a': tier 'gold' is not a known tier" in res["msg"]
    assert "name 'a' is listed twice" in res["msg"]
    assert "same as the api_key given for tenant 'b'" in res["msg"]
    assert run.secret_names() == [] and SUPPLIED_KEY not in run.outputs[-1]


def test_unknown_item_field_is_rejected(run):
    res = run.tenants([{"name": "a", "tier": "free", "teir": "pro"}], return_keys=True)
    assert res["failed"] and "teir" in res["msg"]


def test_unreachable_api_server_and_missing_permission(run, control_plane):
    res = run.tenant(name="acme", tier="pro", api_key=SUPPLIED_KEY, host="https://127.0.0.1:1",
                     kubeconfig=None, validate_certs=False)
    assert res["failed"] and "cannot reach the Kubernetes API server at https://127.0.0.1:1" in res["msg"]

    control_plane.kubectl("create", "serviceaccount", "nobody", "-n", run.ns)
    token = control_plane.kubectl("create", "token", "nobody", "-n", run.ns).stdout.strip()
    env = {"K8S_AUTH_KUBECONFIG": "", "K8S_AUTH_HOST": "https://127.0.0.1:%d" % control_plane.port,
           "K8S_AUTH_API_KEY": token, "K8S_AUTH_SSL_CA_CERT": str(control_plane.state_dir / "pki" / "ca.crt")}
    params = {"name": "acme", "tier": "pro", "tiers": ["pro"], "namespace": run.ns, "api_key": SUPPLIED_KEY}
    res, proc = run.module("tenant", params, env=env)
    assert res["failed"]
    assert "forbidden (403)" in res["msg"] and 'cannot list resource "secrets"' in res["msg"]
    assert "lacks this permission" in res["msg"]
    assert token not in proc.stdout + proc.stderr


def test_return_key_is_an_explicit_opt_in(run):
    res = run.tenant(name="optin", tier="free", return_key=True)
    assert res["api_key"].startswith("tlabs_sk_") and key_of(run.secret("optin")) == res["api_key"]
    res = run.tenants([{"name": "optin2", "tier": "free"}], return_keys=True)
    assert key_of(run.secret("optin2")) == res["api_keys"]["optin2"]
