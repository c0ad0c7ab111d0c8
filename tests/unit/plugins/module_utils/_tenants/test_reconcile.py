"""The reconcile engine with an in-memory API: key files, conflicts, partial failures."""

from __future__ import annotations

import copy
import json
import os
import stat

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import reconcile as tr
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

from tenant_fixtures import NOW, NS, SEL, TIERS, KEY_A, KEY_B, live_secret, spec  # noqa: F401


def test_key_file_staged_0600_then_committed(tmp_path):
    target = tmp_path / "keys" / "acme.key"
    staged = tr.stage_key_file(str(target), KEY_A)
    assert stat.S_IMODE(os.stat(staged).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700
    assert not target.exists()
    tr.commit_key_file(staged, str(target))
    assert target.read_text() == KEY_A + "\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    staged = tr.stage_key_file(str(target), KEY_B)
    tr.discard_key_file(staged)
    assert target.read_text() == KEY_A + "\n" and not os.path.exists(staged)


def test_a_staged_key_file_with_the_live_key_is_completed_and_others_removed(tmp_path):
    target = tmp_path / "acme.key"
    never_live = tr.stage_key_file(str(target), KEY_B)   # killed before its Secret write
    live = tr.stage_key_file(str(target), KEY_A)         # killed after the write, before the rename
    assert tr.recover_key_file(str(target), tenant_keys.fingerprint(KEY_A)) is True
    assert target.read_text() == KEY_A + "\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not os.path.exists(never_live) and not os.path.exists(live)
    assert tr.recover_key_file(str(target), tenant_keys.fingerprint(KEY_A)) is False  # nothing left to do


def test_recovery_runs_for_live_tenants_before_applying(tmp_path):
    api = FakeApi({"tenant-acme": live_secret()}, conflicts=0)
    rec = tr.Reconciler(api, NS, SEL, now=NOW)
    live = rec.load()
    tr.stage_key_file(str(tmp_path / "acme.key"), KEY_A)
    specs = [spec()]
    plan, errors = planning.build_plan(specs, live, NS, SEL, NOW)
    result = rec.apply(plan, specs, key_path_for=lambda tp: str(tmp_path / (tp.name + ".key")))
    assert not errors and result["recovered_key_files"] == ["acme"]
    assert result["key_files"] == {"acme": str(tmp_path / "acme.key")}
    assert (tmp_path / "acme.key").read_text().strip() == KEY_A and api.writes == 0


def test_a_conflict_on_a_key_replacement_fails_and_hands_out_no_key(tmp_path):
    api = FakeApi({"tenant-acme": live_secret()}, conflicts=1)
    rec = tr.Reconciler(api, NS, SEL, now=NOW)
    live = rec.load()
    specs = [spec(rotate=True)]
    plan, unused_errors = planning.build_plan(specs, live, NS, SEL, NOW, keygen=lambda: KEY_B)
    result = rec.apply(plan, specs, key_path_for=lambda tp: str(tmp_path / (tp.name + ".key")))
    assert result["updated"] == [] and [f["name"] for f in result["failures"]] == ["acme"]
    assert "was changed by someone else while this run replaced its key" in result["failures"][0]["error"]
    assert "no key file was written" in result["failures"][0]["error"]
    assert list(tmp_path.iterdir()) == [] and KEY_B not in json.dumps(result)
    assert tenant_keys.live_fingerprint(api.store["tenant-acme"]) == tenant_keys.fingerprint(KEY_A)


def test_key_destination_checks(tmp_path):
    assert tr.check_key_destination(str(tmp_path / "a" / "b.key")) is None
    assert "is a directory" in tr.check_key_destination(str(tmp_path))


class FakeApi(object):
    """Just enough of KubeApi: an in-memory Secret store that answers the first patch with 409."""

    def __init__(self, store, conflicts=1):
        from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
        self.ApiError = ApiError
        self.store = store
        self.conflicts = conflicts
        self.dry_run = False
        self.writes = 0
        self.calls = []

    def list(self, path, label_selector=None, limit=None):
        return [copy.deepcopy(s) for s in self.store.values()]

    def get(self, path, missing_ok=False):
        self.calls.append(("GET", path))
        found = self.store.get(path.rsplit("/", 1)[1])
        return copy.deepcopy(found) if found else None

    def create(self, path, body):
        self.calls.append(("POST", body["metadata"]["name"]))
        self.store[body["metadata"]["name"]] = copy.deepcopy(body)
        self.writes += 1

    def merge_patch(self, path, body):
        name = path.rsplit("/", 1)[1]
        self.calls.append(("PATCH", name))
        live = self.store[name]
        if body["metadata"].get("resourceVersion") != live["metadata"]["resourceVersion"] or self.conflicts:
            self.conflicts = max(0, self.conflicts - 1)
            live["metadata"]["resourceVersion"] = str(int(live["metadata"]["resourceVersion"]) + 1)
            raise self.ApiError(409, "Conflict", "the object has been modified", "PATCH", path)
        self.store[name] = planning._apply_merge(live, dict(body, metadata=dict(
            body["metadata"], resourceVersion=str(int(live["metadata"]["resourceVersion"]) + 1))))
        self.writes += 1

    def delete(self, path, missing_ok=True):
        self.calls.append(("DELETE", path.rsplit("/", 1)[1]))
        self.store.pop(path.rsplit("/", 1)[1], None)
        self.writes += 1


def test_conflict_is_retried_after_rereading_the_tenant():
    api = FakeApi({"tenant-acme": live_secret()})
    rec = tr.Reconciler(api, NS, SEL, now=NOW)
    live = rec.load()
    specs = [spec(tier="enterprise")]
    plan, errors = planning.build_plan(specs, live, NS, SEL, NOW)
    result = rec.apply(plan, specs)
    assert errors == [] and result["failures"] == [] and result["updated"] == ["acme"]
    assert [c[0] for c in api.calls] == ["PATCH", "GET", "PATCH"]
    assert api.store["tenant-acme"]["metadata"]["annotations"][contract.GROUPS_ANNOTATION] == "enterprise"


def test_create_conflict_with_a_foreign_object_fails_that_tenant_only(tmp_path):
    foreign = {"metadata": {"name": "tenant-clash", "resourceVersion": "1", "labels": {}}, "data": {}}

    class ClashApi(FakeApi):
        def create(self, path, body):
            if body["metadata"]["name"] == "tenant-clash":
                self.store["tenant-clash"] = foreign
                raise self.ApiError(409, "AlreadyExists", "secrets \"tenant-clash\" already exists", "POST", path)
            return FakeApi.create(self, path, body)

    api = ClashApi({})
    rec = tr.Reconciler(api, NS, SEL, now=NOW)
    live = rec.load()
    specs, unused_errors = tenant_spec.validate_items([{"name": "clash", "tier": "pro"}, {"name": "fine", "tier": "pro"}], TIERS)
    plan, unused_errors = planning.build_plan(specs, live, NS, SEL, NOW)
    result = rec.apply(plan, specs, key_path_for=lambda tp: str(tmp_path / (tp.name + ".key")))
    assert result["created"] == ["fine"]
    assert result["failures"][0]["name"] == "clash" and "not a tenant Secret" in result["failures"][0]["error"]
    assert sorted(os.listdir(tmp_path)) == ["fine.key"]  # no key file for the tenant that failed
    assert json.dumps(result["failures"]).count("tlabs_sk_") == 0
