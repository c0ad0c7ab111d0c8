"""Planning tenant writes from live Secrets (no Kubernetes)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

from tenant_fixtures import NOW, NS, SEL, TIERS, KEY_A, KEY_B, live_secret, spec, plan_for  # noqa: F401

INVENTORY = {"tokenlabs.io/owner": "inventory"}
RUNBOOK = {"tokenlabs.io/owner": "runbook"}


def test_create_uses_new_key_and_defaults_user_id_to_name():
    p = plan_for(spec(display_name="ACME"), new_key=KEY_A)
    assert p.kind == "created" and [a.verb for a in p.actions] == ["create"]
    assert p.after["user_id"] == "acme" and p.after["fingerprint"] == tenant_keys.fingerprint(KEY_A)
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
    live = live_secret(uid="legacy-user", extra_ann={contract.DISPLAY_NAME_ANNOTATION: "Old", contract.CONTACT_ANNOTATION: "x@y"})
    s, unused_errors = tenant_spec.validate_item({"name": "acme", "contact": ""}, TIERS)
    (action,) = plan_for(s, live).actions
    assert action.body["metadata"]["annotations"] == {contract.CONTACT_ANNOTATION: None}


def test_rotation_touches_only_key_fingerprint_and_generation():
    p = plan_for(spec(rotate=True), live_secret(), new_key=KEY_B)
    (action,) = p.actions
    assert action.body == {"data": {"api_key": tenant_keys.encode_key(KEY_B)},
                           "metadata": {"annotations": {contract.FINGERPRINT_ANNOTATION: tenant_keys.fingerprint(KEY_B),
                                                        contract.KEY_GENERATION_ANNOTATION: "2"},
                                        "resourceVersion": "10"}}
    assert p.new_key == KEY_B
    assert KEY_B not in " ".join(p.changes) and KEY_A not in " ".join(p.changes)


def test_rotation_with_grace_keeps_old_key_in_a_second_secret_with_same_tier_and_user():
    p = plan_for(spec(rotate=True, grace_period="24h"), live_secret(uid="acme-co"), new_key=KEY_B)
    create, patch = p.actions
    assert create.verb == "create" and patch.verb == "patch"
    retired = create.body
    assert retired["metadata"]["name"] == "tenant-acme.retired-" + tenant_keys.fingerprint(KEY_A)[7:19]
    ann = retired["metadata"]["annotations"]
    assert ann[contract.GROUPS_ANNOTATION] == "pro" and ann[contract.USER_ID_ANNOTATION] == "acme-co"
    assert ann[contract.RETIRES_ANNOTATION] == "2026-06-02T12:00:00Z"
    assert retired["data"]["api_key"] == tenant_keys.encode_key(KEY_A)
    assert retired["metadata"]["labels"] == contract.tenant_labels(SEL)


def test_retired_keys_follow_tier_changes_and_are_removed_when_expired():
    fresh = live_secret(name="tenant-acme.retired-aaa", key=KEY_B, rv="3",
                        extra_ann={contract.RETIRES_ANNOTATION: "2026-06-01T13:00:00Z"})
    stale = live_secret(name="tenant-acme.retired-bbb", key="K" * 5 + KEY_B, rv="4",
                        extra_ann={contract.RETIRES_ANNOTATION: "2026-06-01T11:00:00Z"})
    p = plan_for(spec(tier="free"), live_secret(), [fresh, stale])
    verbs = [(a.verb, a.secret) for a in p.actions]
    assert ("delete", "tenant-acme.retired-bbb") in verbs
    assert ("patch", "tenant-acme.retired-aaa") in verbs
    assert ("patch", "tenant-acme") in verbs


def test_interrupted_grace_rotation_extends_the_existing_retired_secret():
    old = live_secret()
    retired_name = tenant_secret.retired_secret_name("acme", tenant_keys.fingerprint(KEY_A))
    existing = live_secret(name=retired_name, rv="7", extra_ann={contract.RETIRES_ANNOTATION: "2026-06-01T12:30:00Z"})
    p = plan_for(spec(rotate=True, grace_period="1h"), old, [existing], new_key=KEY_B)
    assert [(a.verb, a.secret) for a in p.actions] == [("patch", retired_name), ("patch", "tenant-acme")]


def test_supplied_key_equal_to_live_is_no_change_and_different_key_replaces():
    assert plan_for(spec(api_key=KEY_A), live_secret()).actions == []
    (action,) = plan_for(spec(api_key=KEY_B), live_secret()).actions
    assert action.body["data"]["api_key"] == tenant_keys.encode_key(KEY_B)


def test_revoke_deletes_main_and_retired():
    retired = live_secret(name="tenant-acme.retired-aaa", key=KEY_B,
                          extra_ann={contract.RETIRES_ANNOTATION: "2026-07-01T00:00:00Z"})
    p = plan_for(tenant_spec.TenantSpec(name="acme", state="absent"), live_secret(), [retired])
    assert p.kind == "deleted"
    assert sorted(a.secret for a in p.actions) == ["tenant-acme", "tenant-acme.retired-aaa"]
    assert plan_for(tenant_spec.TenantSpec(name="acme", state="absent"), None).actions == []


def test_expiry_in_the_past_refused_only_when_set_or_changed():
    with pytest.raises(tenant_secret.TenantError, match="lies in the past"):
        plan_for(spec(expires_at="2026-01-01T00:00:00Z"), None, new_key=KEY_A)
    with pytest.raises(tenant_secret.TenantError, match="lies in the past"):
        plan_for(spec(expires_at="2026-01-01T00:00:00Z"), live_secret())
    already = live_secret(extra_ann={contract.EXPIRES_ANNOTATION: "2026-01-01T00:00:00Z"})
    assert plan_for(spec(expires_at="2026-01-01T00:00:00Z"), already).actions == []


def test_must_exist_and_missing_tier():
    s, unused_errors = tenant_spec.validate_item({"name": "acme", "create": False, "tier": "pro"}, TIERS)
    with pytest.raises(tenant_secret.TenantError, match="does not exist"):
        plan_for(s, None)
    s, unused_errors = tenant_spec.validate_item({"name": "acme"}, TIERS)
    with pytest.raises(tenant_secret.TenantError, match="tier is required"):
        plan_for(s, None, new_key=KEY_A)


def test_adopting_a_hand_made_secret_adds_our_annotations_and_keeps_its_key():
    hand = live_secret(managed=False, uid="demo-pro-user")
    p = plan_for(spec(), hand)
    (action,) = p.actions
    ann = action.body["metadata"]["annotations"]
    assert ann[contract.TENANT_KEY] == "acme" and ann[contract.FINGERPRINT_ANNOTATION] == tenant_keys.fingerprint(KEY_A)
    assert contract.USER_ID_ANNOTATION not in ann and "data" not in action.body


def test_user_id_must_be_unique_against_live_and_list():
    live = tenant_secret.LiveIndex([live_secret("acme"), live_secret("globex", key=KEY_B)])
    errors = planning.check_cross_tenant([spec(name="new", user_id="acme")], live)
    assert errors and "user_id 'acme' is already used by tenant(s) acme" in errors[0]
    errors = planning.check_cross_tenant([spec(name="n1", user_id="same"), spec(name="n2", user_id="same")], live)
    assert len(errors) == 2
    # freeing a user id in the same run is fine
    assert planning.check_cross_tenant([tenant_spec.TenantSpec(name="acme", state="absent"), spec(name="new", user_id="acme")],
                                       live) == []


def test_duplicate_keys_refused_without_showing_them():
    live = tenant_secret.LiveIndex([live_secret("acme")])
    errors = planning.check_cross_tenant([spec(name="globex", api_key=KEY_A)], live)
    assert errors and "is the key of tenant(s) acme" in errors[0] and KEY_A not in errors[0]
    errors = planning.check_cross_tenant([spec(name="a1", api_key=KEY_B), spec(name="a2", api_key=KEY_B)], live)
    assert errors and "same as the api_key given for tenant 'a1'" in errors[0]
    assert planning.check_cross_tenant([spec(name="acme", api_key=KEY_A)], live) == []


def test_prune_candidates_and_share_guard():
    live = tenant_secret.LiveIndex([live_secret("t%d" % i, key=KEY_A + str(i), extra_ann=INVENTORY) for i in range(4)]
                                   + [live_secret("foreign", managed=False, key=KEY_B),
                                      live_secret("desk", key=KEY_B + "1", extra_ann=RUNBOOK),   # runbook: never pruned
                                      live_secret("legacy", key=KEY_B + "2")])                   # no owner: never pruned
    assert live.managed() == ["desk", "legacy", "t0", "t1", "t2", "t3"]
    candidates = planning.prune_candidates([spec(name="t0")], live)
    assert candidates == ["t1", "t2", "t3"]
    assert "3 of 4 managed tenants" in planning.prune_problem(candidates, live, 0.5, False)
    assert planning.prune_problem(candidates, live, 0.5, True) is None
    assert planning.prune_problem(candidates[:2], live, 0.5, False) is None


def test_build_plan_generates_keys_only_where_needed_and_prunes():
    live = tenant_secret.LiveIndex([live_secret("keep"), live_secret("gone", key=KEY_B, extra_ann=INVENTORY)])
    items = [{"name": "keep", "tier": "pro"}, {"name": "new", "tier": "free"},
             {"name": "rot", "tier": "free", "rotate": True}]
    specs, unused_errors = tenant_spec.validate_items(items, TIERS)
    made = []

    def keygen():
        made.append(tenant_keys.generate_key())
        return made[-1]

    plan, errors = planning.build_plan(specs, live, NS, SEL, NOW, prune=True, keygen=keygen)
    assert errors == []
    kinds = {tp.name: tp.kind for tp in plan.tenants}
    assert kinds == {"keep": "unchanged", "new": "created", "rot": "created", "gone": "deleted"}
    assert len(made) == 2 and all(tp.key_generated == (tp.name in ("new", "rot")) for tp in plan.tenants)


def test_plans_deep_copy_safe():
    live = live_secret()
    before = copy.deepcopy(live)
    plan_for(spec(tier="free", rotate=True, grace_period="1h"), live, new_key=KEY_B)
    assert live == before
    assert timedelta(hours=1)


def test_key_generation_rotates_once_when_raised():
    live = live_secret(extra_ann={contract.KEY_GENERATION_ANNOTATION: "2"})
    assert plan_for(spec(key_generation=2), live).actions == []          # same generation: nothing
    p = plan_for(spec(key_generation=3, grace_period="1h"), live, new_key=KEY_B)
    assert p.new_key == KEY_B and [a.verb for a in p.actions] == ["create", "patch"]
    assert p.actions[1].body["metadata"]["annotations"][contract.KEY_GENERATION_ANNOTATION] == "3"
    rotated = live_secret(key=KEY_B, extra_ann={contract.KEY_GENERATION_ANNOTATION: "3"})
    assert plan_for(spec(key_generation=3), rotated).actions == []      # the rerun changes nothing


def test_key_generation_below_the_live_one_is_refused():
    live = live_secret(extra_ann={contract.KEY_GENERATION_ANNOTATION: "4"})
    with pytest.raises(tenant_secret.TenantError, match="key_generation 2 is below the live key generation 4"):
        plan_for(spec(key_generation=2), live)
    assert plan_for(spec(key_generation=1), live_secret()).actions == []  # no annotation = generation 1
