"""Shared data of the tenant unit tests: a live tenant Secret, a checked spec, a one-tenant plan."""

from datetime import datetime, timezone

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NS = "kuadrant-system"
SEL = {"app": "token-labs"}
TIERS = ["enterprise", "free", "pro"]
KEY_A = "Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMnBvC"
KEY_B = "Qw3-eR5tY7uI9oP1aS3dF5gH7jK9lZ1xC3vB5nM"


def live_secret(tenant="acme", tier="pro", uid=None, key=KEY_A, rv="10", extra_ann=None, managed=True,
                name=None, labels=None):
    ann = {contract.GROUPS_ANNOTATION: tier, contract.USER_ID_ANNOTATION: uid or tenant}
    if managed:
        ann.update({contract.TENANT_KEY: tenant, contract.FINGERPRINT_ANNOTATION: tenant_keys.fingerprint(key),
                    contract.CREATED_ANNOTATION: "2026-01-01T00:00:00Z"})
    ann.update(extra_ann or {})
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name or tenant_secret.secret_name(tenant), "namespace": NS, "resourceVersion": rv,
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": labels if labels is not None else contract.tenant_labels(SEL),
                         "annotations": ann},
            "type": "Opaque", "data": {"api_key": tenant_keys.encode_key(key)}}


def spec(**kw):
    item = {"name": "acme", "tier": "pro"}
    item.update(kw)
    s, errors = tenant_spec.validate_item(item, TIERS)
    assert not errors, errors
    return s


def plan_for(s, main=None, retired=None, new_key=None):
    return planning.plan_tenant(s, main, retired, NS, SEL, NOW, new_key=new_key)
