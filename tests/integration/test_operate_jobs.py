"""benchmark.yml and accuracy.yml against the test server (testworld/openai_server.py) and the control plane.

The test server stands in for the gateway and an engine: it streams tokens at a known rate with
known usage, and answers the IFEval sample (tests/fixtures/ifeval_sample) with known answers. The
temporary tenants are real Secrets on the control plane; lm-eval 0.4.13 and httpx/matplotlib are
installed by the jobs themselves into their virtualenvs (cached in ~/.cache/tokenlabs/job-venvs).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from support.jobs import KEY_PROBE, VENVS
from testworld.openai_server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "ifeval_sample"
MODEL = {"id": "test-model", "name": "test", "engine": "vllm", "image": "vllm/vllm-openai:v0.11.0",
         "node": "spark-01", "gpu_memory_share": 0.5}
SCORE = round(5 / 6.0, 4)  # the sample's known IFEval scores (5 of 6 prompts follow their instruction)


@pytest.fixture
def server(tmp_path):
    started = []

    def start(**options):
        srv = ServerProcess(tmp_path / ("server-%d" % len(started)), models="test-model", **options)
        started.append(srv)
        return srv
    yield start
    for srv in started:
        srv.stop()


def job(control_plane, namespace, tmp_path, playbook, variables, *args):
    base = {"tokenlabs_kuadrant_namespace": namespace, "tokenlabs_gateway_hostname": "127.0.0.1",
            "tokenlabs_models": [MODEL], "tokenlabs_job_venv_dir": str(VENVS),
            "tokenlabs_benchmark_results_dir": str(tmp_path / "results")}
    base.update(variables)
    vars_file = tmp_path / ("vars-%s.json" % uuid.uuid4().hex[:6])
    vars_file.write_text(json.dumps(base))
    return control_plane.ansible_playbook(playbook, "-i", "inventory/local", "-e", "@%s" % vars_file, *args)


def tenant_secrets(control_plane, namespace):
    return [s["metadata"]["name"] for s in control_plane.kubectl_json("get", "secrets", "-n", namespace)["items"]]


def bench_vars(url, **extra):
    base = {"tokenlabs_gateway_url": url, "benchmark_concurrency": [1, 4], "benchmark_prompt_tokens": [200],
            "benchmark_output_tokens": [20], "benchmark_rounds": 2}
    base.update(extra)
    return base


def test_benchmark_measures_the_servers_known_timing_and_removes_its_tenant(control_plane, namespace, tmp_path,
                                                                            server):
    srv = server(ttft_ms=80, prefill_tps=4000, itl_ms=20)
    run = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(srv.url), "-vvv")
    assert run.returncode == 0, run.stdout[-4000:]
    records = sorted((tmp_path / "results").glob("benchmark-*.json"))
    assert len(records) == 1
    assert records[0].with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "## test-model" in records[0].with_suffix(".md").read_text()
    record = json.loads(records[0].read_text())
    assert record["models"][0]["image"] == MODEL["image"] and record["models"][0]["engine"] == "vllm"
    one, four = record["models"][0]["levels"]
    for level in (one, four):
        assert level["failed_requests"] == 0 and level["completion_tokens_mean"] == 20
        # Known timing: first token after 80 ms + prompt / 4000 tok/s, then one token every 20 ms.
        expected_ttft = 80 + level["prompt_tokens_mean"] / 4.0
        assert expected_ttft * 0.95 <= level["ttft_ms"]["p50"] <= expected_ttft * 1.35, level
        assert 20 <= level["itl_ms"]["p50"] <= 20 * 1.25, level
    duration = (80 + one["prompt_tokens_mean"] / 4.0 + 19 * 20) / 1000.0
    assert 20 / duration * 0.75 <= one["decode_tokens_per_s"] <= 20 / duration
    assert 4 * 20 / duration * 0.7 <= four["decode_tokens_per_s"] <= 4 * 20 / duration  # four streams at once
    assert one["cost_per_million_output_tokens"] == pytest.approx(
        record["cost_per_hour"]["total"] / (one["decode_tokens_per_s"] * 3600 / 1e6), rel=1e-3)

    requests = srv.requests()
    chats = [r for r in requests if r["path"] == "/v1/chat/completions" and r.get("model") != KEY_PROBE]
    assert [r for r in requests if r.get("model") == KEY_PROBE]  # the key check (gateway_job)
    assert len(chats) == 1 + 2 + 8 and all(r["stream"] for r in chats)  # warm-up + 1x2 + 4x2
    keys = {r["key"] for r in chats}
    assert len(keys) == 1 and next(iter(keys)).startswith("tlabs_sk_")
    assert next(iter(keys)) not in run.stdout + run.stderr  # not even at -vvv
    assert "tenant-benchmark-probe" not in tenant_secrets(control_plane, namespace)


def test_benchmark_reports_a_regression_and_still_removes_its_tenant(control_plane, namespace, tmp_path, server):
    fast = server(ttft_ms=20, itl_ms=5)
    first = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(fast.url, benchmark_warmup_requests=0))
    assert first.returncode == 0, first.stdout[-3000:]
    slow = server(ttft_ms=20, itl_ms=15)
    second = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(slow.url, benchmark_warmup_requests=0))
    assert second.returncode != 0
    text = " ".join(second.stdout.split())
    assert "Throughput regression against" in text and "decode_tokens_per_s" in text, text[-3000:]
    assert len(list((tmp_path / "results").glob("benchmark-*.md"))) == 2  # written before failing
    assert "tenant-benchmark-probe" not in tenant_secrets(control_plane, namespace)


def test_benchmark_that_fails_midway_removes_its_tenant(control_plane, namespace, tmp_path, server):
    srv = server(status=503)
    run = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(srv.url))
    assert run.returncode != 0
    assert "warm-up request failed: HTTP 503" in " ".join(run.stdout.split())
    assert "Remove the temporary tenant benchmark-probe" in run.stdout
    assert "tenant-benchmark-probe" not in tenant_secrets(control_plane, namespace)


@pytest.mark.parametrize("variables,message", [
    ({"benchmark_models": ["gpt-4"]}, "models: 'gpt-4' is not in the model catalog; allowed (name or id): test"),
    ({"benchmark_concurrency": [0, 2]}, "concurrency: 0 is not allowed; use integers >= 1"),
    ({"benchmark_cost": {"utilisation": 0}}, "cost.utilisation: 0 is not allowed"),
    ({"tokenlabs_job_tenant_tier": "gold"},
     'tokenlabs_job_tenant_tier: "gold" is not a tier of tokenlabs_tiers; allowed: free, pro, enterprise'),
], ids=["unknown-model", "concurrency-0", "utilisation-0", "unknown-tier"])
def test_benchmark_bad_input_is_refused_before_any_request(control_plane, namespace, tmp_path, server, variables,
                                                           message):
    srv = server()
    mark = control_plane.audit_mark()
    run = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(srv.url, **variables))
    assert run.returncode != 0 and message in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert srv.requests() == []
    assert control_plane.client_writes(mark, namespace=namespace) == []


def test_benchmark_gateway_that_does_not_answer_is_refused_before_the_tenant(control_plane, namespace, tmp_path):
    mark = control_plane.audit_mark()
    run = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars("http://127.0.0.1:9"))
    assert run.returncode != 0
    assert "tokenlabs_gateway_url http://127.0.0.1:9 does not answer" in " ".join(run.stdout.split())
    assert control_plane.client_writes(mark, namespace=namespace) == []


def test_benchmark_check_mode_sends_and_writes_nothing(control_plane, namespace, tmp_path, server):
    srv = server()
    mark = control_plane.audit_mark()
    run = job(control_plane, namespace, tmp_path, "benchmark.yml", bench_vars(srv.url), "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "plan: 11 request(s) to test at 2 level(s) each (check mode: nothing was sent)" in " ".join(
        run.stdout.split())
    assert [r for r in srv.requests() if r["method"] == "POST"] == []
    assert control_plane.client_writes(mark, namespace=namespace) == []
    assert not (tmp_path / "results").exists()


def accuracy_vars(tmp_path, url, baseline=None, **extra):
    tasks = tmp_path / "tasks"
    tasks.mkdir(exist_ok=True)
    shutil.copy(SAMPLE / "utils.py", tasks / "utils.py")
    (tasks / "ifeval_sample.yaml").write_text(
        (SAMPLE / "ifeval_sample.yaml.in").read_text().replace("SAMPLE_JSONL", str(SAMPLE / "ifeval_sample.jsonl")))
    baselines = tmp_path / "baselines"
    baselines.mkdir(exist_ok=True)
    if baseline is not None:
        (baselines / "test.json").write_text(json.dumps(baseline))
    base = {"tokenlabs_gateway_url": url, "accuracy_task": "ifeval_sample", "accuracy_include_path": str(tasks),
            "accuracy_baseline_dir": str(baselines), "accuracy_results_dir": str(tmp_path / "accuracy"),
            "accuracy_environment": {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}}
    base.update(extra)
    return base


def baseline_of(score):
    return {"model": "test-model", "task": "ifeval_sample", "samples": 6,
            "metrics": {"prompt_level_strict_acc": score, "inst_level_strict_acc": score}}


def test_accuracy_passes_within_the_band_fails_outside_and_records(control_plane, namespace, tmp_path, server):
    srv = server(ttft_ms=5, itl_ms=1, answers=str(SAMPLE / "answers.json"))
    passed = job(control_plane, namespace, tmp_path, "accuracy.yml",
                 accuracy_vars(tmp_path, srv.url, baseline_of(0.85)), "-vvv")
    assert passed.returncode == 0, passed.stdout[-4000:]
    assert "prompt_level_strict_acc     0.8500   0.8075..0.8925     0.8333  ok" in passed.stdout
    keys = {r["key"] for r in srv.requests() if r["method"] == "POST"}
    assert len(keys) == 1 and next(iter(keys)) not in passed.stdout + passed.stderr
    assert len([r for r in srv.requests() if r["method"] == "POST" and r.get("model") != KEY_PROBE]) == 6
    assert "tenant-accuracy-probe" not in tenant_secrets(control_plane, namespace)

    failed = job(control_plane, namespace, tmp_path, "accuracy.yml", accuracy_vars(tmp_path, srv.url, baseline_of(0.95)))
    assert failed.returncode != 0
    text = failed.stdout
    assert "Accuracy outside +-5 % of the baseline for test-model" in text, text[-3000:]
    assert "prompt_level_strict_acc     0.9500   0.9025..0.9975     0.8333  below" in text
    assert "tenant-accuracy-probe" not in tenant_secrets(control_plane, namespace)

    recorded = job(control_plane, namespace, tmp_path, "accuracy.yml",
                   accuracy_vars(tmp_path, srv.url, accuracy_record_baseline=True))
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    written = json.loads((tmp_path / "baselines" / "test.json").read_text())
    assert written["metrics"] == {name: SCORE for name in ("prompt_level_strict_acc", "inst_level_strict_acc",
                                                           "prompt_level_loose_acc", "inst_level_loose_acc")}
    assert written["samples"] == 6 and written["harness"] == "lm-eval[api,ifeval]==0.4.13"


@pytest.mark.parametrize("baseline,extra,message", [
    (None, {}, "no baseline for model test (test-model); record one with accuracy_record_baseline=true"),
    (dict(baseline_of(0), metrics={"prompt_level_strict_acc": 0, "inst_level_strict_acc": 0}), {},
     "every metric is 0 - a baseline of zeros accepts any model"),
    (baseline_of(0.8), {"accuracy_limit": 50}, "recorded over 6 samples, this run would evaluate 50"),
    (baseline_of(0.8), {"accuracy_models": ["nope"]}, "models: 'nope' is not in the model catalog"),
], ids=["missing", "zeros", "other-sample-count", "unknown-model"])
def test_accuracy_bad_baselines_are_refused_before_any_request(control_plane, namespace, tmp_path, server, baseline,
                                                               extra, message):
    srv = server()
    mark = control_plane.audit_mark()
    run = job(control_plane, namespace, tmp_path, "accuracy.yml", accuracy_vars(tmp_path, srv.url, baseline, **extra))
    assert run.returncode != 0 and message in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert srv.requests() == []
    assert control_plane.client_writes(mark, namespace=namespace) == []


def test_accuracy_run_that_fails_removes_its_tenant(control_plane, namespace, tmp_path, server):
    srv = server(status=500)
    run = job(control_plane, namespace, tmp_path, "accuracy.yml",
              accuracy_vars(tmp_path, srv.url, baseline_of(0.8), accuracy_max_retries=1))
    assert run.returncode != 0
    assert "lm-eval wrote no results_*.json" in " ".join(run.stdout.split()), run.stdout[-3000:]
    assert "tenant-accuracy-probe" not in tenant_secrets(control_plane, namespace)


def test_accuracy_check_mode_sends_and_writes_nothing(control_plane, namespace, tmp_path, server):
    srv = server()
    mark = control_plane.audit_mark()
    run = job(control_plane, namespace, tmp_path, "accuracy.yml", accuracy_vars(tmp_path, srv.url, baseline_of(0.8)),
              "--check")
    assert run.returncode == 0, run.stdout[-3000:]
    assert [r for r in srv.requests() if r["method"] == "POST"] == []
    assert control_plane.client_writes(mark, namespace=namespace) == []
    assert not (tmp_path / "accuracy").exists()
