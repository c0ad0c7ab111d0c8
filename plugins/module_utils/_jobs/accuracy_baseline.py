# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Accuracy baselines: one JSON file per model, checked, compared with an lm-eval run, recorded anew.

Private to this collection (not an API for other collections; it may change
without notice).

A baseline file ``<baseline_dir>/<model name>.json``::

    {"model": "meta-llama/Llama-3.1-8B-Instruct", "task": "ifeval", "samples": 541,
     "harness": "lm-eval 0.4.13", "recorded": "2026-12-02T03:15:00Z",
     "metrics": {"prompt_level_strict_acc": 0.74, "inst_level_strict_acc": 0.82, ...}}

A run passes when every baseline metric lies within ``tolerance_percent`` of the
baseline value, relative to it (the reference deployment's +-5 %): 0.74 +- 5 % is
0.703 .. 0.777. Above the band fails as well — the model changed; record a new
baseline when that is expected.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os

IFEVAL_METRICS = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
                  "inst_level_loose_acc")
RESULT_FILTER = "none"


class BaselineError(Exception):
    """A baseline or result that cannot be used; ``errors`` names each problem."""

    def __init__(self, errors):
        super(BaselineError, self).__init__("; ".join(errors))
        self.errors = list(errors)


def baseline_path(baseline_dir, model):
    return os.path.join(baseline_dir, model["name"] + ".json")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_problems(where, metrics):
    """Why ``metrics`` cannot be a baseline: missing, not numbers in (0, 1], or all zero."""
    if not isinstance(metrics, dict) or not metrics:
        return ["%s: 'metrics' must map metric names (e.g. %s) to scores in (0, 1]" % (where, IFEVAL_METRICS[0])]
    values = list(metrics.values())
    if all(_is_number(v) and v == 0 for v in values):
        return ["%s: every metric is 0 - a baseline of zeros accepts any model; record a real one with "
                "accuracy_record_baseline=true" % where]
    problems = []
    for name, value in sorted(metrics.items()):
        if not _is_number(value) or not 0 < value <= 1:
            problems.append("%s: metric %s is %r; a baseline score must be a number in (0, 1]" % (where, name, value))
    return problems


def load_baseline(path, model, task):
    """The baseline of ``model`` for ``task``; BaselineError naming the file and field otherwise."""
    if not os.path.isfile(path):
        raise BaselineError(["%s: no baseline for model %s (%s); record one with accuracy_record_baseline=true and "
                             "commit it" % (path, model["name"], model["id"])])
    try:
        with open(path) as handle:
            baseline = json.load(handle)
    except ValueError as exc:
        raise BaselineError(["%s: not valid JSON (%s)" % (path, exc)])
    if not isinstance(baseline, dict):
        raise BaselineError(["%s: a baseline is a JSON object with model, task, samples and metrics" % path])
    errors = []
    if baseline.get("model") != model["id"]:
        errors.append("%s: model is %r, expected %r (the catalog's id for %s)" % (
            path, baseline.get("model"), model["id"], model["name"]))
    if baseline.get("task") != task:
        errors.append("%s: task is %r, this run evaluates %r" % (path, baseline.get("task"), task))
    samples = baseline.get("samples")
    if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 1):
        errors.append("%s: samples is %r; use the number of evaluated prompts (>= 1) or leave it out" % (
            path, samples))
    errors += metric_problems(path, baseline.get("metrics"))
    if errors:
        raise BaselineError(errors)
    return baseline


def read_results(model_dir, task):
    """(scores, samples, file) of the newest lm-eval results file under ``model_dir`` for ``task``."""
    found = sorted(glob.glob(os.path.join(model_dir, "**", "results_*.json"), recursive=True),
                   key=os.path.getmtime)
    if not found:
        raise BaselineError(["%s: lm-eval wrote no results_*.json" % model_dir])
    with open(found[-1]) as handle:
        data = json.load(handle)
    task_results = (data.get("results") or {}).get(task)
    if not task_results:
        raise BaselineError(["%s: no results for task %s" % (found[-1], task)])
    scores = {}
    for key, value in task_results.items():
        name, _sep, filt = key.partition(",")
        if filt == RESULT_FILTER and not name.endswith("_stderr") and _is_number(value):
            scores[name] = float(value)
    samples = ((data.get("n-samples") or {}).get(task) or {}).get("effective")
    return scores, samples, found[-1]


def compare(scores, samples, baseline, tolerance_percent):
    """Rows (metric, baseline, low, high, score, status) and whether all passed."""
    rows = []
    for name, base in sorted(baseline["metrics"].items()):
        low = base * (1 - tolerance_percent / 100.0)
        high = base * (1 + tolerance_percent / 100.0)
        score = scores.get(name)
        if score is None:
            status = "missing"
        elif score < low:
            status = "below"
        elif score > high:
            status = "above"
        else:
            status = "ok"
        rows.append({"metric": name, "baseline": base, "low": round(low, 4), "high": round(high, 4),
                     "score": score, "status": status})
    comparable = baseline.get("samples") in (None, samples)
    if not comparable:
        rows.append({"metric": "samples", "baseline": baseline["samples"], "low": baseline["samples"],
                     "high": baseline["samples"], "score": samples, "status": "not comparable"})
    return rows, all(row["status"] == "ok" for row in rows)


def table(model, rows):
    """The per-metric table of one model, as lines of text."""
    lines = ["%s:" % model["id"],
             "  %-24s %9s %17s %9s  %s" % ("metric", "baseline", "allowed", "score", "status")]
    for row in rows:
        score = "n/a" if row["score"] is None else "%.4f" % row["score"]
        lines.append("  %-24s %9.4f %8.4f..%-7.4f %9s  %s" % (row["metric"], row["baseline"], row["low"],
                                                              row["high"], score, row["status"]))
    return lines


def new_baseline(model, task, scores, samples, harness, recorded):
    """The baseline a run records (only the metrics of the task); refuses zeros."""
    metrics = dict((name, round(scores[name], 4)) for name in IFEVAL_METRICS if name in scores) if task.startswith(
        "ifeval") else dict((name, round(value, 4)) for name, value in scores.items())
    problems = metric_problems("run of %s" % model["id"], metrics)
    if problems:
        raise BaselineError(problems)
    return {"model": model["id"], "task": task, "samples": samples, "harness": harness, "recorded": recorded,
            "metrics": metrics}
