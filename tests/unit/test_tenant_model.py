"""Pure tenant logic: validation, rendering, fingerprints, planning (no Kubernetes)."""

from __future__ import annotations

import base64
import copy
import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils import tenant_model as tm
from ansible_collections.tokenlabs.inference.plugins.module_utils import tenant_reconcile as tr

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NS = "kuadrant-system"
SEL = {"app": "token-labs"}
TIERS = ["enterprise", "free", "pro"]
KEY_A = "Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMnBvC"
KEY_B = "Qw3-eR5tY7uI9oP1aS3dF5gH7jK9lZ1xC3vB5nM"


def live_secret(tenant="acme", tier="pro", uid=None, key=KEY_A, rv="10", extra_ann=None, managed=True,
                name=None, labels=None):
    ann = {tm.GROUPS_ANNOTATION: tier, tm.USER_ID_ANNOTATION: uid or tenant}
    if managed:
        ann.update({tm.TENANT_ANNOTATION: tenant, tm.FINGERPRINT_ANNOTATION: tm.fingerprint(key),
                    tm.CREATED_ANNOTATION: "2026-01-01T00:00:00Z"})
    ann.update(extra_ann or {})
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name or tm.secret_name(tenant), "namespace": NS, "resourceVersion": rv,
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": labels if labels is not None else tm.required_labels(SEL),
                         "annotations": ann},
            "type": "Opaque", "data": {"api_key": tm.encode_key(key)}}


def spec(**kw):
    item = {"name": "acme", "tier": "pro"}
    item.update(kw)
    s, errors = tm.validate_item(item, TIERS, NOW)
    assert not errors, errors
    return s


def plan_for(s, main=None, retired=None, new_key=None):
    return tm.plan_tenant(s, main, retired, NS, SEL, NOW, new_key=new_key)


# ------------------------------------------------------------------ keys
def test_generated_keys_have_prefix_and_at_least_192_bits():
    keys = {tm.generate_key() for unused in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("tlabs_sk_")
        body = key[len("tlabs_sk_"):]
        assert len(body) * 4 >= 192 and int(body, 16) >= 0
        assert tm.key_problem(key) is None


def test_fingerprint_is_a_short_sha256_prefix_and_never_the_key():
    fp = tm.fingerprint(KEY_A)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 16
    assert KEY_A not in fp and fp == tm.fingerprint(KEY_A) != tm.fingerprint(KEY_B)


@pytest.mark.parametrize("key,fragment", [
    ("sh0rtkey", "too short"),
    ("a" * 300, "too long"),
    ("Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMn Bv", "alphabet"),
    ("Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMn/Bv", "alphabet"),
    ("abababababababababababababababababab", "too weak"),
    ("tlabs_free_demo_key_change_me_123456789", "placeholder"),
])
def test_weak_keys_are_refused_without_quoting_them(key, fragment):
    problem = tm.key_problem(key)
    assert problem and fragment in problem
    assert key not in problem
    unused_spec, errors = tm.validate_item({"name": "acme", "tier": "pro", "api_key": key}, TIERS, NOW)
    assert errors and "api_key (value hidden)" in errors[0] and key not in errors[0]


def test_scrub_removes_plain_and_base64_keys():
    text = "boom %s and %s" % (KEY_A, tm.encode_key(KEY_A))
    assert KEY_A not in tm.scrub(text, [KEY_A, None])
    assert tm.encode_key(KEY_A) not in tm.scrub(text, [KEY_A])


# ------------------------------------------------------------------ values
def test_tiers_from_table_list_or_csv():
    assert tm.normalize_tiers({"pro": {}, "free": {}}) == ["free", "pro"]
    assert tm.normalize_tiers(["pro"]) == ["pro"]
    assert tm.normalize_tiers("free, pro") == ["free", "pro"]
    with pytest.raises(tm.TenantError):
        tm.normalize_tiers([])
    with pytest.raises(tm.TenantError):
        tm.normalize_tiers(5)


@pytest.mark.parametrize("value,ok", [("acme", True), ("a", True), ("a-1", True), ("A", False), ("-a", False),
                                      ("a-", False), ("a.b", False), ("a_b", False), ("a" * 63, True),
                                      ("a" * 64, False), ("", False)])
def test_dns_labels(value, ok):
    assert tm.is_dns_label(value) is ok


@pytest.mark.parametrize("value,expected", [
    ("2026-12-31T23:59:59Z", "2026-12-31T23:59:59Z"),
    ("2026-12-31t23:59:59z", "2026-12-31T23:59:59Z"),
    ("2026-12-31T23:59:59.5+02:00", "2026-12-31T21:59:59Z"),
    ("2026-12-31 23:59:59+00:00", "2026-12-31T23:59:59Z"),
    ("2026-12-31", None), ("2026-12-31T23:59:59", None), ("2026-13-01T00:00:00Z", None), ("tomorrow", None),
])
def test_rfc3339(value, expected):
    parsed = tm.parse_rfc3339(value)
    assert (tm.format_time(parsed) if parsed else None) == expected


@pytest.mark.parametrize("value,seconds", [("30m", 1800), ("24h", 86400), ("7d", 604800), ("1h30m", 5400),
                                           ("2w", 1209600), ("90", 90), (60, 60), ("0m", None), ("3x", None),
                                           ("", None), ("h", None), (True, None), (-5, None)])
def test_durations(value, seconds):
    assert tm.parse_duration(value) == seconds


def test_validation_names_field_value_and_allowed_values():
    item = {"name": "Bad_Name", "tier": "gold", "user_id": "X", "expires_at": "soon", "grace_period": "3x",
            "colour": "red"}
    unused_spec, errors = tm.validate_item(item, TIERS, NOW)
    text = "\n".join(errors)
    assert "unknown field(s) colour" in text
    assert "name 'Bad_Name' is not a valid DNS-1123 label" in text
    assert "tier 'gold' is not a known tier; allowed tiers: enterprise, free, pro" in text
    assert "user_id 'X' is not a valid DNS-1123 label" in text
    assert "expires_at 'soon' is not an RFC 3339 timestamp" in text
    assert "grace_period '3x' is not a duration" in text


def test_duplicate_names_and_keys_in_a_list():
    unused_spec, errors = tm.validate_items([{"name": "a", "tier": "pro"}, {"name": "a", "tier": "free"}], TIERS, NOW)
    assert errors == ["tenants[1]: name 'a' is listed twice (also tenants[0]); each tenant once"]
    items = [{"name": "a", "tier": "gold"}, {"name": "a", "tier": "free"},
             {"name": "b", "tier": "pro", "api_key": KEY_A}, {"name": "c", "tier": "pro", "api_key": KEY_A}]
    unused_spec, errors = tm.validate_items(items, TIERS, NOW)
    assert len(errors) == 3 and "same as the api_key given for tenant 'b'" in errors[2]
    assert KEY_A not in " ".join(errors)


# ------------------------------------------------------------------ rendering
def test_rendered_secret_has_exactly_the_authorino_shape():
    body = tm.render_secret(NS, SEL, "acme", "pro", "acme-user", KEY_A, "2026-06-01T12:00:00Z", "ACME", None,
                            "2027-01-01T00:00:00Z")
    assert body["metadata"]["name"] == "tenant-acme"
    assert body["metadata"]["labels"] == {"authorino.kuadrant.io/managed-by": "authorino", "app": "token-labs"}
    assert body["metadata"]["annotations"] == {
        "kuadrant.io/groups": "pro", "secret.kuadrant.io/user-id": "acme-user", "tokenlabs.io/tenant": "acme",
        "tokenlabs.io/key-fingerprint": tm.fingerprint(KEY_A), "tokenlabs.io/created-at": "2026-06-01T12:00:00Z",
        "tokenlabs.io/display-name": "ACME", "tokenlabs.io/expires-at": "2027-01-01T00:00:00Z",
        "tokenlabs.io/key-generation": "1"}
    assert body["data"] == {"api_key": base64.b64encode(KEY_A.encode()).decode()}
    assert "stringData" not in body and body["type"] == "Opaque"


def test_label_selector_contains_managed_by_and_selector():
    assert tm.label_selector({"app": "x"}) == "app=x,authorino.kuadrant.io/managed-by=authorino"


# ------------------------------------------------------------------ planning
def test_create_uses_new_key_and_defaults_user_id_to_name():
    p = plan_for(spec(display_name="ACME"), new_key=KEY_A)
    assert p.kind == "created" and [a.verb for a in p.actions] == ["create"]
    assert p.after["user_id"] == "acme" and p.after["fingerprint"] == tm.fingerprint(KEY_A)
    assert KEY_A not in json.dumps([p.before, p.after, p.changes, repr(p.actions)])


def test_unchanged_tenant_plans_no_write():
    p = plan_for(spec(), live_secret())
    assert p.actions == [] and p.kind == "unchanged" and p.before == p.after


def test_tier_change_patches_only_the_groups_annotation():
    p = plan_for(spec(tier="enterprise"), live_secret())
    (action,) = p.actions
    assert action.verb == "patch"
    assert action.body == {"metadata": {"annotations": {"kuadrant.io/groups": "enterprise"}, "resourceVersion": "10"}}
    assert p.changes == ["tier pro -> enterprise"]


def test_omitted_fields_keep_live_values_and_empty_string_removes():
    live = live_secret(uid="legacy-user", extra_ann={tm.DISPLAY_NAME_ANNOTATION: "Old", tm.CONTACT_ANNOTATION: "x@y"})
    s, unused_errors = tm.validate_item({"name": "acme", "contact": ""}, TIERS, NOW)
    (action,) = plan_for(s, live).actions
    assert action.body["metadata"]["annotations"] == {tm.CONTACT_ANNOTATION: None}


def test_rotation_touches_only_key_fingerprint_and_generation():
    p = plan_for(spec(rotate=True), live_secret(), new_key=KEY_B)
    (action,) = p.actions
    assert action.body == {"data": {"api_key": tm.encode_key(KEY_B)},
                           "metadata": {"annotations": {tm.FINGERPRINT_ANNOTATION: tm.fingerprint(KEY_B),
                                                        tm.KEY_GENERATION_ANNOTATION: "2"},
                                        "resourceVersion": "10"}}
    assert p.new_key == KEY_B
    assert KEY_B not in " ".join(p.changes) and KEY_A not in " ".join(p.changes)


def test_rotation_with_grace_keeps_old_key_in_a_second_secret_with_same_tier_and_user():
    p = plan_for(spec(rotate=True, grace_period="24h"), live_secret(uid="acme-co"), new_key=KEY_B)
    create, patch = p.actions
    assert create.verb == "create" and patch.verb == "patch"
    retired = create.body
    assert retired["metadata"]["name"] == "tenant-acme.retired-" + tm.fingerprint(KEY_A)[7:19]
    ann = retired["metadata"]["annotations"]
    assert ann[tm.GROUPS_ANNOTATION] == "pro" and ann[tm.USER_ID_ANNOTATION] == "acme-co"
    assert ann[tm.RETIRES_ANNOTATION] == "2026-06-02T12:00:00Z"
    assert retired["data"]["api_key"] == tm.encode_key(KEY_A)
    assert retired["metadata"]["labels"] == tm.required_labels(SEL)


def test_retired_keys_follow_tier_changes_and_are_removed_when_expired():
    fresh = live_secret(name="tenant-acme.retired-aaa", key=KEY_B, rv="3",
                        extra_ann={tm.RETIRES_ANNOTATION: "2026-06-01T13:00:00Z"})
    stale = live_secret(name="tenant-acme.retired-bbb", key="K" * 5 + KEY_B, rv="4",
                        extra_ann={tm.RETIRES_ANNOTATION: "2026-06-01T11:00:00Z"})
    p = plan_for(spec(tier="free"), live_secret(), [fresh, stale])
    verbs = [(a.verb, a.secret) for a in p.actions]
    assert ("delete", "tenant-acme.retired-bbb") in verbs
    assert ("patch", "tenant-acme.retired-aaa") in verbs
    assert ("patch", "tenant-acme") in verbs


def test_interrupted_grace_rotation_extends_the_existing_retired_secret():
    old = live_secret()
    retired_name = tm.retired_secret_name("acme", tm.fingerprint(KEY_A))
    existing = live_secret(name=retired_name, rv="7", extra_ann={tm.RETIRES_ANNOTATION: "2026-06-01T12:30:00Z"})
    p = plan_for(spec(rotate=True, grace_period="1h"), old, [existing], new_key=KEY_B)
    assert [(a.verb, a.secret) for a in p.actions] == [("patch", retired_name), ("patch", "tenant-acme")]


def test_supplied_key_equal_to_live_is_no_change_and_different_key_replaces():
    assert plan_for(spec(api_key=KEY_A), live_secret()).actions == []
    (action,) = plan_for(spec(api_key=KEY_B), live_secret()).actions
    assert action.body["data"]["api_key"] == tm.encode_key(KEY_B)


def test_revoke_deletes_main_and_retired():
    retired = live_secret(name="tenant-acme.retired-aaa", key=KEY_B,
                          extra_ann={tm.RETIRES_ANNOTATION: "2026-07-01T00:00:00Z"})
    p = plan_for(tm.TenantSpec(name="acme", state="absent"), live_secret(), [retired])
    assert p.kind == "deleted"
    assert sorted(a.secret for a in p.actions) == ["tenant-acme", "tenant-acme.retired-aaa"]
    assert plan_for(tm.TenantSpec(name="acme", state="absent"), None).actions == []


def test_expiry_in_the_past_refused_only_when_set_or_changed():
    with pytest.raises(tm.TenantError, match="lies in the past"):
        plan_for(spec(expires_at="2026-01-01T00:00:00Z"), None, new_key=KEY_A)
    with pytest.raises(tm.TenantError, match="lies in the past"):
        plan_for(spec(expires_at="2026-01-01T00:00:00Z"), live_secret())
    already = live_secret(extra_ann={tm.EXPIRES_ANNOTATION: "2026-01-01T00:00:00Z"})
    assert plan_for(spec(expires_at="2026-01-01T00:00:00Z"), already).actions == []


def test_must_exist_and_missing_tier():
    s, unused_errors = tm.validate_item({"name": "acme", "create": False, "tier": "pro"}, TIERS, NOW)
    with pytest.raises(tm.TenantError, match="does not exist"):
        plan_for(s, None)
    s, unused_errors = tm.validate_item({"name": "acme"}, TIERS, NOW)
    with pytest.raises(tm.TenantError, match="tier is required"):
        plan_for(s, None, new_key=KEY_A)


def test_adopting_a_hand_made_secret_adds_our_annotations_and_keeps_its_key():
    hand = live_secret(managed=False, uid="demo-pro-user")
    p = plan_for(spec(), hand)
    (action,) = p.actions
    ann = action.body["metadata"]["annotations"]
    assert ann[tm.TENANT_ANNOTATION] == "acme" and ann[tm.FINGERPRINT_ANNOTATION] == tm.fingerprint(KEY_A)
    assert tm.USER_ID_ANNOTATION not in ann and "data" not in action.body


# ------------------------------------------------------------------ cross-tenant checks
def test_user_id_must_be_unique_against_live_and_list():
    live = tm.LiveIndex([live_secret("acme"), live_secret("globex", key=KEY_B)])
    errors = tm.check_cross_tenant([spec(name="new", user_id="acme")], live)
    assert errors and "user_id 'acme' is already used by tenant(s) acme" in errors[0]
    errors = tm.check_cross_tenant([spec(name="n1", user_id="same"), spec(name="n2", user_id="same")], live)
    assert len(errors) == 2
    # freeing a user id in the same run is fine
    assert tm.check_cross_tenant([tm.TenantSpec(name="acme", state="absent"), spec(name="new", user_id="acme")],
                                 live) == []


def test_duplicate_keys_refused_without_showing_them():
    live = tm.LiveIndex([live_secret("acme")])
    errors = tm.check_cross_tenant([spec(name="globex", api_key=KEY_A)], live)
    assert errors and "is the key of tenant(s) acme" in errors[0] and KEY_A not in errors[0]
    errors = tm.check_cross_tenant([spec(name="a1", api_key=KEY_B), spec(name="a2", api_key=KEY_B)], live)
    assert errors and "same as the api_key given for tenant 'a1'" in errors[0]
    assert tm.check_cross_tenant([spec(name="acme", api_key=KEY_A)], live) == []


INVENTORY = {"tokenlabs.io/owner": "inventory"}
RUNBOOK = {"tokenlabs.io/owner": "runbook"}


def test_prune_candidates_and_share_guard():
    live = tm.LiveIndex([live_secret("t%d" % i, key=KEY_A + str(i), extra_ann=INVENTORY) for i in range(4)]
                        + [live_secret("foreign", managed=False, key=KEY_B),
                           live_secret("desk", key=KEY_B + "1", extra_ann=RUNBOOK),   # runbook: never pruned
                           live_secret("legacy", key=KEY_B + "2")])                   # no owner: never pruned
    assert live.managed() == ["desk", "legacy", "t0", "t1", "t2", "t3"]
    candidates = tm.prune_candidates([spec(name="t0")], live)
    assert candidates == ["t1", "t2", "t3"]
    assert "3 of 4 managed tenants" in tm.prune_problem(candidates, live, 0.5, False)
    assert tm.prune_problem(candidates, live, 0.5, True) is None
    assert tm.prune_problem(candidates[:2], live, 0.5, False) is None


def test_build_plan_generates_keys_only_where_needed_and_prunes():
    live = tm.LiveIndex([live_secret("keep"), live_secret("gone", key=KEY_B, extra_ann=INVENTORY)])
    items = [{"name": "keep", "tier": "pro"}, {"name": "new", "tier": "free"},
             {"name": "rot", "tier": "free", "rotate": True}]
    specs, unused_errors = tm.validate_items(items, TIERS, NOW)
    made = []

    def keygen():
        made.append(tm.generate_key())
        return made[-1]

    plan, errors = tm.build_plan(specs, live, NS, SEL, NOW, prune=True, keygen=keygen)
    assert errors == []
    kinds = {tp.name: tp.kind for tp in plan.tenants}
    assert kinds == {"keep": "unchanged", "new": "created", "rot": "created", "gone": "deleted"}
    assert len(made) == 2 and all(tp.key_generated == (tp.name in ("new", "rot")) for tp in plan.tenants)


def test_tenant_info_view_shows_pending_rotation_and_expiry():
    retired = live_secret(name="tenant-acme.retired-aaa", key=KEY_B,
                          extra_ann={tm.RETIRES_ANNOTATION: "2026-06-01T13:00:00Z"})
    main = live_secret(extra_ann={tm.EXPIRES_ANNOTATION: "2026-05-01T00:00:00Z"})
    view = tm.describe_tenant(tm.LiveIndex([main, retired]), "acme", NOW)
    assert view["expired"] is True and view["rotation"]["pending"] is True
    assert view["rotation"]["retired_keys"][0]["fingerprint"] == tm.fingerprint(KEY_B)
    dumped = json.dumps(view)
    assert KEY_A not in dumped and KEY_B not in dumped and tm.encode_key(KEY_A) not in dumped


# ------------------------------------------------------------------ key files
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


def test_key_destination_checks(tmp_path):
    assert tr.check_key_destination(str(tmp_path / "a" / "b.key")) is None
    assert "is a directory" in tr.check_key_destination(str(tmp_path))


def test_plans_deep_copy_safe():
    live = live_secret()
    before = copy.deepcopy(live)
    plan_for(spec(tier="free", rotate=True, grace_period="1h"), live, new_key=KEY_B)
    assert live == before
    assert timedelta(hours=1)


# ------------------------------------------------------------------ reconcile engine (fake API, pure Python)
class FakeApi(object):
    """Just enough of KubeApi: an in-memory Secret store that answers the first patch with 409."""

    def __init__(self, store, conflicts=1):
        from ansible_collections.tokenlabs.inference.plugins.module_utils.k8s_api import ApiError
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
        self.store[name] = tm._apply_merge(live, dict(body, metadata=dict(
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
    plan, errors = tm.build_plan(specs, live, NS, SEL, NOW)
    result = rec.apply(plan, specs)
    assert errors == [] and result["failures"] == [] and result["updated"] == ["acme"]
    assert [c[0] for c in api.calls] == ["PATCH", "GET", "PATCH"]
    assert api.store["tenant-acme"]["metadata"]["annotations"][tm.GROUPS_ANNOTATION] == "enterprise"


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
    specs, unused_errors = tm.validate_items([{"name": "clash", "tier": "pro"}, {"name": "fine", "tier": "pro"}], TIERS, NOW)
    plan, unused_errors = tm.build_plan(specs, live, NS, SEL, NOW)
    result = rec.apply(plan, specs, key_path_for=lambda tp: str(tmp_path / (tp.name + ".key")))
    assert result["created"] == ["fine"]
    assert result["failures"][0]["name"] == "clash" and "not a tenant Secret" in result["failures"][0]["error"]
    assert sorted(os.listdir(tmp_path)) == ["fine.key"]  # no key file for the tenant that failed
    assert json.dumps(result["failures"]).count("tlabs_sk_") == 0


def test_redact_generated_keys_in_plain_and_base64():
    key = tm.generate_key()
    result = {"a": ["x " + key], "b": {"c": tm.encode_key(key)}, "d": "safe"}
    clean = tm.redact_generated_keys(result)
    assert json.dumps(clean).count("tlabs_sk_") == 0 and key not in json.dumps(clean)
    assert tm.encode_key(key) not in json.dumps(clean) and clean["d"] == "safe"
    untouched = {"a": "nothing here"}
    assert tm.redact_generated_keys(untouched) is untouched


# ------------------------------------------------------------------ key generations (declarative rotation)
def test_key_generation_rotates_once_when_raised():
    live = live_secret(extra_ann={tm.KEY_GENERATION_ANNOTATION: "2"})
    assert plan_for(spec(key_generation=2), live).actions == []          # same generation: nothing
    p = plan_for(spec(key_generation=3, grace_period="1h"), live, new_key=KEY_B)
    assert p.new_key == KEY_B and [a.verb for a in p.actions] == ["create", "patch"]
    assert p.actions[1].body["metadata"]["annotations"][tm.KEY_GENERATION_ANNOTATION] == "3"
    rotated = live_secret(key=KEY_B, extra_ann={tm.KEY_GENERATION_ANNOTATION: "3"})
    assert plan_for(spec(key_generation=3), rotated).actions == []      # the rerun changes nothing


def test_key_generation_below_the_live_one_is_refused():
    live = live_secret(extra_ann={tm.KEY_GENERATION_ANNOTATION: "4"})
    with pytest.raises(tm.TenantError, match="key_generation 2 is below the live key generation 4"):
        plan_for(spec(key_generation=2), live)
    assert plan_for(spec(key_generation=1), live_secret()).actions == []  # no annotation = generation 1


@pytest.mark.parametrize("value", [0, -1, "2", True, 1.5])
def test_key_generation_must_be_a_positive_whole_number(value):
    unused_spec, errors = tm.validate_item({"name": "acme", "tier": "pro", "key_generation": value}, TIERS, NOW)
    assert errors and "key_generation" in errors[0]


def test_rotate_and_key_generation_exclude_each_other():
    unused_spec, errors = tm.validate_item({"name": "acme", "tier": "pro", "key_generation": 2, "rotate": True},
                                           TIERS, NOW)
    assert errors == ["tenant 'acme': give either rotate or key_generation, not both"]
