"""The accuracy_baseline run: check, compare, record; bad input named before anything is evaluated."""

import json
import shutil
from pathlib import Path

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import accuracy_run as acc_run
from support.module_run import run_module

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "ifeval_sample"
CATALOG = [{"id": "test-model", "name": "test"}]


def run(check_mode=False, **params):
    params.setdefault("catalog", CATALOG)
    params.setdefault("task", "ifeval_sample")
    return run_module(acc_run.run, acc_run.ARG_SPEC, params, check_mode)


@pytest.fixture
def dirs(tmp_path):
    results = tmp_path / "run"
    (results / "test" / "test-model").mkdir(parents=True)
    shutil.copy(FIXTURES / "lm_eval_results.json", results / "test" / "test-model" / "results_1.json")
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    return str(results), baselines


def write(baselines, score, samples=6):
    (baselines / "test.json").write_text(json.dumps({"model": "test-model", "task": "ifeval_sample", "samples": samples,
                                                     "metrics": {"prompt_level_strict_acc": score}}))


def test_check_compare_pass_and_fail(dirs):
    results, baselines = dirs
    write(baselines, 0.83)
    checked = run(baseline_dir=str(baselines), samples="6")
    assert not checked.failed and checked.result["selected"] == CATALOG
    passed = run(baseline_dir=str(baselines), results_dir=results)
    assert not passed.failed and passed.result["models"][0]["passed"]
    write(baselines, 0.95)
    failed = run(baseline_dir=str(baselines), results_dir=results)
    assert failed.failed and "Accuracy outside +-5 % of the baseline for test-model" in failed.result["msg"]
    assert failed.result["models"][0]["rows"][0]["status"] == "below"


def test_bad_input_is_listed_at_once(dirs):
    _results, baselines = dirs
    out = run(baseline_dir=str(baselines), tolerance_percent="0", samples="-1", models=["x"])
    assert out.failed and len(out.result["errors"]) == 3
    assert out.result["msg"].startswith("Invalid accuracy input (nothing was evaluated): tolerance_percent: '0'")


def test_missing_results_fail_that_model(dirs, tmp_path):
    _results, baselines = dirs
    write(baselines, 0.83)
    out = run(baseline_dir=str(baselines), results_dir=str(tmp_path / "empty"))
    assert out.failed and "lm-eval wrote no results_*.json" in out.result["msg"]


def test_record_writes_baselines_but_not_in_check_mode(dirs):
    results, baselines = dirs
    pre = run(baseline_dir=str(baselines), record=True)
    assert not pre.failed and "will record baselines for test" in pre.result["msg"]
    dry = run(check_mode=True, baseline_dir=str(baselines), results_dir=results, record=True)
    assert not (baselines / "test.json").exists() and "none written" in dry.result["msg"]
    done = run(baseline_dir=str(baselines), results_dir=results, record=True)
    assert done.result["changed"] and json.loads((baselines / "test.json").read_text())["samples"] == 6
    assert done.result["baselines"][str(baselines / "test.json")]["metrics"]["prompt_level_strict_acc"] == 0.8333
