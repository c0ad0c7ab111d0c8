# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The benchmark's results on the controller: a JSON record per run, its Markdown summary, the comparison.

Private to this collection (not an API for other collections; it may change
without notice).

Files in the results directory, per run ``<run_id>`` (UTC, e.g. 20261202T031500Z):
``benchmark-<run_id>.json`` (the record), ``benchmark-<run_id>.md`` (the summary) and
``benchmark-<run_id>.png`` (the chart, benchmark_chart). A run compares itself with an
earlier record: tok/s that fell by more than the threshold are regressions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

RECORD_PREFIX = "benchmark-"
RECORD_FORMAT = 1
COMPARED_FIGURES = ("decode_tokens_per_s", "prefill_tokens_per_s")


def record_path(results_dir, run_id, suffix):
    return os.path.join(results_dir, "%s%s.%s" % (RECORD_PREFIX, run_id, suffix))


def earlier_records(results_dir, run_id):
    """Record files of earlier runs in ``results_dir``, oldest first (run ids sort by time)."""
    found = sorted(glob.glob(os.path.join(results_dir, RECORD_PREFIX + "*.json")))
    return [path for path in found if os.path.basename(path) < os.path.basename(record_path("", run_id, "json"))]


def load_record(path):
    with open(path) as handle:
        record = json.load(handle)
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or "models" not in record:
        raise ValueError("%s is not a benchmark record of this collection (format %s)" % (path, RECORD_FORMAT))
    return record


def level_key(level):
    return (level["prompt_tokens"], level["output_tokens"], level["concurrency"])


def compare(record, earlier, threshold):
    """Regressions of ``record`` against the ``earlier`` record: figures lower by more than ``threshold`` %."""
    before = {}
    for model in earlier.get("models", []):
        for level in model.get("levels", []):
            before[(model["id"],) + level_key(level)] = level
    regressions = []
    for model in record["models"]:
        for level in model.get("levels", []):
            old = before.get((model["id"],) + level_key(level))
            if not old:
                continue
            for figure in COMPARED_FIGURES:
                then, now = old.get(figure), level.get(figure)
                if not then or now is None:
                    continue
                change = (now - then) / then * 100.0
                if change < -threshold:
                    regressions.append({
                        "model": model["id"], "figure": figure, "prompt_tokens": level["prompt_tokens"],
                        "output_tokens": level["output_tokens"], "concurrency": level["concurrency"],
                        "before": then, "after": now, "change_percent": round(change, 1)})
    return regressions


def _money(value, currency):
    return "n/a" if value is None else "%.4f %s" % (value, currency)


def _dist(value, key):
    return "n/a" if not value else "%.1f" % value[key]


def _num(value):
    return "n/a" if value is None else "%.1f" % value


def markdown(record):
    """The run's summary for people: settings, cost arithmetic, one table per model, regressions."""
    cost = record["cost_model"]
    hourly = record["cost_per_hour"]
    currency = cost["currency"]
    lines = [
        "# Benchmark %s" % record["run_id"], "",
        "- gateway: %s" % record["gateway_url"],
        "- started %s, finished %s" % (record["started"], record["finished"]),
        "- client: httpx %s, streamed chat completions, usage from the stream; %d request(s) per level and "
        "concurrency (rounds), %d warm-up request(s) per model" % (
            record["client"]["httpx"], record["settings"]["rounds"], record["settings"]["warmup_requests"]),
        "- extra request fields: %s" % json.dumps(record["settings"]["extra_body"], sort_keys=True), "",
        "## Cost model", "",
        "cost per hour = %.2f / (%.2f years x 8760 h x %.2f utilisation) + %.0f W / 1000 x %.4f per kWh"
        " = %.5f + %.5f = **%.5f %s/h**" % (
            cost["hardware_price"], cost["amortisation_years"], cost["utilisation"], cost["power_draw_watts"],
            cost["electricity_price_per_kwh"], hourly["hardware"], hourly["electricity"], hourly["total"],
            currency), "",
        "per 1M input tokens = cost per hour / (prefill tok/s x 3600 / 10^6); per 1M output tokens = cost per "
        "hour / (decode tok/s x 3600 / 10^6).", ""]
    for model in record["models"]:
        lines += ["## %s" % model["id"], "",
                  "engine %s, image `%s`, node %s, gpu_memory_share %s" % (
                      model.get("engine"), model.get("image"), model.get("node"), model.get("gpu_memory_share")),
                  ""]
        if model.get("error"):
            lines += ["**Not completed:** %s" % model["error"], ""]
        best = model.get("headline")
        if best:
            lines += ["Best decode throughput: **%s tok/s** at concurrency %d (prompt %d, output %d); "
                      "%s per 1M input, %s per 1M output tokens." % (
                          _num(best["decode_tokens_per_s"]), best["concurrency"], best["prompt_tokens"],
                          best["output_tokens"], _money(best["cost_per_million_input_tokens"], currency),
                          _money(best["cost_per_million_output_tokens"], currency)), ""]
        lines += ["| prompt (measured) | output | concurrency | req/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | prefill tok/s "
                  "| decode tok/s | per 1M in | per 1M out | failed |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for lv in model.get("levels", []):
            lines.append("| %d (%s) | %d | %d | %s | %s / %s | %s / %s | %s | %s | %s | %s | %d |" % (
                lv["prompt_tokens"], _num(lv.get("prompt_tokens_mean")), lv["output_tokens"], lv["concurrency"], _num(lv.get("requests_per_s")),
                _dist(lv.get("ttft_ms"), "p50"), _dist(lv.get("ttft_ms"), "p99"),
                _dist(lv.get("itl_ms"), "p50"), _dist(lv.get("itl_ms"), "p99"),
                _num(lv.get("prefill_tokens_per_s")), _num(lv.get("decode_tokens_per_s")),
                _money(lv.get("cost_per_million_input_tokens"), currency),
                _money(lv.get("cost_per_million_output_tokens"), currency), lv.get("failed_requests", 0)))
        lines.append("")
    lines += ["## Comparison", ""]
    if not record.get("compared_with"):
        lines += ["No earlier record to compare with.", ""]
    elif not record["regressions"]:
        lines += ["Compared with %s: no figure fell by more than %s %%." % (
            record["compared_with"], record["settings"]["regression_threshold"]), ""]
    else:
        lines += ["Compared with %s: **%d regression(s)** beyond %s %%." % (
            record["compared_with"], len(record["regressions"]), record["settings"]["regression_threshold"]), "",
            "| model | figure | prompt | output | concurrency | before | after | change |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
        for reg in record["regressions"]:
            lines.append("| %s | %s | %d | %d | %d | %s | %s | %s %% |" % (
                reg["model"], reg["figure"], reg["prompt_tokens"], reg["output_tokens"], reg["concurrency"],
                _num(reg["before"]), _num(reg["after"]), reg["change_percent"]))
        lines.append("")
    return "\n".join(lines)


def regression_lines(regressions):
    return ["%s %s at prompt %d / output %d / concurrency %d: %s -> %s tok/s (%s %%)" % (
        r["model"], r["figure"], r["prompt_tokens"], r["output_tokens"], r["concurrency"], r["before"], r["after"],
        r["change_percent"]) for r in regressions]


def summary_lines(record, files):
    """A few lines for the job's output: per model its best level, then the files and the comparison."""
    currency = record["cost_model"]["currency"]
    lines = []
    for model in record["models"]:
        best = model.get("headline")
        if best:
            lines.append("%s: %s decode tok/s at concurrency %d (prompt %d, output %d), TTFT p50 %s ms, ITL p50 %s ms, "
                         "%s / %s per 1M input / output tokens" % (
                             model["id"], _num(best["decode_tokens_per_s"]), best["concurrency"],
                             best["prompt_tokens"], best["output_tokens"], _dist(best.get("ttft_ms"), "p50"),
                             _dist(best.get("itl_ms"), "p50"), _money(best["cost_per_million_input_tokens"], currency),
                             _money(best["cost_per_million_output_tokens"], currency)))
        if model.get("error"):
            lines.append("%s: not completed: %s" % (model["id"], model["error"]))
    lines.append("record %s, summary %s, chart %s" % (files["record"], files["summary"], files["chart"]))
    if record.get("compared_with"):
        lines.append("compared with %s: %d regression(s)" % (record["compared_with"], len(record["regressions"])))
    return lines
