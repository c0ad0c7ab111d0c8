"""Baseline files: refused when missing or zero, compared with an lm-eval results file, recorded anew."""

import json
import shutil
from pathlib import Path

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import accuracy_baseline as baseline

FIXTURES = Path(__file__).resolve().parents[4] / "fixtures" / "ifeval_sample"
MODEL = {"id": "test-model", "name": "test"}
# The sample's known scores: 5 of 6 prompts follow their instruction (tests/fixtures/ifeval_sample).
SCORE = 5 / 6.0


def write_baseline(tmp_path, metrics, **extra):
    data = {"model": "test-model", "task": "ifeval_sample", "samples": 6, "metrics": metrics}
    data.update(extra)
    path = tmp_path / "test.json"
    path.write_text(json.dumps(data))
    return str(path)


def results_dir(tmp_path):
    target = tmp_path / "run" / "test" / "test-model"
    target.mkdir(parents=True)
    shutil.copy(FIXTURES / "lm_eval_results.json", target / "results_2026-12-02T03-14-50.json")
    return str(tmp_path / "run" / "test")


def test_scores_are_read_from_lm_evals_results_file(tmp_path):
    scores, samples, _source = baseline.read_results(results_dir(tmp_path), "ifeval_sample")
    assert samples == 6
    assert scores == {name: pytest.approx(SCORE) for name in baseline.IFEVAL_METRICS}


@pytest.mark.parametrize("base,status", [(SCORE, "ok"), (SCORE * 1.04, "ok"), (0.95, "below"), (0.70, "above")])
def test_band_is_relative_to_the_baseline(tmp_path, base, status):
    loaded = baseline.load_baseline(write_baseline(tmp_path, {"prompt_level_strict_acc": base}), MODEL,
                                    "ifeval_sample")
    rows, passed = baseline.compare({"prompt_level_strict_acc": SCORE}, 6, loaded, 5)
    assert rows[0]["status"] == status and passed is (status == "ok")
    assert rows[0]["low"] == round(base * 0.95, 4)


def test_a_run_over_other_samples_is_not_comparable(tmp_path):
    loaded = baseline.load_baseline(write_baseline(tmp_path, {"prompt_level_strict_acc": SCORE}), MODEL,
                                    "ifeval_sample")
    rows, passed = baseline.compare({"prompt_level_strict_acc": SCORE}, 50, loaded, 5)
    assert not passed and rows[-1]["status"] == "not comparable"


def test_zero_baseline_is_refused(tmp_path):
    path = write_baseline(tmp_path, dict.fromkeys(baseline.IFEVAL_METRICS, 0))
    with pytest.raises(baseline.BaselineError, match="every metric is 0 - a baseline of zeros accepts any model"):
        baseline.load_baseline(path, MODEL, "ifeval_sample")


@pytest.mark.parametrize("change,fragment", [
    ({"model": "other"}, "model is 'other', expected 'test-model'"),
    ({"task": "mmlu"}, "task is 'mmlu', this run evaluates 'ifeval_sample'"),
    ({"metrics": {"prompt_level_strict_acc": 1.5, "inst_level_strict_acc": 0.5}},
     "metric prompt_level_strict_acc is 1.5"),
    ({"samples": 0}, "samples is 0"),
])
def test_bad_baselines_name_the_field(tmp_path, change, fragment):
    change = dict({"metrics": {"prompt_level_strict_acc": 0.5}}, **change)
    path = write_baseline(tmp_path, **change)
    with pytest.raises(baseline.BaselineError) as exc:
        baseline.load_baseline(path, MODEL, "ifeval_sample")
    assert fragment in str(exc.value) and path in str(exc.value)


def test_missing_baseline_says_how_to_record(tmp_path):
    with pytest.raises(baseline.BaselineError, match="no baseline for model test .*accuracy_record_baseline=true"):
        baseline.load_baseline(str(tmp_path / "test.json"), MODEL, "ifeval")


def test_new_baseline_from_a_run_and_its_table(tmp_path):
    scores, samples, _source = baseline.read_results(results_dir(tmp_path), "ifeval_sample")
    data = baseline.new_baseline(MODEL, "ifeval_sample", scores, samples, "lm-eval 0.4.13", "2026-12-02T00:00:00Z")
    assert data["metrics"] == dict.fromkeys(baseline.IFEVAL_METRICS, 0.8333) and data["samples"] == 6
    with pytest.raises(baseline.BaselineError, match="every metric is 0"):
        baseline.new_baseline(MODEL, "ifeval", dict.fromkeys(baseline.IFEVAL_METRICS, 0.0), 6, "x", "y")
    rows, _passed = baseline.compare(scores, 6, data, 5)
    lines = baseline.table(MODEL, rows)
    assert lines[0] == "test-model:" and len(lines) == 2 + 4
    assert any("prompt_level_strict_acc" in line and line.endswith("ok") for line in lines)
