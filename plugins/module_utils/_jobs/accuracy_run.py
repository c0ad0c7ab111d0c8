# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The run of the accuracy_baseline module: check the baselines, compare a run with them, or record new ones.

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import accuracy_baseline as baseline
from ansible_collections.tokenlabs.inference.plugins.module_utils import _files as json_files
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import model_selection as selection
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation

ARG_SPEC = dict(selection.MODEL_SELECTION_ARG_SPEC, **{
    "baseline_dir": {"type": "path", "required": True},
    "results_dir": {"type": "path"},
    "task": {"type": "str", "default": "ifeval"},
    "tolerance_percent": {"type": "raw", "default": 5},
    "samples": {"type": "raw"},
    "record": {"type": "bool", "default": False},
    "harness": {"type": "str", "default": "lm-eval"},
})


def _validate(params):
    errors = []
    tolerance = validation.from_text(params["tolerance_percent"])
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < tolerance < 100:
        errors.append("tolerance_percent: %r is not allowed; use a percentage between 0 and 100 (e.g. 5)"
                      % (params["tolerance_percent"],))
    samples = params["samples"]
    if samples in ("", None):
        samples = None
    else:
        samples = validation.from_text(samples)
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            errors.append("samples: %r is not allowed; use the number of prompts to evaluate (>= 1)" % (samples,))
    models, problems = selection.select_models(params["catalog"], params["models"])
    errors += problems
    return models, tolerance, samples, errors


def _check_baselines(params, models, samples, errors):
    loaded = {}
    for model in models:
        path = baseline.baseline_path(params["baseline_dir"], model)
        try:
            loaded[model["name"]] = baseline.load_baseline(path, model, params["task"])
        except baseline.BaselineError as exc:
            errors += exc.errors
            continue
        recorded = loaded[model["name"]].get("samples")
        if samples is not None and recorded is not None and recorded != samples:
            errors.append("%s: recorded over %d samples, this run would evaluate %d; set accuracy_limit to %d "
                          "or record a new baseline" % (path, recorded, samples, recorded))
    return loaded


def _record(module, params, models, selected):
    written, failures, contents = [], [], {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for model in models:
        try:
            scores, samples, _source = baseline.read_results(os.path.join(params["results_dir"], model["name"]),
                                                             params["task"])
            data = baseline.new_baseline(model, params["task"], scores, samples, params["harness"], now)
        except baseline.BaselineError as exc:
            failures += exc.errors
            continue
        path = baseline.baseline_path(params["baseline_dir"], model)
        if not module.check_mode:
            json_files.write_json(path, data)
        written.append(path)
        contents[path] = data
    if failures:
        module.fail_json(msg="No baseline recorded for: " + "; ".join(failures), recorded=written, selected=selected,
                         changed=bool(written) and not module.check_mode)
    module.exit_json(changed=bool(written), recorded=written, baselines=contents, models=[], selected=selected, msg="recorded %d baseline(s)%s" % (
        len(written), " (check mode: none written)" if module.check_mode else ""))


def run(module):
    params = module.params
    models, tolerance, samples, errors = _validate(params)
    if errors:
        module.fail_json(msg="Invalid accuracy input (nothing was evaluated): " + "; ".join(errors), errors=errors)
    selected = [{"id": m["id"], "name": m["name"]} for m in models]
    if params["record"] and not params["results_dir"]:
        module.exit_json(changed=False, recorded=[], models=[], selected=selected, msg="input valid; the run will record baselines "
                         "for %s" % ", ".join(m["name"] for m in models))
    if params["record"]:
        _record(module, params, models, selected)
    loaded = _check_baselines(params, models, samples, errors)
    if errors:
        module.fail_json(msg="Accuracy baselines cannot be used (nothing was evaluated): " + "; ".join(errors),
                         errors=errors)
    if not params["results_dir"]:
        usable = [{"id": m["id"], "name": m["name"], "baseline": baseline.baseline_path(params["baseline_dir"], m)}
                  for m in models]
        module.exit_json(changed=False, recorded=[], selected=selected, models=usable,
                         msg="%d baseline(s) usable" % len(models))
    outcome, lines = [], []
    for model in models:
        entry = {"id": model["id"], "name": model["name"],
                 "baseline": baseline.baseline_path(params["baseline_dir"], model)}
        try:
            scores, run_samples, source = baseline.read_results(
                os.path.join(params["results_dir"], model["name"]), params["task"])
        except baseline.BaselineError as exc:
            entry.update(passed=False, error="; ".join(exc.errors), rows=[])
            lines += ["%s: %s" % (model["id"], entry["error"])]
            outcome.append(entry)
            continue
        rows, passed = baseline.compare(scores, run_samples, loaded[model["name"]], tolerance)
        entry.update(passed=passed, rows=rows, results=source, samples=run_samples)
        lines += baseline.table(model, rows)
        outcome.append(entry)
    failed = [m["id"] for m in outcome if not m["passed"]]
    result = dict(changed=False, models=outcome, table=lines, recorded=[], selected=selected)
    if failed:
        module.fail_json(msg="Accuracy outside +-%s %% of the baseline for %s:\n%s" % (
            tolerance, ", ".join(failed), "\n".join(lines)), **result)
    module.exit_json(msg="%d model(s) within +-%s %% of their baselines" % (len(outcome), tolerance), **result)
