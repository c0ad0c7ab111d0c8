"""The load generator against the test server, whose timing is known."""

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_load as load
from testworld.openai_server import serve


@pytest.fixture
def server():
    srv, url = serve(ttft_ms=80, prefill_tps=4000, itl_ms=20)
    yield srv, url
    srv.shutdown()


def test_one_level_measures_the_servers_timing(server):
    srv, url = server
    bodies = [load.request_body("test-model", 200, 20, seed, {"ignore_eos": True}) for seed in range(4)]
    results, wall = load.run_level(url, load.headers_for("k" * 40, None), True, 30, bodies, 2)
    assert [r.ok for r in results] == [True] * 4, [r.error for r in results]
    for r in results:
        assert r.completion_tokens == 20
        assert 195 <= r.prompt_tokens <= 205
        expected_ttft = 0.080 + r.prompt_tokens / 4000.0
        # lower bound: the server's timing is measured; upper: plus scheduling slack on 2 shared cores
        assert expected_ttft * 0.9 <= r.ttft <= expected_ttft * 1.5 + 0.15
        itl = r.decode_time / (r.completion_tokens - 1)
        assert 0.020 * 0.95 <= itl <= 0.020 * 1.5  # the first token's read can land late: decode time a hair short
    per_request = 0.080 + 0.05 + 19 * 0.020
    assert 2 * per_request * 0.95 <= wall <= 2 * per_request * 1.6  # 4 requests, 2 in flight
    assert all(r["authorized"] for r in srv.RequestHandlerClass.requests)


def test_prompts_differ_per_request_and_have_the_asked_length():
    first, second = load.prompt_text(512, 1), load.prompt_text(512, 2)
    assert first != second
    assert 505 <= len(first.split()) <= 515


def test_missing_usage_and_http_errors_are_request_errors():
    srv, url = serve(usage=False)
    try:
        results, _wall = load.run_level(url, load.headers_for("k", None), True, 30,
                                        [load.request_body("test-model", 10, 3, 0, {})], 1)
        assert not results[0].ok and "no usage" in results[0].error
        results, _wall = load.run_level(url, load.headers_for("k", None), True, 30,
                                        [load.request_body("other-model", 10, 3, 0, {})], 1)
        assert results[0].error.startswith("HTTP 404: ") and "other-model" in results[0].error
    finally:
        srv.shutdown()
        srv.server_close()
    results, _wall = load.run_level(url, load.headers_for("k", None), True, 5,
                                    [load.request_body("test-model", 10, 3, 0, {})], 1)
    assert not results[0].ok and results[0].error.startswith("ConnectError")


def test_host_header_is_sent_when_given():
    assert load.headers_for("abc", "inference.example")["Host"] == "inference.example"
    assert "Host" not in load.headers_for("abc", None)
