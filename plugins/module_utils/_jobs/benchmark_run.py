# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The run of the model_benchmark module: validate, (check mode: plan), sweep every model, write the results.

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import time

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_chart as chart
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_figures as figures
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_load as load
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_report as report
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_spec as spec
from ansible_collections.tokenlabs.inference.plugins.module_utils import _files as json_files
from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import model_selection as selection
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation

ARG_SPEC = dict(selection.MODEL_SELECTION_ARG_SPEC, **{
    "gateway_url": {"type": "str", "required": True},
    "host_header": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "api_key": {"type": "str", "no_log": True},
    "timeout": {"type": "float", "default": 600.0},
    "concurrency": {"type": "list", "elements": "raw", "default": [1, 2, 4, 8]},
    "prompt_tokens": {"type": "list", "elements": "raw", "default": [512], "no_log": False},
    "output_tokens": {"type": "list", "elements": "raw", "default": [128], "no_log": False},
    "rounds": {"type": "raw", "default": 4},
    "warmup_requests": {"type": "raw", "default": 1},
    "extra_body": {"type": "dict", "default": {"ignore_eos": True}},
    "cost": {"type": "dict", "default": {}},
    "results_dir": {"type": "path", "required": True},
    "compare_with": {"type": "str", "default": "latest"},
    "regression_threshold": {"type": "raw", "default": 10},
    "fail_on_regression": {"type": "bool", "default": True},
})
MODEL_FIELDS = ("id", "name", "engine", "image", "node", "gpu_memory_share")


def validate(params):
    """Everything the run needs, checked at once; raises spec.BenchmarkInputError listing each problem."""
    errors = []
    sweep = {field: [validation.from_text(v) for v in params[field]] for field in spec.SWEEP_FIELDS}
    sweep["rounds"] = validation.from_text(params["rounds"])
    sweep["warmup_requests"] = validation.from_text(params["warmup_requests"])
    errors += spec.check_sweep(sweep)
    problem = spec.check_gateway_url(params["gateway_url"])
    if problem:
        errors.append(problem)
    threshold = validation.from_text(params["regression_threshold"])
    problem = spec.check_threshold(threshold)
    if problem:
        errors.append(problem)
    if params["timeout"] <= 0:
        errors.append("timeout: %r is not allowed; use the seconds one request may take (> 0)" % params["timeout"])
    cost = None
    models, problems = selection.select_models(params["catalog"], params["models"])
    errors += problems
    try:
        cost = spec.cost_model(params["cost"])
    except spec.BenchmarkInputError as exc:
        errors += exc.errors
    compare_with = params["compare_with"]
    if compare_with not in ("latest", "none") and not os.path.isfile(compare_with):
        errors.append("compare_with: %r is not a file; use latest, none or the path of an earlier "
                      "benchmark-<run>.json" % compare_with)
    elif compare_with not in ("latest", "none"):
        try:
            report.load_record(compare_with)
        except (ValueError, OSError) as exc:
            errors.append("compare_with: %s" % exc)
    if errors:
        raise spec.BenchmarkInputError(errors)
    return models, sweep, cost, threshold


def _measure_model(params, model, sweep, hourly, headers):
    entry = dict((field, model.get(field)) for field in MODEL_FIELDS)
    entry["levels"] = []
    url = params["gateway_url"]
    verify = params["validate_certs"]
    seed = int(time.time() * 1000) % 1000000 * 1000
    if sweep["warmup_requests"]:
        bodies = [load.request_body(model["id"], 64, 8, seed + i, params["extra_body"])
                  for i in range(sweep["warmup_requests"])]
        results, _wall = load.run_level(url, headers, verify, params["timeout"], bodies, 1)
        failed = [r for r in results if not r.ok]
        if failed:
            entry["error"] = "warm-up request failed: %s" % failed[0].error
            return entry
    for prompt, output, concurrency in spec.levels(sweep):
        count = concurrency * sweep["rounds"]
        bodies = [load.request_body(model["id"], prompt, output, seed + 1000 + i, params["extra_body"])
                  for i in range(count)]
        seed += count + 1000
        results, wall = load.run_level(url, headers, verify, params["timeout"], bodies, concurrency)
        level = {"prompt_tokens": prompt, "output_tokens": output, "concurrency": concurrency}
        level.update(figures.level_figures(results, wall, hourly["total"]))
        entry["levels"].append(level)
        if level["failed_requests"]:
            entry["error"] = ("%d of %d request(s) failed at prompt %d / output %d / concurrency %d (%s); the "
                              "remaining levels were not run" % (level["failed_requests"], count, prompt, output,
                                                                 concurrency, "; ".join(level["errors"])))
            break
    entry["headline"] = figures.headline(entry["levels"])
    return entry


def _compared_record(params, run_id):
    if params["compare_with"] == "none":
        return None, None
    if params["compare_with"] == "latest":
        earlier = report.earlier_records(params["results_dir"], run_id)
        if not earlier:
            return None, None
        path = earlier[-1]
    else:
        path = params["compare_with"]
    return path, report.load_record(path)


def run(module):
    """The model_benchmark module's whole run."""
    params = module.params
    try:
        models, sweep, cost, threshold = validate(params)
    except spec.BenchmarkInputError as exc:
        module.fail_json(msg="Invalid benchmark input (nothing was sent): " + "; ".join(exc.errors),
                         errors=exc.errors)
    shape = spec.plan(models, sweep)
    hourly = figures.cost_per_hour(cost)
    if module.check_mode:
        module.exit_json(changed=False, plan=shape, cost_per_hour=hourly,
                         msg="plan: %d request(s) to %s at %d level(s) each (check mode: nothing was sent)"
                         % (sum(m["requests"] for m in shape), ", ".join(m["name"] for m in shape),
                            len(shape[0]["levels"])))
    if not params["api_key"]:
        module.fail_json(msg="api_key: a tenant key is required to send load (nothing was sent)")
    missing = [name for name, present in (("httpx", load.HAS_HTTPX), ("matplotlib", chart.HAS_MATPLOTLIB))
               if not present]
    if missing:
        module.fail_json(msg="%s missing in the Python that runs this module (%s); run it with the benchmark "
                         "virtualenv (tokenlabs_benchmark_venv) - nothing was sent"
                         % (", ".join(missing), sys.executable))
    results_dir = params["results_dir"]
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        compared_path, earlier = _compared_record(params, run_id)
    except (ValueError, OSError) as exc:
        module.fail_json(msg="compare_with: the newest earlier record cannot be read (nothing was sent): %s" % exc)
    headers = load.headers_for(params["api_key"], params["host_header"])
    measured = [_measure_model(params, model, sweep, hourly, headers) for model in models]
    settings = dict(sweep, extra_body=params["extra_body"], regression_threshold=threshold,
                    timeout=params["timeout"])
    record = {"format": report.RECORD_FORMAT, "run_id": run_id, "started": started,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "gateway_url": params["gateway_url"], "client": {"httpx": load.HTTPX_VERSION},
              "settings": settings, "cost_model": cost, "cost_per_hour": hourly, "models": measured,
              "compared_with": compared_path}
    record["regressions"] = report.compare(record, earlier, threshold) if earlier else []
    files = {"record": report.record_path(results_dir, run_id, "json"),
             "summary": report.record_path(results_dir, run_id, "md"),
             "chart": report.record_path(results_dir, run_id, "png")}
    json_files.write_json(files["record"], record)
    with open(files["summary"], "w") as handle:
        handle.write(report.markdown(record))
    chart.draw(record, files["chart"])
    result = dict(changed=True, run_id=run_id, files=files, models=measured, regressions=record["regressions"],
                  compared_with=compared_path, cost_per_hour=hourly, summary=report.summary_lines(record, files))
    problems = ["%s: %s" % (m["id"], m["error"]) for m in measured if m.get("error")]
    if problems:
        module.fail_json(msg="Benchmark incomplete (results written to %s): %s" % (files["record"],
                                                                                   "; ".join(problems)), **result)
    if record["regressions"] and params["fail_on_regression"]:
        module.fail_json(msg="Throughput regression against %s beyond %s %% (results written to %s): %s" % (
            compared_path, threshold, files["record"], "; ".join(report.regression_lines(record["regressions"]))),
            **result)
    module.exit_json(**result)
