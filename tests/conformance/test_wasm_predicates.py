"""The limit predicates tier_policies writes, evaluated by wasm-shim's CEL (`cel` 0.14.0 + its string extensions).

Evaluated in testworld/rust/quota_harness, the crate wasm-shim v0.14.1 is built with; nothing is
registered by hand here. (The end-to-end path with Authorino and Limitador: test_quotas.py.)
"""

from __future__ import annotations

import pytest

from testworld import quota_harness as qh
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render

DEFAULT_TIERS = {t: {"requests_per_minute": 1, "tokens_per_minute": 1} for t in ("free", "pro", "enterprise")}


@pytest.fixture(scope="module")
def cel(tmp_path_factory):
    try:
        harness = qh.QuotaHarness(qh.build())
    except qh.HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield harness
    harness.close()


def render(**kwargs):
    return policy_render.render_policies(DEFAULT_TIERS, "Gateway", "token-labs-gateway", "token-labs", {"app": "token-labs"},
                                         **kwargs)


def attributes(groups=None, method="POST", url_path="/v1/chat/completions"):
    identity = {"userid": "acme", "groups": groups}  # Authorino gives null for a missing annotation
    return {"auth": {"identity": identity}, "request": {"method": method, "url_path": url_path}}


def predicates(kind, tier, **kwargs):
    suffix = "requests" if kind == "RateLimitPolicy" else "tokens"
    return [w["predicate"] for w in render(**kwargs)[kind]["spec"]["limits"][f"{tier}-{suffix}"]["when"]]


def applies(cel, kind, tier, attrs, **kwargs):
    """All predicates of one limit, evaluated in order with wasm-shim's short-circuit (first false stops)."""
    for predicate in predicates(kind, tier, **kwargs):
        answer = cel.eval(predicate, **attrs)
        assert "error" not in answer, (predicate, attrs, answer)
        if answer["value"] is not True:
            return False
    return True


@pytest.mark.parametrize("kind", ["RateLimitPolicy", "TokenRateLimitPolicy"])
@pytest.mark.parametrize("groups, expected", [
    ("free", "free"), ("pro", "pro"), ("enterprise", "enterprise"),
    ("pro,beta-testers", "pro"), ("beta-testers,enterprise", "enterprise"), ("pro,", "pro"), (",pro", "pro"),
    ("gold", None), ("", None), ("free,pro", None), ("Free", None), ("free ", None), ("pro,pro", None),
])
def test_tier_predicates_are_disjoint(cel, kind, groups, expected):
    matching = [t for t in DEFAULT_TIERS if applies(cel, kind, t, attributes(groups))]
    assert matching == ([expected] if expected else [])


def test_a_missing_tier_is_an_error_not_a_match(cel):
    """groups null (no annotation): split on null errors -- Authorino refuses such keys first (403)."""
    answer = cel.eval(policy_render.tier_predicate("free", DEFAULT_TIERS), **attributes(None))
    assert "error" in answer


@pytest.mark.parametrize("method, path, counted", [
    ("POST", "/v1/chat/completions", True), ("GET", "/v1/models", True), ("DELETE", "/x", True),
    ("OPTIONS", "/v1/chat/completions", False),
])
def test_request_limits_count_everything_but_preflight(cel, method, path, counted):
    assert applies(cel, "RateLimitPolicy", "pro", attributes("pro", method, path)) is counted


@pytest.mark.parametrize("method, path, counted", [
    ("POST", "/v1/chat/completions", True), ("POST", "/v1/completions", True),
    ("POST", "/v1/embeddings", False), ("GET", "/v1/models", False), ("GET", "/v1/chat/completions", False),
    ("OPTIONS", "/v1/completions", False), ("POST", "/v1/chat/completions/", False),
])
def test_token_limits_cover_every_usage_path(cel, method, path, counted):
    assert applies(cel, "TokenRateLimitPolicy", "free", attributes("free", method, path)) is counted


def test_custom_token_paths(cel):
    paths = ["/v1/chat/completions", "/v1/embeddings"]
    assert applies(cel, "TokenRateLimitPolicy", "pro", attributes("pro", "POST", "/v1/embeddings"), token_paths=paths)
    assert not applies(cel, "TokenRateLimitPolicy", "pro", attributes("pro", "POST", "/v1/completions"),
                       token_paths=paths)


def test_preflight_stops_before_the_tier_predicate(cel):
    # OPTIONS is not authenticated: no identity at all. The scope predicate comes first and is false,
    # so the tier predicate (which would fail on the missing identity) is never evaluated.
    attrs = {"auth": {"identity": {}}, "request": {"method": "OPTIONS", "url_path": "/v1/completions"}}
    for kind in ("RateLimitPolicy", "TokenRateLimitPolicy"):
        assert applies(cel, kind, "free", attrs) is False
    assert "error" in cel.eval(predicates("RateLimitPolicy", "free")[1], **attrs)


def test_the_auth_policy_when_skips_preflight(cel):
    when = render()["AuthPolicy"]["spec"]["when"][0]["predicate"]
    assert cel.eval(when, request={"method": "OPTIONS"}) == {"value": False}
    assert cel.eval(when, request={"method": "POST"}) == {"value": True}
