"""Tiers from the deployed AuthPolicy: omitted -> deployed, different -> refused (check mode: warned)."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import tiers as tenant_tiers
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError

WHERE = "AuthPolicy token-labs/token-labs-auth"


class Api(object):
    def __init__(self, answer):
        self.answer = answer

    def get(self, path, missing_ok=False):
        assert path == "/apis/kuadrant.io/v1/namespaces/token-labs/authpolicies/token-labs-auth"
        if isinstance(self.answer, ApiError):
            raise self.answer
        return self.answer


def policy(annotation):
    return {"metadata": {"annotations": {"tokenlabs.io/tiers": annotation} if annotation is not None else {}}}


@pytest.mark.parametrize("answer,tiers,why", [
    (policy("pro,free"), ["free", "pro"], None),
    (None, None, "does not exist"),
    (policy(None), None, "has no tokenlabs.io/tiers annotation"),
    (ApiError(403, "Forbidden", "no"), None, "forbidden"),
])
def test_deployed_tiers(answer, tiers, why):
    found, reason = tenant_tiers.deployed_tiers(Api(answer), "token-labs", "token-labs-auth")
    assert found == tiers
    assert (reason is None) if why is None else (why in reason)


def test_other_api_errors_are_raised():
    with pytest.raises(ApiError):
        tenant_tiers.deployed_tiers(Api(ApiError(500, "x", "y")), "token-labs", "token-labs-auth")


def test_resolve():
    assert tenant_tiers.resolve_tiers(None, ["free"], None, WHERE, False) == (["free"], [], [])
    tiers, errors, _w = tenant_tiers.resolve_tiers(None, None, "it does not exist", WHERE, False)
    assert tiers is None and "cannot be read from the cluster: it does not exist" in errors[0]
    assert tenant_tiers.resolve_tiers(["pro", "free"], ["free", "pro"], None, WHERE, False) == (["pro", "free"], [], [])
    tiers, errors, _w = tenant_tiers.resolve_tiers(["free", "gold"], ["free", "pro"], None, WHERE, False)
    assert tiers is None and "tiers free, gold differ" in errors[0] and "tokenlabs.io/tiers: free, pro" in errors[0]
    tiers, errors, warnings = tenant_tiers.resolve_tiers(["free", "gold"], ["free", "pro"], None, WHERE, True)
    assert tiers == ["free", "gold"] and errors == [] and "check mode uses the given tiers" in warnings[0]
    # not readable: the given tiers are used; a missing permission is worth a warning
    assert tenant_tiers.resolve_tiers(["free"], None, "does not exist", WHERE, False) == (["free"], [], [])
    assert tenant_tiers.resolve_tiers(["free"], None, "reading x is forbidden", WHERE, False)[2]
