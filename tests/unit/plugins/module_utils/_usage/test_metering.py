"""The metering check: gateway against engine tokens per model, the gap's likely cause, the threshold."""

from datetime import date

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import metering

from .fake_prometheus import FakePrometheus


def numbers(gateway_tokens, engine_tokens, gateway_requests, engine_requests):
    return {"gateway_tokens": {"m": gateway_tokens}, "engine_tokens": {"m": engine_tokens},
            "gateway_requests": {"m": gateway_requests}, "engine_requests": {"m": engine_requests}}


def test_queries_read_the_upstream_counters_over_the_period():
    queries = metering.queries(86400)
    assert queries["gateway_tokens"] == ['sum by (gen_ai_request_model) (increase(gen_ai_client_token_usage_sum'
                                         '{gen_ai_token_type=~"input|output"}[86400s]))']
    assert queries["engine_tokens"] == ["sum by (model_name) (increase(%s[86400s]))" % name for name in (
        "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "sglang:prompt_tokens_total",
        "sglang:generation_tokens_total")]
    assert queries["engine_requests"][1] == "sum by (model_name) (increase(sglang:num_requests_total[86400s]))"


def test_within_the_threshold_nothing_is_flagged():
    (row,) = metering.compare(numbers(990, 1000, 10, 10), 2.0)
    assert (row["model"], row["gap_tokens"], row["gap_percent"], row["flagged"], row["likely_cause"]) == (
        "m", 10, 1.0, False, None)


def test_requests_the_gateway_never_saw_are_traffic_bypassing_it():
    (row,) = metering.compare(numbers(800, 1000, 8, 10), 2.0)
    assert row["flagged"] and row["likely_cause"].startswith("traffic bypassing the gateway: the engines served 2 ")


def test_requests_seen_with_fewer_tokens_are_streams_without_usage():
    (row,) = metering.compare(numbers(800, 1000, 10, 10), 2.0)
    assert row["flagged"] and row["likely_cause"].startswith("streams without usage: the gateway passed the requests "
                                                             "but counted 200 token(s) fewer")


def test_the_gateway_counting_more_points_at_the_engine_metrics():
    (row,) = metering.compare(numbers(1000, 0, 10, 0), 2.0)
    assert row["flagged"] and row["gap_percent"] is None and row["likely_cause"].startswith("the gateway counted 1000")


def test_build_refuses_bad_thresholds_and_empty_periods():
    params = {"prometheus_url": "http://p:9090", "prometheus_token": None, "validate_certs": True, "timeout": 5,
              "month": "2026-11", "first_day": None, "last_day": None, "threshold_percent": 0.0, "fail_on_gap": False}
    fake = FakePrometheus()
    assert metering.build(params, fake, date(2026, 12, 4))[1] == [
        "threshold_percent: 0.0 is not allowed; use a percentage between 0 and 100 (e.g. 2)"] and fake.queries == []
    params["threshold_percent"] = 2.0
    assert metering.build(params, fake, date(2026, 12, 4))[1][0].startswith("no token counts in 2026-11-01..2026-11-30")
