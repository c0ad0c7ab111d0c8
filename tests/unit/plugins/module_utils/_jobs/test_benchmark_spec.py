"""Every bad benchmark input is named with its field, value and what is allowed."""

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_spec as spec

CATALOG = [{"id": "meta-llama/Llama-3.1-8B-Instruct", "name": "llama-3-1-8b"}]
SWEEP = {"concurrency": [1, 4], "prompt_tokens": [128], "output_tokens": [16, 32], "rounds": 2, "warmup_requests": 1}


@pytest.mark.parametrize("field,value,fragment", [
    ("concurrency", [0], "concurrency: 0 is not allowed; use integers >= 1"),
    ("concurrency", [], "concurrency: [] must be a non-empty list"),
    ("prompt_tokens", ["x"], "prompt_tokens: 'x' is not allowed"),
    ("output_tokens", [True], "output_tokens: True is not allowed"),
    ("rounds", 0, "rounds: 0 is not allowed"),
    ("warmup_requests", -1, "warmup_requests: -1 is not allowed"),
])
def test_sweep_errors(field, value, fragment):
    errors = spec.check_sweep(dict(SWEEP, **{field: value}))
    assert len(errors) == 1 and errors[0].startswith(fragment), errors


@pytest.mark.parametrize("given,fragment", [
    ({"utilisation": 0}, "cost.utilisation: 0 is not allowed; expected fraction"),
    ({"utilisation": 1.5}, "cost.utilisation: 1.5 is not allowed"),
    ({"hardware_price": "cheap"}, "cost.hardware_price: 'cheap' is not a number"),
    ({"power_draw_watts": -1}, "cost.power_draw_watts: -1 is not allowed"),
    ({"price": 1}, "cost.price: unknown field; allowed: amortisation_years"),
])
def test_cost_errors(given, fragment):
    with pytest.raises(spec.BenchmarkInputError) as exc:
        spec.cost_model(given)
    assert exc.value.errors[0].startswith(fragment), exc.value.errors


@pytest.mark.parametrize("url,ok", [("http://inference.example", True), ("https://10.0.0.5:8443/", True),
                                    ("inference.example", False), ("ftp://x", False), ("http://x/v1", False)])
def test_gateway_url(url, ok):
    assert (spec.check_gateway_url(url) is None) is ok


def test_plan_counts_requests():
    shape = spec.plan(CATALOG[:1], SWEEP)
    assert [(lv["output_tokens"], lv["concurrency"], lv["requests"]) for lv in shape[0]["levels"]] == [
        (16, 1, 2), (16, 4, 8), (32, 1, 2), (32, 4, 8)]
    assert shape[0]["requests"] == 21
    assert spec.check_threshold(0) and spec.check_threshold(100) and spec.check_threshold(10) is None
