"""Quotas on the engines that enforce them: wasm-shim's CEL crate and Limitador's counting library.

Per request, as wasm-shim v0.14.1 runs it (``testworld/quota_harness.py`` ``send``):
action-set selection and the auth action's `when` in the harness, then the real Authorino
(gRPC Check) for the tenant's key, then the limit actions with Authorino's identity --
predicates and request builders in `cel` 0.14.0, Limitador 0.12.0 ``check_rate_limited_and_update``
(requests) / ``is_rate_limited`` then ``update_counters`` with the response's
``usage.total_tokens`` (tokens). The plugin config and the limits are what the real kuadrant-operator
1.5.2 generated from the policies ``tier_policies`` rendered (``testworld/kuadrant_outputs.py``).

Short windows (a test tier table) keep the window tests fast; the predicate checks use the
default table.
"""

from __future__ import annotations

import json
import time

import pytest

from testworld import quota_harness as qh
from testworld.redis import RedisServer
from world import Site

# "minute" and "day" of the free tier, shrunk: 10 per 4 s and 14 per 30 s; tokens 100 per 4 s.
SHORT_TIERS = {
    "free": {"request_rates": [{"limit": 10, "window": "4s"}, {"limit": 14, "window": "30s"}],
             "token_rates": [{"limit": 100, "window": "4s"}]},
    "pro": {"request_rates": [{"limit": 20, "window": "4s"}], "token_rates": [{"limit": 1000, "window": "4s"}]},
}
WINDOW = 4.0


@pytest.fixture(scope="session")
def harness_binary():
    try:
        return qh.build()
    except qh.HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def short_site(control_plane, authorino, tmp_path_factory):
    return Site(control_plane, authorino, tmp_path_factory.mktemp("short-site"), tiers=SHORT_TIERS)


@pytest.fixture
def gateway(harness_binary):
    """A fresh harness (fresh in-memory counters) configured for a site: ``gateway(site)``."""
    started = []

    def make(site, storage="memory"):
        harness = qh.QuotaHarness(harness_binary)
        started.append(harness)
        plugin, limits = site.quota_config()
        harness.configure(plugin, limits, storage)
        return Gateway(site, harness)
    yield make
    for harness in started:
        harness.close()


class Gateway:
    def __init__(self, site, harness):
        self.site, self.harness = site, harness

    def send(self, key, **kwargs):
        return qh.send(self.site.client, self.harness, key, **kwargs)

    def statuses(self, key, count, **kwargs):
        return [self.send(key, **kwargs)["status"] for _request in range(count)]


def tenant(site, name, tier, **params):
    result = site.runner.tenant(name=name, tier=tier, tiers=site.tiers, selector=site.selector, return_key=True,
                                **params)
    assert not result.get("failed"), result
    site.wait_for(lambda d: d.allowed, result["api_key"])
    return result["api_key"]


def chat_response(total_tokens):
    return {"content_type": "application/json",
            "body": json.dumps({"id": "x", "choices": [{"message": {"content": "hi"}}],
                                "usage": {"prompt_tokens": 1, "completion_tokens": total_tokens - 1,
                                          "total_tokens": total_tokens}})}


def test_the_operators_plugin_config_and_limits(site):
    plugin, limits = site.quota_config()
    assert {s: plugin["services"][s]["type"] for s in plugin["services"]} == {
        "auth-service": "auth", "ratelimit-service": "ratelimit", "ratelimit-check-service": "ratelimit-check",
        "ratelimit-report-service": "ratelimit-report"}
    [action_set] = plugin["actionSets"]
    services = [a["service"] for a in action_set["actions"]]
    # auth first; the three request limits merged into one action; a check/report pair per token limit
    token_pair = ["ratelimit-check-service", "ratelimit-report-service"]
    assert services == ["auth-service", "ratelimit-service"] + token_pair * 3
    assert len(action_set["actions"][1]["conditionalData"]) == 3
    free = [limit for limit in limits if limit["name"] == "free-requests"]
    assert [(limit["max_value"], limit["seconds"]) for limit in free] == [(10, 60), (100, 86400)]
    assert free[0]["namespace"] == f"{site.gateway_ns}/llm-inference"
    assert free[0]["variables"] == ['descriptors[0]["auth.identity.userid"]']


def test_free_tenant_gets_ten_requests_per_window_then_429(short_site, gateway):
    gw = gateway(short_site)
    key = tenant(short_site, "window", "free")
    first = time.monotonic()
    assert gw.statuses(key, 10) == [200] * 10
    limited = gw.send(key)
    assert limited["status"] == 429 and limited["body"] == "Too Many Requests\n"
    time.sleep(max(0.0, first + WINDOW + 0.3 - time.monotonic()))
    # a new short window: allowed again, until the long ("day") window's 14 are used up
    assert gw.statuses(key, 4) == [200] * 4
    assert gw.send(key)["status"] == 429


def test_counters_are_per_tenant_and_shared_by_a_rotated_tenants_keys(short_site, gateway):
    gw = gateway(short_site)
    alice, bob = tenant(short_site, "alice", "free"), tenant(short_site, "bob", "free")
    assert gw.statuses(alice, 10) == [200] * 10
    assert gw.send(alice)["status"] == 429
    assert gw.statuses(bob, 10) == [200] * 10  # bob's counter is his own

    old = tenant(short_site, "carol", "free", user_id="carol")
    rotated = short_site.runner.tenant(name="carol", tiers=short_site.tiers, selector=short_site.selector, rotate=True,
                                       grace_period="1h", return_key=True)
    new = rotated["api_key"]
    short_site.wait_for(lambda d: d.allowed, new)
    assert gw.statuses(old, 5) == [200] * 5
    assert gw.statuses(new, 5) == [200] * 5
    assert gw.send(old)["status"] == 429 and gw.send(new)["status"] == 429  # one counter for both keys


def test_a_pro_tenant_gets_the_pro_numbers(short_site, gateway):
    gw = gateway(short_site)
    key = tenant(short_site, "bigger", "pro")
    assert gw.statuses(key, 20) == [200] * 20
    assert gw.send(key)["status"] == 429


def test_tokens_are_counted_after_the_response(short_site, gateway):
    gw = gateway(short_site)
    key = tenant(short_site, "tokens", "free")
    first = gw.send(key, response=chat_response(60))
    assert first["status"] == 200
    report = [c for c in first["calls"] if c["service"] == "ratelimit-report"]
    assert [c["hits"] for c in report] == [60]
    assert "ratelimit.hits_addend" not in report[0]["descriptor"]  # a known attribute, not a descriptor entry
    # 60 used: the next request may start; its 60 tokens cross the budget of 100 -- it completes ...
    assert gw.send(key, response=chat_response(60))["status"] == 200
    # ... and the one after is limited (post-hoc, as docs/tiers.md says)
    assert gw.send(key, response=chat_response(1))["status"] == 429


def test_a_streamed_response_counts_its_final_usage_event(short_site, gateway):
    gw = gateway(short_site)
    key = tenant(short_site, "streamer", "free")
    chunk = {"id": "x", "choices": [{"delta": {"content": "hi"}}]}
    usage = {"id": "x", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 95, "total_tokens": 100}}
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in (chunk, chunk, usage)) + "data: [DONE]\n\n"
    result = gw.send(key, response={"content_type": "text/event-stream", "body": body})
    assert [c["hits"] for c in result["calls"] if c["service"] == "ratelimit-report"] == [100]
    assert gw.send(key)["status"] == 429  # 100 of 100 used


def test_a_response_without_usage_counts_nothing_and_fails_nothing(short_site, gateway):
    gw = gateway(short_site)
    key = tenant(short_site, "nousage", "free")
    for _attempt in range(3):
        result = gw.send(key, response={"content_type": "application/json", "body": '{"id": "x"}'})
        assert result["status"] == 200
        assert not [c for c in result["calls"] if c["service"] == "ratelimit-report"]
    # the wasm-shim logs the failed report and allows: nothing counted, the request limit still counts
    assert gw.send(key, response=chat_response(99))["status"] == 200


@pytest.mark.parametrize("method, path, tokens_counted", [
    ("POST", "/v1/completions", True),
    ("POST", "/v1/chat/completions?x=1", True),   # url_path has no query string: no bypass
    ("GET", "/v1/models", False),
    ("POST", "/v1/embeddings", False),
    # a non-LLM service of tokenlabs_services (Magpie TTS): tenant key + request limit, no token limit
    ("POST", "/v1/audio/speech", False),
])
def test_token_counting_by_path(site, gateway, method, path, tokens_counted):
    gw = gateway(site)
    key = tenant(site, f"paths-{abs(hash((method, path))) % 10000}", "free")
    result = gw.send(key, method=method, path=path, response=chat_response(7))
    assert result["status"] == 200 and result["errors"] == []
    services = [c["service"] for c in result["calls"]]
    assert services.count("ratelimit") == 1  # every authenticated request counts against the request limit
    assert ("ratelimit-report" in services) is tokens_counted


def test_options_is_never_authenticated_or_counted(site, gateway):
    gw = gateway(site)
    result = gw.send(None, method="OPTIONS")
    assert result == {"status": 200, "calls": [], "errors": [], "authorino_called": False}


@pytest.mark.parametrize("groups", ["free", "pro", "enterprise", "free,beta-testers", "beta,enterprise",
                                    "pro,", ",pro", "free,,x"])
def test_no_predicate_fails_for_a_tenant_authorino_accepts(site, gateway, groups):
    """An error in one predicate cancels every limit of the merged action (research section 3)."""
    gw = gateway(site)
    name = "groups-" + str(abs(hash(groups)) % 100000)
    key = f"tlabs_sk_{name}_" + "a1" * 20
    site.kubectl_secret(f"tenant-{name}", key, {"kuadrant.io/groups": groups, "secret.kuadrant.io/user-id": name})
    site.wait_for(lambda d: d.allowed, key)
    result = gw.send(key, response=chat_response(3))
    assert result["status"] == 200 and result["errors"] == [], result
    tier = [g for g in groups.split(",") if g in site.tiers][0]
    limit_keys = [k for c in result["calls"] for k in c["descriptor"] if k.startswith(("limit.", "tokenlimit."))]
    assert len(limit_keys) == 3 and all(k.split(".", 1)[1].startswith(tier + "_") for k in limit_keys)


@pytest.mark.parametrize("storage, survives", [("redis", True), ("memory", False)])
def test_counters_survive_a_restart_only_with_redis(site, gateway, tmp_path, storage, survives):
    redis = RedisServer(tmp_path / "redis") if storage == "redis" else None
    try:
        url = redis.url if redis else "memory"
        key = tenant(site, f"restart-{storage}", "free")
        before = gateway(site, url)
        assert before.statuses(key, 6) == [200] * 6
        before.harness.close()  # the counting process restarts
        after = gateway(site, url)
        assert after.statuses(key, 4) == [200] * 4
        assert after.send(key)["status"] == (429 if survives else 200)
    finally:
        if redis:
            redis.stop()


def test_counters_on_redis_survive_the_move_from_limitador_v2_3_to_v2_4(site, gateway, tmp_path):
    """The reference set's Limitador (v2.3.0: ``limitador`` 0.11.0) counts part of a tenant's minute on Redis; after
    the upgrade, Limitador v2.4.2's library (``limitador`` 0.12.0, in the harness) goes on from those counters: the
    operator generates the same limits (kuadrant-operator 1.4.3 and 1.5.2 derive them alike) and both libraries
    keep them under the same Redis keys. (The free tier: 10 requests per minute.)"""
    redis = RedisServer(tmp_path / "redis")
    try:
        key = tenant(site, "upgrade-counters", "free")
        learn = gateway(site)  # in memory: what this tenant's request-limit call sends to Limitador
        [call] = [c for c in learn.send(key)["calls"] if c["service"] == "ratelimit"]
        _plugin, limits = site.quota_config()
        assert qh.count_with_limitador_v2_3(redis.url, limits, call["domain"], call["descriptors"], 6) == [False] * 6
        after = gateway(site, redis.url)
        assert after.statuses(key, 4) == [200] * 4
        assert after.send(key)["status"] == 429
    finally:
        redis.stop()
