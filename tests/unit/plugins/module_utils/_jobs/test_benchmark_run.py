"""The model_benchmark run against the test server: figures, files, comparison, failures, check mode."""

import json

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_run as bench_run
from support.module_run import run_module
from testworld.openai_server import serve

CATALOG = [{"id": "test-model", "name": "test", "engine": "vllm", "image": "vllm:1", "node": "spark-01",
            "gpu_memory_share": 0.5}]


def run(params, check_mode=False):
    return run_module(bench_run.run, bench_run.ARG_SPEC, params, check_mode)


@pytest.fixture
def server():
    srv, url = serve(ttft_ms=40, prefill_tps=4000, itl_ms=10)
    yield srv, url
    srv.shutdown()
    srv.server_close()


def params(url, tmp_path, **extra):
    base = {"gateway_url": url, "api_key": "k" * 43, "catalog": CATALOG, "concurrency": [1, 2],
            "prompt_tokens": [100], "output_tokens": [10], "rounds": 2, "results_dir": str(tmp_path)}
    base.update(extra)
    return base


def test_run_writes_record_summary_chart_and_measures(server, tmp_path):
    srv, url = server
    out = run(params(url, tmp_path))
    assert not out.failed, out.result["msg"]
    record = json.loads(open(out.result["files"]["record"]).read())
    levels = record["models"][0]["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 2]
    one = levels[0]
    assert one["completion_tokens_mean"] == 10 and one["failed_requests"] == 0
    assert 40 * 0.9 <= one["ttft_ms"]["p50"] - 25 <= 40 * 1.6  # 40 ms + ~100 words / 4000 tok/s
    assert 10 <= one["itl_ms"]["p50"] <= 15
    assert levels[1]["decode_tokens_per_s"] > one["decode_tokens_per_s"] * 1.5  # two in flight
    assert open(out.result["files"]["chart"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    summary = open(out.result["files"]["summary"]).read()
    assert "= **0.17217 USD/h**" in summary
    assert "| 100 (%.1f) | 10 | 2 |" % levels[1]["prompt_tokens_mean"] in summary  # asked and measured prompt
    assert "k" * 43 not in json.dumps(out.result) + summary + open(out.result["files"]["record"]).read()
    assert len(srv.RequestHandlerClass.requests) == 1 + 2 + 4  # warm-up + levels


def test_a_later_slower_run_is_a_regression(server, tmp_path):
    srv, url = server
    first = run(params(url, tmp_path))
    assert not first.failed and first.result["compared_with"] is None
    srv.RequestHandlerClass.config = dict(srv.RequestHandlerClass.config, itl_ms=30)
    second = run(params(url, tmp_path))
    assert second.failed and "Throughput regression against" in second.result["msg"]
    assert second.result["compared_with"] == first.result["files"]["record"]
    assert {r["figure"] for r in second.result["regressions"]} == {"decode_tokens_per_s"}
    assert "regression(s)** beyond 10 %" in open(second.result["files"]["summary"]).read()
    tolerant = run(params(url, tmp_path, compare_with=first.result["files"]["record"], fail_on_regression=False))
    assert not tolerant.failed and tolerant.result["regressions"]


def test_failed_requests_stop_the_model_and_say_what_ran(tmp_path):
    srv, url = serve(status=429)
    try:
        out = run(params(url, tmp_path))
    finally:
        srv.shutdown()
        srv.server_close()
    assert out.failed and "test-model: warm-up request failed: HTTP 429" in out.result["msg"]
    out2 = run(params(url, tmp_path, warmup_requests=0))
    assert out2.failed and "2 of 2 request(s) failed" in out2.result["msg"]
    assert "results written to" in out2.result["msg"]


def test_check_mode_and_bad_input_send_nothing(server, tmp_path):
    srv, url = server
    out = run(params(url, tmp_path, api_key=None), check_mode=True)
    assert not out.failed and out.result["plan"][0]["requests"] == 7 and out.result["msg"] == (
        "plan: 7 request(s) to test at 2 level(s) each (check mode: nothing was sent)")
    bad = run(params(url, tmp_path, models=["nope"], concurrency=[0], compare_with="/no/such.json",
                     gateway_url="localhost:8080"))
    assert bad.failed and bad.result["msg"].startswith("Invalid benchmark input (nothing was sent): ")
    assert len(bad.result["errors"]) == 4
    assert srv.RequestHandlerClass.requests == []
    assert list(tmp_path.iterdir()) == []


def test_a_compare_file_that_is_no_record_is_refused_before_any_request(server, tmp_path):
    srv, url = server
    other = tmp_path / "other.json"
    other.write_text("{}")
    out = run(params(url, tmp_path / "results", compare_with=str(other)))
    assert out.failed and "is not a benchmark record of this collection" in out.result["msg"]
    assert srv.RequestHandlerClass.requests == []


def test_command_line_strings_are_numbers(server, tmp_path):
    _srv, url = server
    out = run(params(url, tmp_path, concurrency=["1"], rounds="1", warmup_requests="0"), check_mode=True)
    assert out.result["plan"][0]["requests"] == 1
