"""Desired tenants: field checks before anything is read or written."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec

from tenant_fixtures import TIERS, KEY_A  # noqa: F401


def test_tiers_from_table_list_or_csv():
    assert tenant_spec.normalize_tiers({"pro": {}, "free": {}}) == ["free", "pro"]
    assert tenant_spec.normalize_tiers(["pro"]) == ["pro"]
    assert tenant_spec.normalize_tiers("free, pro") == ["free", "pro"]
    with pytest.raises(tenant_secret.TenantError):
        tenant_spec.normalize_tiers([])
    with pytest.raises(tenant_secret.TenantError):
        tenant_spec.normalize_tiers(5)


def test_validation_names_field_value_and_allowed_values():
    item = {"name": "Bad_Name", "tier": "gold", "user_id": "X", "expires_at": "soon", "grace_period": "3x",
            "colour": "red"}
    unused_spec, errors = tenant_spec.validate_item(item, TIERS)
    text = "\n".join(errors)
    assert "unknown field(s) colour" in text
    assert "name 'Bad_Name' is not a valid DNS-1123 label" in text
    assert "tier 'gold' is not a known tier; allowed tiers: enterprise, free, pro" in text
    assert "user_id 'X' is not a valid DNS-1123 label" in text
    assert "expires_at 'soon' is not an RFC 3339 timestamp" in text
    assert "grace_period '3x' is not a duration" in text


def test_duplicate_names_and_keys_in_a_list():
    unused_spec, errors = tenant_spec.validate_items([{"name": "a", "tier": "pro"}, {"name": "a", "tier": "free"}], TIERS)
    assert errors == ["tenants[1]: name 'a' is listed twice (also tenants[0]); each tenant once"]
    items = [{"name": "a", "tier": "gold"}, {"name": "a", "tier": "free"},
             {"name": "b", "tier": "pro", "api_key": KEY_A}, {"name": "c", "tier": "pro", "api_key": KEY_A}]
    unused_spec, errors = tenant_spec.validate_items(items, TIERS)
    assert len(errors) == 3 and "same as the api_key given for tenant 'b'" in errors[2]
    assert KEY_A not in " ".join(errors)


@pytest.mark.parametrize("value", [0, -1, "2", True, 1.5])
def test_key_generation_must_be_a_positive_whole_number(value):
    unused_spec, errors = tenant_spec.validate_item({"name": "acme", "tier": "pro", "key_generation": value}, TIERS)
    assert errors and "key_generation" in errors[0]


def test_rotate_and_key_generation_exclude_each_other():
    unused_spec, errors = tenant_spec.validate_item({"name": "acme", "tier": "pro", "key_generation": 2, "rotate": True},
                                                    TIERS)
    assert errors == ["tenant 'acme': give either rotate or key_generation, not both"]
