# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The metering check: per model and period, the tokens the gateway counted against the tokens the engines report.

Private to this collection (not an API for other collections; it may change
without notice). ``docs/dev/usage-metrics.md`` cites each metric.

- gateway tokens: the AI Gateway's ``gen_ai_client_token_usage_sum`` (input + output) by ``gen_ai_request_model``;
- gateway requests: its ``gen_ai_server_request_duration_seconds_count`` (every request, with or without usage);
- engine tokens: vLLM's ``vllm:prompt_tokens_total`` + ``vllm:generation_tokens_total`` (SGLang's ``sglang:``
  equivalents) by ``model_name`` -- the engines count every token, whatever the client asked for;
- engine requests: ``vllm:request_success_total`` (SGLang ``sglang:num_requests_total``).

A gap beyond the threshold gets its likely cause: the engines served requests the gateway never saw (traffic
bypassing it), or the gateway saw them but counted fewer tokens (streams without ``usage``: the known upstream
undercount), or the gateway counted more (an engine not scraped or restarted between scrapes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.source import (
    USAGE_SOURCE_ARG_SPEC, check_source, prometheus_of, today_utc)
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.prometheus import PrometheusError

ARG_SPEC = dict(USAGE_SOURCE_ARG_SPEC, **{
    "threshold_percent": {"type": "float", "default": 2.0},
    "fail_on_gap": {"type": "bool", "default": False},
})

ENGINE_TOKENS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                 "sglang:prompt_tokens_total", "sglang:generation_tokens_total")
ENGINE_REQUESTS = ("vllm:request_success_total", "sglang:num_requests_total")
BYPASS = ("traffic bypassing the gateway: the engines served %d request(s) the gateway never saw (calls to the "
          "model Service or pods directly)")
NO_USAGE = ("streams without usage: the gateway passed the requests but counted %d token(s) fewer than the engines "
            "served (a stream without stream_options.include_usage -- the known upstream undercount, e.g. streamed "
            "/v1/completions on SGLang or TRT-LLM)")
OVER = ("the gateway counted %d token(s) more than the engines report: an engine not scraped, or restarted between "
        "two scrapes")


def queries(seconds):
    """``{number: [PromQL, ...]}`` of the period's increase (``seconds`` long, evaluated at its end); a number's
    queries are added per model (one per engine counter: ``increase`` drops the name, so they cannot share one)."""
    return {
        "gateway_tokens": ['sum by (gen_ai_request_model) (increase(gen_ai_client_token_usage_sum'
                           '{gen_ai_token_type=~"input|output"}[%ds]))' % seconds],
        "gateway_requests": ["sum by (gen_ai_request_model) (increase(gen_ai_server_request_duration_seconds_count"
                             "[%ds]))" % seconds],
        "engine_tokens": ["sum by (model_name) (increase(%s[%ds]))" % (name, seconds) for name in ENGINE_TOKENS],
        "engine_requests": ["sum by (model_name) (increase(%s[%ds]))" % (name, seconds) for name in ENGINE_REQUESTS],
    }


def compare(numbers, threshold):
    """``numbers``: ``{number: {model: value}}``. One row per model: the four numbers, the gap and its cause."""
    models = sorted(set(m for values in numbers.values() for m in values))
    rows = []
    for model in models:
        row = dict((k, int(round(numbers[k].get(model, 0)))) for k in sorted(numbers))
        row["model"] = model
        gap = row["engine_tokens"] - row["gateway_tokens"]
        row["gap_tokens"] = gap
        row["gap_percent"] = round(100.0 * gap / row["engine_tokens"], 2) if row["engine_tokens"] else None
        if row["gap_percent"] is None:   # the engines report nothing: a gap if the gateway counted anything
            flagged = row["gateway_tokens"] > 0
        else:
            flagged = abs(row["gap_percent"]) > threshold
        row["flagged"], row["likely_cause"] = flagged, None
        if flagged:
            unseen = row["engine_requests"] - row["gateway_requests"]
            if gap < 0 or not row["engine_tokens"]:
                row["likely_cause"] = OVER % -gap
            elif unseen > threshold / 100.0 * row["engine_requests"]:
                row["likely_cause"] = BYPASS % unseen
            else:
                row["likely_cause"] = NO_USAGE % gap
        rows.append(row)
    return rows


def build(params, prometheus, today):
    """``(result, errors)``."""
    period, errors = check_source(params, today)
    if not 0 < params["threshold_percent"] < 100:
        errors.append("threshold_percent: %r is not allowed; use a percentage between 0 and 100 (e.g. 2)"
                      % (params["threshold_percent"],))
    if errors:
        return None, errors
    numbers = {}
    try:
        prometheus.ready()
        for number, promql in queries(period.end - period.start).items():
            label = "gen_ai_request_model" if number.startswith("gateway") else "model_name"
            totals = numbers.setdefault(number, {})
            for query in promql:
                for labels, value in prometheus.instant(query, period.end):
                    model = labels.get(label, "")
                    totals[model] = totals.get(model, 0) + value
    except PrometheusError as exc:
        return None, [str(exc)]
    rows = compare(numbers, params["threshold_percent"])
    if not rows:
        return None, ["no token counts in %s..%s at %s: neither the gateway nor an engine reported any"
                      % (period.first, period.last, params["prometheus_url"])]
    return {"period": period.as_dict(), "models": rows, "gaps": [r for r in rows if r["flagged"]]}, []


def run(module, today=None):
    result, errors = build(module.params, prometheus_of(module.params), today or today_utc())
    if errors:
        module.fail_json(msg="Metering check not done: " + "; ".join(errors), errors=errors)
    gaps = result["gaps"]
    summary = "%s: %d model(s), %d gap(s) beyond %s %%%s" % (
        result["period"]["label"], len(result["models"]), len(gaps), module.params["threshold_percent"],
        "".join("; %s: %s %% (%s)" % (g["model"], g["gap_percent"], g["likely_cause"]) for g in gaps))
    if gaps and module.params["fail_on_gap"]:
        module.fail_json(msg="Metering gap: " + summary, **result)
    module.exit_json(changed=False, summary=summary, **result)
