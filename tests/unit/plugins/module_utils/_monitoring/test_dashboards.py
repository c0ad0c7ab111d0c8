"""The dashboards: Grafana's JSON model, the sidecar's label, every panel a query; the tenant view's quota lines are
the tier table's limits per window. (That every query is valid PromQL returning series: tests/integration/
test_usage_report.py, against a real Prometheus.)"""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.tokenlabs.inference.plugins.filter.monitoring import grafana_dashboards
from ansible_collections.tokenlabs.inference.plugins.module_utils._monitoring import dashboards
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers.table import validate_tiers

TIERS = validate_tiers({
    "free": {"requests_per_minute": 10, "requests_per_day": 100, "tokens_per_minute": 5000, "tokens_per_day": 50000},
    "pro": {"requests_per_minute": 100, "tokens_per_minute": 50000, "tokens_per_hour": 400000},
})


def test_config_maps_carry_the_sidecar_label_folder_and_parseable_dashboards():
    maps = dashboards.config_maps(TIERS, "monitoring", {"release": "kps"}, "LLM")
    assert [m["metadata"]["name"] for m in maps] == ["token-labs-platform", "token-labs-tenant"]
    for config_map in maps:
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["labels"]["release"] == "kps"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "LLM", "k8s-sidecar-target-directory": "LLM"}
        (name, text), = config_map["data"].items()
        dashboard = json.loads(text)
        assert name == dashboard["uid"] + ".json"
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        for panel in dashboard["panels"]:
            assert panel["targets"] and all(t["expr"] and t["datasource"]["uid"] == "${datasource}"
                                            for t in panel["targets"]), panel["title"]
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_platform_view_reads_both_engines_per_model_and_the_gateway_per_tier():
    text = json.dumps(dashboards.platform_dashboard())
    for name in ("vllm:time_to_first_token_seconds_bucket", "sglang:time_to_first_token_seconds_bucket",
                 "vllm:inter_token_latency_seconds_bucket", "vllm:kv_cache_usage_perc", "vllm:num_requests_waiting",
                 "sglang:num_queue_reqs", "gen_ai_client_token_usage_sum", "limited_calls"):
        assert name in text, name
    titles = [title for title, _expr in dashboards.queries(dashboards.platform_dashboard())]
    assert "variable model" in titles and "429s/s per tier" in titles


def test_tenant_view_has_one_quota_panel_per_window_with_each_tiers_limit():
    dashboard = dashboards.tenant_dashboard(TIERS)
    panels = {panel["title"]: panel for panel in dashboard["panels"]}
    assert {"Tokens per minute against the quota", "Tokens per hour against the quota",
            "Tokens per day against the quota", "Requests per minute against the quota",
            "Requests per day against the quota"} <= set(panels)
    quota = panels["Tokens per minute against the quota"]["targets"][1]["expr"]
    assert 'tier="free"}) * 0 + 5000' in quota and 'tier="pro"}) * 0 + 50000' in quota
    hourly = panels["Tokens per hour against the quota"]["targets"]
    assert "[1h]" in hourly[0]["expr"] and 'tier="pro"}) * 0 + 400000' in hourly[1]["expr"]
    assert "free" not in hourly[1]["expr"]   # free has no hourly limit
    assert 'gen_ai_token_type="input"' in panels["Requests per day against the quota"]["targets"][0]["expr"]
    assert all('tenant="$tenant"' in expr for title, expr in dashboards.queries(dashboard)
               if not title.startswith("variable"))


def test_the_filter_validates_the_tier_table_first():
    maps = grafana_dashboards({"free": {"requests_per_minute": 1, "tokens_per_minute": 10}}, "ns")
    assert len(maps) == 2
    with pytest.raises(AnsibleFilterError, match="tokenlabs_tiers.free.tokens_per_minute"):
        grafana_dashboards({"free": {"requests_per_minute": 1, "tokens_per_minute": "x"}}, "ns")
