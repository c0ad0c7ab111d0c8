"""Who owns a tenant: refusals name the tenant and the fix; prune sees only inventory tenants."""

from __future__ import annotations

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import ownership
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

from tenant_fixtures import live_secret, spec


def _live(**owners):
    return tenant_secret.LiveIndex([live_secret(name, key="Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMn" + name,
                                                extra_ann={contract.OWNER_ANNOTATION: owner} if owner else None)
                                    for name, owner in owners.items()])


def test_the_other_owner_is_refused_with_where_it_is_managed():
    live = _live(acme="inventory", desk="runbook", seed=None)
    errors = ownership.ownership_errors([spec(name="acme"), spec(name="desk"), spec(name="seed")], live,
                                        contract.RUNBOOK)
    assert len(errors) == 1 and "'acme' is managed by the inventory" in errors[0]
    assert "take_over=true" in errors[0] and "tokenlabs_tenants" in errors[0]
    errors = ownership.ownership_errors([spec(name="desk")], live, contract.INVENTORY)
    assert "'desk' is managed by the runbook" in errors[0] and "take_over: true" in errors[0]


def test_take_over_and_unowned_tenants_pass():
    live = _live(acme="inventory", seed=None)
    assert ownership.ownership_errors([spec(name="acme", take_over=True), spec(name="seed")], live,
                                      contract.RUNBOOK) == []


def test_only_inventory_tenants_can_be_pruned():
    live = _live(a="inventory", b="runbook", c=None, d="inventory")
    assert ownership.inventory_owned(live) == ["a", "d"]
    assert ownership.owner_of(None) is None
