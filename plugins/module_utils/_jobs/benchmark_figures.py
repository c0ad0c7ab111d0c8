# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The benchmark's figures from timed requests, and the cost per million tokens.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.

Definitions (docs/benchmark.md shows a worked example):

- ``ttft_ms``: time to first token, request start to the first content chunk.
- ``itl_ms``: inter-token latency, (last chunk - first chunk) / (completion_tokens - 1).
- ``prefill_tokens_per_s``: per request prompt_tokens / TTFT, averaged (at concurrency 1 the
  engine's prefill speed; under load TTFT includes queueing).
- ``decode_tokens_per_s``: all completion tokens of the level / its wall time (the node's output
  throughput at that concurrency).
- ``cost_per_hour`` = hardware_price / (amortisation_years x 8760 h x utilisation)
  + power_draw_watts / 1000 x electricity_price_per_kwh.
- cost per 1M input tokens = cost_per_hour / (prefill_tokens_per_s x 3600 / 10^6); cost per 1M
  output tokens = cost_per_hour / (decode_tokens_per_s x 3600 / 10^6) — the whole node's hour
  charged to one kind of token, as the reference deployment computes it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

HOURS_PER_YEAR = 8760.0
PERCENTILES = (50, 90, 99)
MILLION = 1e6


def percentile(values, pct):
    """Linear-interpolated percentile (the numpy default) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values, scale=1.0):
    """mean and p50/p90/p99 of ``values`` times ``scale``, rounded to 0.01."""
    if not values:
        return None
    scaled = [v * scale for v in values]
    summary = {"mean": round(sum(scaled) / len(scaled), 2)}
    for pct in PERCENTILES:
        summary["p%d" % pct] = round(percentile(scaled, pct), 2)
    return summary


def cost_per_hour(cost):
    hardware = cost["hardware_price"] / (cost["amortisation_years"] * HOURS_PER_YEAR * cost["utilisation"])
    electricity = cost["power_draw_watts"] / 1000.0 * cost["electricity_price_per_kwh"]
    return {"hardware": hardware, "electricity": electricity, "total": hardware + electricity}


def cost_per_million(hourly, tokens_per_s):
    """Cost of one million tokens at ``tokens_per_s`` when the node costs ``hourly`` per hour."""
    if not tokens_per_s:
        return None
    return hourly / (tokens_per_s * 3600.0 / MILLION)


def level_figures(results, wall, hourly):
    """Figures of one level from its RequestResults and wall time; ``hourly``: the node's cost per hour."""
    done = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    figures = {"requests": len(results), "failed_requests": len(failed),
               "errors": sorted(set(r.error for r in failed))[:5], "duration_s": round(wall, 3)}
    if not done or wall <= 0:
        return figures
    itls = [r.decode_time / (r.completion_tokens - 1) for r in done if r.completion_tokens > 1]
    decode_per_request = [(r.completion_tokens - 1) / r.decode_time for r in done
                          if r.completion_tokens > 1 and r.decode_time > 0]
    prefill = [r.prompt_tokens / r.ttft for r in done if r.ttft > 0]
    completion = sum(r.completion_tokens for r in done)
    prompt = sum(r.prompt_tokens for r in done)
    figures.update({
        "requests_per_s": round(len(done) / wall, 3),
        "prompt_tokens_mean": round(prompt / float(len(done)), 1),
        "completion_tokens_mean": round(completion / float(len(done)), 1),
        "ttft_ms": distribution([r.ttft for r in done], 1000.0),
        "itl_ms": distribution(itls, 1000.0),
        "prefill_tokens_per_s": round(sum(prefill) / len(prefill), 1) if prefill else None,
        "decode_tokens_per_s": round(completion / wall, 1),
        "decode_tokens_per_s_per_request": (round(sum(decode_per_request) / len(decode_per_request), 1)
                                            if decode_per_request else None),
        "input_tokens_per_s": round(prompt / wall, 1),
    })
    input_cost = cost_per_million(hourly, figures["prefill_tokens_per_s"])
    output_cost = cost_per_million(hourly, figures["decode_tokens_per_s"])
    figures["cost_per_million_input_tokens"] = round(input_cost, 6) if input_cost is not None else None
    figures["cost_per_million_output_tokens"] = round(output_cost, 6) if output_cost is not None else None
    return figures


def headline(levels):
    """The level with the highest decode throughput (what the report's summary line quotes)."""
    measured = [lv for lv in levels if lv.get("decode_tokens_per_s")]
    if not measured:
        return None
    return max(measured, key=lambda lv: lv["decode_tokens_per_s"])
