"""Which AuthConfigs the tenant modules touch so that Authorino re-reads changed tenants.

The real behaviour (Authorino ignoring annotation-only Secret updates, and the
touch making a tier change visible without refusing the key) is proven on the
real Authorino in tests/conformance/test_authorino_tenants.py; here the
selection and the error handling, with an in-memory stand-in for KubeApi.
"""

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import authorino_refresh as ar
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError

SELECTOR = {"app": "token-labs"}


def authconfig(name, match_labels, expressions=None, kind="apiKey"):
    identity = {kind: {"selector": {"matchLabels": match_labels}}} if kind == "apiKey" else {kind: {}}
    if expressions:
        identity[kind]["selector"]["matchExpressions"] = expressions
    return {"metadata": {"name": name}, "spec": {"hosts": [name], "authentication": {"keys": identity}}}


@pytest.mark.parametrize("labels, expected", [
    ({"app": "token-labs"}, True),
    ({"app": "token-labs", "authorino.kuadrant.io/managed-by": "authorino"}, True),
    ({"app": "other"}, False),
    ({"app": "token-labs", "team": "a"}, False),  # selects only a subset our tenants do not carry
    ({}, False),
])
def test_selection_follows_the_tenant_labels(labels, expected):
    assert ar.authenticates_tenants(authconfig("a", labels), SELECTOR) is expected


def test_match_expressions_and_other_identities_are_not_ours():
    assert not ar.authenticates_tenants(authconfig("a", SELECTOR, expressions=[{"key": "x", "operator": "Exists"}]),
                                        SELECTOR)
    assert not ar.authenticates_tenants(authconfig("a", {}, kind="anonymous"), SELECTOR)
    assert not ar.authenticates_tenants({"metadata": {"name": "a"}, "spec": {}}, SELECTOR)


class FakeApi(object):
    def __init__(self, items=None, list_error=None, patch_error=None):
        self.items = items or []
        self.list_error = list_error
        self.patch_error = patch_error
        self.patches = []

    def list(self, path):
        assert path == "/apis/authorino.kuadrant.io/v1beta3/namespaces/kuadrant-system/authconfigs"
        if self.list_error:
            raise self.list_error
        return self.items

    def merge_patch(self, path, body):
        if self.patch_error:
            raise self.patch_error
        self.patches.append((path, body))


def test_only_the_tenants_authconfigs_are_touched_with_the_revision():
    api = FakeApi([authconfig("b", SELECTOR), authconfig("other", {"app": "x"}), authconfig("a", SELECTOR)])
    assert ar.refresh(api, "kuadrant-system", SELECTOR, "rev-1") == {"authconfigs": ["a", "b"], "skipped": None}
    assert api.patches == [
        ("/apis/authorino.kuadrant.io/v1beta3/namespaces/kuadrant-system/authconfigs/a",
         {"metadata": {"annotations": {"tokenlabs.io/tenants-revision": "rev-1"}}}),
        ("/apis/authorino.kuadrant.io/v1beta3/namespaces/kuadrant-system/authconfigs/b",
         {"metadata": {"annotations": {"tokenlabs.io/tenants-revision": "rev-1"}}}),
    ]


@pytest.mark.parametrize("status, reason", [(404, "no AuthConfig API"), (403, "not allowed to list AuthConfigs")])
def test_missing_api_or_permission_is_reported_not_raised(status, reason):
    api = FakeApi(list_error=ApiError(status, "x", "y"))
    result = ar.refresh(api, "kuadrant-system", SELECTOR, "rev")
    assert result["authconfigs"] == [] and reason in result["skipped"]


def test_a_refused_patch_is_reported_and_other_errors_raise():
    api = FakeApi([authconfig("a", SELECTOR)], patch_error=ApiError(403, "Forbidden", "denied by policy"))
    result = ar.refresh(api, "kuadrant-system", SELECTOR, "rev")
    assert result["authconfigs"] == [] and result["skipped"].startswith("a: ")
    api = FakeApi([authconfig("a", SELECTOR)], patch_error=ApiError(500, "Internal", "boom"))
    with pytest.raises(ApiError):
        ar.refresh(api, "kuadrant-system", SELECTOR, "rev")
