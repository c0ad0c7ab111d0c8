"""The shared tenant run: one option spec, one doc fragment, the same rules for both modules."""

from __future__ import annotations

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import module as tenant_module
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

from tenant_fixtures import TIERS


def _specs(*items):
    specs, errors = tenant_spec.validate_items(list(items), TIERS)
    assert not errors
    return specs


def test_grace_period_without_a_rotation_is_refused_by_both_owners():
    for owner, fix in ((contract.RUNBOOK, "rotate=true"), (contract.INVENTORY, "key_generation")):
        for grace in ("0", "24h"):
            errors = tenant_module._owner_errors(_specs({"name": "acme", "grace_period": grace}), owner)
            assert errors == ["tenant 'acme': grace_period %r only applies together with %s" % (grace, fix)]
    assert tenant_module._owner_errors(_specs({"name": "a", "rotate": True, "grace_period": "1h"}),
                                       contract.RUNBOOK) == []
    assert tenant_module._owner_errors(_specs({"name": "a", "key_generation": 2, "grace_period": "1h"}),
                                       contract.INVENTORY) == []


def test_inventory_refuses_rotate_and_every_spec_gets_its_owner():
    specs = _specs({"name": "a", "rotate": True}, {"name": "b"})
    errors = tenant_module._owner_errors(specs, contract.INVENTORY)
    assert len(errors) == 1 and "raise key_generation" in errors[0]
    assert [s.owner for s in specs] == ["inventory", "inventory"]
    assert tenant_module._owner_errors(_specs({"name": "a", "rotate": True}), contract.RUNBOOK) == []


def test_key_destination_errors(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert "is not a directory" in tenant_module._key_destination_errors(str(not_a_dir), None)[0]
    assert "is a directory" in tenant_module._key_destination_errors(None, str(tmp_path))[0]
    assert tenant_module._key_destination_errors(str(tmp_path / "keys"), str(tmp_path / "k.key")) == []
