"""The Prometheus reader: the API paths and parameters, the bearer token, and errors that name the server."""

import io
import json

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.prometheus import Prometheus, PrometheusError


class Opener:
    def __init__(self, body):
        self.body, self.calls = body, []

    def __call__(self, url, **kwargs):
        self.calls.append((url, kwargs))
        if isinstance(self.body, Exception):
            raise self.body
        return io.BytesIO(json.dumps(self.body).encode())


def test_range_and_instant_results_are_parsed_and_the_token_is_sent():
    opener = Opener({"status": "success", "data": {"result": [{"metric": {"tenant": "a"}, "values": [[86400, "3"]]}]}})
    prom = Prometheus("http://127.0.0.1:9090/", token="s3cret", opener=opener)
    assert prom.range("up", 0, 86400, 86400) == [({"tenant": "a"}, [(86400, 3.0)])]
    url, kwargs = opener.calls[0]
    assert url.startswith("http://127.0.0.1:9090/api/v1/query_range?query=up&start=0")
    assert kwargs["headers"] == {"Authorization": "Bearer s3cret"}
    opener.body = {"status": "success", "data": {"result": [{"metric": {}, "value": [1, "2.5"]}]}}
    assert prom.instant("x", 1) == [({}, 2.5)]


def test_errors_name_the_server_and_never_the_token():
    prom = Prometheus("http://127.0.0.1:1", token="s3cret", opener=Opener(OSError("connection refused")))
    with pytest.raises(PrometheusError) as err:
        prom.ready()
    assert "http://127.0.0.1:1 did not answer /api/v1/query: connection refused" in str(err.value)
    assert "s3cret" not in str(err.value)
    prom = Prometheus("http://p", opener=Opener({"status": "error", "error": "parse error"}))
    with pytest.raises(PrometheusError, match="refused the query bad: parse error"):
        prom.instant("bad", 0)
