"""The PromQL of each number: the upstream metric names and the tenant/tier labels, filtered by tenant."""

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import metrics


def test_daily_queries_name_the_upstream_series():
    assert metrics.daily("input") == ('sum by (tenant, tier) (increase(gen_ai_client_token_usage_sum'
                                      '{tenant!="",gen_ai_token_type="input"}[1d]))')
    assert "gen_ai_client_token_usage_count{" in metrics.daily("requests")
    assert metrics.daily("throttled", ["acme", "beta"]) == \
        'sum by (tenant, tier) (increase(limited_calls{tenant!="",tenant=~"acme|beta"}[1d]))'
    with pytest.raises(ValueError):
        metrics.daily("authorized_hits")


def test_peak_is_the_largest_one_minute_increase_over_the_period():
    query = metrics.peak_per_minute(86400)
    assert query.startswith("max by (tenant) (max_over_time((sum by (tenant) (") and query.endswith("[86400s:1m]))")
    assert " offset 1m" in query
