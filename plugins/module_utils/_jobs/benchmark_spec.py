# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The benchmark job's input: which models, the sweep, the cost model — checked before any load is sent.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    urlsplit = None

# The defaults reproduce the reference deployment's cost method (its CI workflow sets
# DGX_HARDWARE_COST_PER_HOUR=0.152 and DGX_ELECTRICITY_COST_PER_HOUR=0.02): a DGX Spark's
# price spread over three years of hours, plus its power draw at the electricity price.
DEFAULT_COST_MODEL = {
    "currency": "USD",
    "hardware_price": 3999.0,
    "amortisation_years": 3.0,
    "utilisation": 1.0,
    "power_draw_watts": 200.0,
    "electricity_price_per_kwh": 0.10,
}
COST_FIELDS = {
    "hardware_price": "price of one node (> 0)",
    "amortisation_years": "years the price is spread over (> 0)",
    "utilisation": "fraction of the hours the node serves load (0 < u <= 1)",
    "power_draw_watts": "the node's power draw under load in watts (>= 0)",
    "electricity_price_per_kwh": "electricity price per kWh (>= 0)",
}
SWEEP_FIELDS = ("concurrency", "prompt_tokens", "output_tokens")


class BenchmarkInputError(Exception):
    """Invalid benchmark input; ``errors`` lists every problem, each naming its field."""

    def __init__(self, errors):
        super(BenchmarkInputError, self).__init__("; ".join(errors))
        self.errors = list(errors)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_sweep(sweep):
    """Problems of the sweep lists: positive integers, at least one value each."""
    errors = []
    for field in SWEEP_FIELDS:
        values = sweep.get(field)
        if not isinstance(values, list) or not values:
            errors.append("%s: %r must be a non-empty list of positive integers" % (field, values))
            continue
        for value in values:
            if not _is_int(value) or value < 1:
                errors.append("%s: %r is not allowed; use integers >= 1 (e.g. [1, 4, 16])" % (field, value))
    for field in ("rounds",):
        value = sweep.get(field)
        if not _is_int(value) or value < 1:
            errors.append("%s: %r is not allowed; use an integer >= 1 (requests per level = concurrency x rounds)"
                          % (field, value))
    value = sweep.get("warmup_requests")
    if not _is_int(value) or value < 0:
        errors.append("warmup_requests: %r is not allowed; use an integer >= 0" % (value,))
    return errors


def cost_model(given):
    """The cost model with defaults filled in, or BenchmarkInputError naming each bad field."""
    model = dict(DEFAULT_COST_MODEL)
    errors = []
    for key, value in (given or {}).items():
        if key not in DEFAULT_COST_MODEL:
            errors.append("cost.%s: unknown field; allowed: %s" % (key, ", ".join(sorted(DEFAULT_COST_MODEL))))
            continue
        model[key] = value
    for key, what in COST_FIELDS.items():
        value = model[key]
        if not _is_number(value):
            errors.append("cost.%s: %r is not a number; expected %s" % (key, value, what))
            continue
        low_ok = value >= 0 if key in ("power_draw_watts", "electricity_price_per_kwh") else value > 0
        if not low_ok or (key == "utilisation" and value > 1):
            errors.append("cost.%s: %r is not allowed; expected %s" % (key, value, what))
    if not isinstance(model["currency"], str) or not model["currency"]:
        errors.append("cost.currency: %r must be a currency name such as USD" % (model["currency"],))
    if errors:
        raise BenchmarkInputError(errors)
    return model


def check_gateway_url(url):
    """Problem of the gateway URL (scheme http/https and a host), or None."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return ("gateway_url: %r is not allowed; use the Gateway's base URL such as http://inference.example.com "
                "or https://10.0.0.5:8443 (no /v1 path)" % (url,))
    if parts.path.rstrip("/").endswith("/v1"):
        return "gateway_url: %r ends with /v1; give the base URL, the job adds /v1/chat/completions" % (url,)
    return None


def check_threshold(value):
    if not _is_number(value) or not 0 < value < 100:
        return "regression_threshold: %r is not allowed; use a percentage between 0 and 100 (e.g. 10)" % (value,)
    return None


def levels(sweep):
    """Every (prompt_tokens, output_tokens, concurrency) of the sweep, in run order."""
    return [(prompt, output, concurrency)
            for prompt in sweep["prompt_tokens"]
            for output in sweep["output_tokens"]
            for concurrency in sorted(set(sweep["concurrency"]))]


def plan(models, sweep):
    """What the job will send: per model, the levels and request counts."""
    shape = []
    for model in models:
        runs = [{"prompt_tokens": p, "output_tokens": o, "concurrency": c, "requests": c * sweep["rounds"]}
                for p, o, c in levels(sweep)]
        shape.append({"model": model["id"], "name": model["name"], "levels": runs,
                      "requests": sweep["warmup_requests"] + sum(r["requests"] for r in runs)})
    return shape
