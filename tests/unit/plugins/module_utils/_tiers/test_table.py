"""Unit tests of the tier table: validation, tier names, windows.

What the rendered CEL does is proven on the engines that evaluate it, in
tests/conformance: the limit predicates with wasm-shim's CEL crate
(test_wasm_predicates.py, test_quotas.py), the authorization rules on the real
Authorino (test_authorino_rules.py, test_authorino_tenants.py).
"""

import copy
import re

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from support.tiers import DEFAULT_TIERS  # noqa: E402

CRD_WINDOW = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def errors_of(tiers):
    with pytest.raises(tier_table.TierTableError) as info:
        tier_table.validate_tiers(tiers)
    return info.value.errors


def render(tiers=None, **kwargs):
    return policy_render.render_policies(tiers if tiers is not None else DEFAULT_TIERS, "Gateway", "token-labs-gateway",
                                         "token-labs", {"app": "token-labs"}, **kwargs)


def test_default_table_is_valid_and_lists_its_tiers():
    assert sorted(tier_table.validate_tiers(DEFAULT_TIERS)) == ["enterprise", "free", "pro"]
    table = tier_table.validate_tiers(DEFAULT_TIERS)
    assert table["free"] == {"requests": [(60000, 10), (86400000, 100)],
                             "tokens": [(60000, 5000), (86400000, 50000)]}


def test_platform_defaults_carry_the_reference_table():
    import yaml
    from pathlib import Path
    defaults = yaml.safe_load((Path(__file__).parents[5] / "roles/platform_defaults/defaults/main.yml").read_text())
    assert defaults["tokenlabs_tiers"] == DEFAULT_TIERS


@pytest.mark.parametrize("text, ms, rendered", [
    ("1m", 60000, "1m"), ("1d", 86400000, "24h"), ("12h", 43200000, "12h"), ("90s", 90000, "1m30s"),
    ("1h30m", 5400000, "1h30m"), ("2w", 1209600000, "336h"), ("1D", 86400000, "24h"), ("1s", 1000, "1s"),
    ("1000ms", 1000, "1s"), ("30d", 2592000000, "720h"), ("1d1h1m1s", 90061000, "25h1m1s"),
])
def test_windows_are_rendered_in_the_crd_form(text, ms, rendered):
    assert tier_table.parse_window(text) == ms
    assert tier_table.format_window(ms) == rendered
    assert CRD_WINDOW.match(rendered)


@pytest.mark.parametrize("value, fragment", [
    ("0s", "longer than zero"), ("500ms", "whole number of seconds"), ("1.5h", "allowed"), ("1y", "allowed"),
    ("", "allowed"), (60, "duration string"), (None, "duration string"), (True, "duration string"),
    ("100000h", "99999h"), ("1h 30m", "allowed"),
])
def test_bad_windows_are_refused(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        tier_table.parse_window(value)


def test_explicit_rates_and_friendly_keys_mix():
    tiers = {"trial": {"requests_per_minute": 5, "request_rates": [{"limit": 40, "window": "12h"}],
                       "tokens_per_hour": "1000", "token_rates": [{"limit": 9000, "window": "1d"}]}}
    table = tier_table.validate_tiers(tiers)
    assert table["trial"]["requests"] == [(60000, 5), (43200000, 40)]
    assert table["trial"]["tokens"] == [(3600000, 1000), (86400000, 9000)]
    rlp = render(tiers)["RateLimitPolicy"]
    assert rlp["spec"]["limits"]["trial-requests"]["rates"] == [
        {"limit": 5, "window": "1m"}, {"limit": 40, "window": "12h"}]
    trlp = render(tiers)["TokenRateLimitPolicy"]
    assert trlp["spec"]["limits"]["trial-tokens"]["rates"] == [
        {"limit": 1000, "window": "1h"}, {"limit": 9000, "window": "24h"}]


@pytest.mark.parametrize("value", [0, -1, 1.5, 10.0, "ten", "", None, True, [10], "1e3"])
def test_non_positive_or_non_integer_limits_are_refused(value):
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["pro"]["requests_per_day"] = value
    errors = errors_of(tiers)
    assert len(errors) == 1
    assert "tokenlabs_tiers.pro.requests_per_day = %r" % (value,) in errors[0]
    assert "positive integer" in errors[0] and "allowed" in errors[0]


def test_unknown_keys_are_refused_with_the_allowed_keys():
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["request_per_minute"] = 3
    errors = errors_of(tiers)
    assert errors == [e for e in errors if "tokenlabs_tiers.free has unknown key 'request_per_minute'" in e]
    assert "requests_per_minute" in errors[0]


def test_unknown_keys_in_explicit_rates_are_refused():
    tiers = {"free": {"requests_per_minute": 1, "token_rates": [{"limit": 5, "window": "1m", "burst": 2}]}}
    errors = errors_of(tiers)
    assert any("token_rates[0] has unknown key(s) burst" in e for e in errors)


@pytest.mark.parametrize("name", ["Pro", "pro_plus", "-pro", "pro-", "pro.max", "pro plus", "", "x" * 49, "é"])
def test_tier_names_must_be_dns_safe(name):
    tiers = {name: dict(DEFAULT_TIERS["pro"])}
    errors = errors_of(tiers)
    assert any(("tier name %r is not DNS-safe" % name) in e and "allowed" in e for e in errors)


def test_non_string_tier_names_are_refused():
    assert any("tier name 1 is a int" in e for e in errors_of({1: dict(DEFAULT_TIERS["pro"])}))
    assert any("tier name True is a bool" in e for e in errors_of({True: dict(DEFAULT_TIERS["free"])}))


@pytest.mark.parametrize("a, b", [("pro", "Pro"), ("pro-plus", "pro_plus"), ("pro-plus", "PRO.PLUS")])
def test_colliding_tier_names_are_refused(a, b):
    errors = errors_of({a: dict(DEFAULT_TIERS["pro"]), b: dict(DEFAULT_TIERS["pro"])})
    collisions = [e for e in errors if "collide" in e]
    assert len(collisions) == 1 and repr(a) in collisions[0] and repr(b) in collisions[0]


@pytest.mark.parametrize("tiers", [{}, None])
def test_an_empty_table_is_refused(tiers):
    assert "tokenlabs_tiers is empty" in errors_of(tiers)[0]


def test_a_table_that_is_not_a_dict_is_refused():
    assert "must be a dict" in errors_of(["free"])[0]
    assert "must be a dict of limits" in errors_of({"free": 10})[0]


def test_per_minute_above_per_day_is_refused():
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["tokens_per_minute"] = 60000
    errors = errors_of(tiers)
    assert errors == ["tokenlabs_tiers.free.tokens_per_minute = 60000 is above tokenlabs_tiers.free.tokens_per_day "
                      "= 50000; allowed: a limit over a shorter window that is at most the limit over a longer "
                      "window"]


def test_equal_minute_and_day_limits_are_allowed():
    tiers = {"flat": {"requests_per_minute": 10, "requests_per_day": 10, "tokens_per_day": 1}}
    assert sorted(tier_table.validate_tiers(tiers)) == ["flat"]


def test_one_limit_per_window():
    tiers = {"free": {"requests_per_day": 100, "request_rates": [{"limit": 50, "window": "24h"}],
                      "tokens_per_day": 5}}
    errors = errors_of(tiers)
    assert any("both limit requests per day" in e for e in errors)


def test_every_tier_needs_request_and_token_limits():
    errors = errors_of({"free": {"requests_per_day": 100}})
    assert errors == [e for e in errors if "has no token limit" in e] and len(errors) == 1


def test_all_problems_are_reported_at_once():
    errors = errors_of({"Free": {"requests_per_day": 0, "tokens_per_day": 5, "colour": "red"}})
    assert len(errors) == 4  # name, limit, unknown key, no request limit left
