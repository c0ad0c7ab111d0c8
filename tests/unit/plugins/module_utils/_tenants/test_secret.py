"""The tenant Secret: rendering, selectors, the tenant_info view."""

from __future__ import annotations

import base64
import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

from tenant_fixtures import NOW, NS, SEL, KEY_A, KEY_B, live_secret  # noqa: F401


def test_rendered_secret_has_exactly_the_authorino_shape():
    body = tenant_secret.render_secret(NS, SEL, "acme", "pro", "acme-user", KEY_A, "2026-06-01T12:00:00Z", "ACME", None,
                                       "2027-01-01T00:00:00Z")
    assert body["metadata"]["name"] == "tenant-acme"
    assert body["metadata"]["labels"] == {"authorino.kuadrant.io/managed-by": "authorino", "app": "token-labs"}
    assert body["metadata"]["annotations"] == {
        "kuadrant.io/groups": "pro", "secret.kuadrant.io/user-id": "acme-user", "tokenlabs.io/tenant": "acme",
        "tokenlabs.io/key-fingerprint": tenant_keys.fingerprint(KEY_A), "tokenlabs.io/created-at": "2026-06-01T12:00:00Z",
        "tokenlabs.io/display-name": "ACME", "tokenlabs.io/expires-at": "2027-01-01T00:00:00Z",
        "tokenlabs.io/key-generation": "1"}
    assert body["data"] == {"api_key": base64.b64encode(KEY_A.encode()).decode()}
    assert "stringData" not in body and body["type"] == "Opaque"


def test_label_selector_contains_managed_by_and_selector():
    assert contract.tenant_label_selector({"app": "x"}) == "app=x,authorino.kuadrant.io/managed-by=authorino"


def test_tenant_info_view_shows_pending_rotation_and_expiry():
    retired = live_secret(name="tenant-acme.retired-aaa", key=KEY_B,
                          extra_ann={contract.RETIRES_ANNOTATION: "2026-06-01T13:00:00Z"})
    main = live_secret(extra_ann={contract.EXPIRES_ANNOTATION: "2026-05-01T00:00:00Z"})
    view = tenant_secret.describe_tenant(tenant_secret.LiveIndex([main, retired]), "acme", NOW)
    assert view["expired"] is True and view["rotation"]["pending"] is True
    assert view["rotation"]["retired_keys"][0]["fingerprint"] == tenant_keys.fingerprint(KEY_B)
    dumped = json.dumps(view)
    assert KEY_A not in dumped and KEY_B not in dumped and tenant_keys.encode_key(KEY_A) not in dumped
