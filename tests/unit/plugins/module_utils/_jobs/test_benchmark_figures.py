"""Figures and the cost model, with the worked example of docs/benchmark.md."""

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_figures as figures
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_spec as spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs.benchmark_load import RequestResult


def result(ttft, decode_time, prompt, completion):
    r = RequestResult()
    r.ok, r.ttft, r.decode_time, r.prompt_tokens, r.completion_tokens = True, ttft, decode_time, prompt, completion
    r.duration = ttft + decode_time
    return r


def test_worked_cost_example_with_the_default_cost_model():
    hourly = figures.cost_per_hour(spec.cost_model({}))
    assert hourly["hardware"] == pytest.approx(3999 / (3 * 8760), rel=1e-9)  # 0.15217 per hour
    assert hourly["electricity"] == pytest.approx(0.02)
    assert hourly["total"] == pytest.approx(0.172169, abs=1e-6)
    # The reference deployment's headline throughput: prefill 3,203 tok/s, decode 520 tok/s.
    assert figures.cost_per_million(hourly["total"], 3203) == pytest.approx(0.014931, abs=1e-6)
    assert figures.cost_per_million(hourly["total"], 520) == pytest.approx(0.091971, abs=1e-6)


def test_the_reference_readme_figures_follow_from_its_hourly_cost():
    # Its README quotes 0.006 / 0.037 per 1M tokens at ~0.07 per hour: the same method.
    assert round(figures.cost_per_million(0.07, 3203), 3) == 0.006
    assert round(figures.cost_per_million(0.07, 520), 3) == 0.037


def test_cost_model_with_utilisation_and_own_prices():
    model = spec.cost_model({"hardware_price": 4380, "amortisation_years": 1, "utilisation": 0.5,
                             "power_draw_watts": 1000, "electricity_price_per_kwh": 0.3, "currency": "EUR"})
    hourly = figures.cost_per_hour(model)
    assert hourly == {"hardware": pytest.approx(1.0), "electricity": pytest.approx(0.3), "total": pytest.approx(1.3)}


def test_level_figures():
    results = [result(0.1, 1.9, 400, 20), result(0.3, 1.9, 400, 20)]
    lv = figures.level_figures(results, 2.2, 0.36)
    assert lv["requests_per_s"] == pytest.approx(0.909, abs=1e-3)
    assert lv["ttft_ms"] == {"mean": 200.0, "p50": 200.0, "p90": 280.0, "p99": 298.0}
    assert lv["itl_ms"]["p50"] == 100.0
    assert lv["prefill_tokens_per_s"] == pytest.approx((4000 + 400 / 0.3) / 2, abs=0.1)
    assert lv["decode_tokens_per_s"] == pytest.approx(40 / 2.2, abs=0.1)
    assert lv["decode_tokens_per_s_per_request"] == 10.0
    assert lv["cost_per_million_output_tokens"] == pytest.approx(0.36 / (lv["decode_tokens_per_s"] * 3600 / 1e6),
                                                                 rel=1e-6)
    assert lv["failed_requests"] == 0


def test_failed_requests_are_counted_not_measured():
    bad = RequestResult()
    bad.error = "HTTP 429: too many"
    lv = figures.level_figures([bad], 1.0, 0.1)
    assert lv["failed_requests"] == 1 and lv["errors"] == ["HTTP 429: too many"] and "decode_tokens_per_s" not in lv


def test_percentile_matches_linear_interpolation():
    assert figures.percentile([1, 2, 3, 4], 50) == 2.5
    assert figures.percentile([5], 99) == 5
    assert figures.headline([{"decode_tokens_per_s": 3}, {"decode_tokens_per_s": 9}, {}]) == {"decode_tokens_per_s": 9}
