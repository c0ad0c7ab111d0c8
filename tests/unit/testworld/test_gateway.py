"""The gateway stand-in's pure parts: listener attachment, route matching, backends; its proxy step
(testworld/gateway.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testworld import gateway
from testworld.gateway import (aigw_backend_name, attached, hostname_matches, loopback, match, service_endpoints,
                               sse_events)

GATEWAY = {"metadata": {"namespace": "token-labs", "name": "token-labs-gateway"}}
LISTENER = {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "inference.token-labs.local"}


def route(name, rules, namespace="token-labs", created="2026-12-01T00:00:00Z", **spec):
    return {"metadata": {"namespace": namespace, "name": name, "creationTimestamp": created},
            "spec": {"parentRefs": [{"name": "token-labs-gateway"}], "rules": rules, **spec}}


# The AI Gateway's generated route: a rule per model on x-ai-eg-model, then route-not-found (prefix only).
AIGW = route("llm-inference", [
    {"matches": [{"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": "m/a"}],
                  "path": {"type": "PathPrefix", "value": "/"}}]},
    {"matches": [{"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": "m/b"}],
                  "path": {"type": "PathPrefix", "value": "/"}}]},
    {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]},
])
TTS = route("tts", [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1/audio/speech"}}]}])


@pytest.mark.parametrize("pattern,host,expected", [
    (None, "anything", True), ("inference.token-labs.local", "inference.token-labs.local:80", True),
    ("inference.token-labs.local", "other.local", False), ("*.token-labs.local", "a.token-labs.local", True),
    ("*.token-labs.local", "token-labs.local", False)])
def test_hostnames_match_as_the_gateway_api_says(pattern, host, expected):
    assert hostname_matches(pattern, host) is expected


def test_a_route_attaches_by_parent_ref_section_and_namespace():
    assert attached(AIGW, GATEWAY, LISTENER)
    other_section = [{"name": "token-labs-gateway", "sectionName": "https"}]
    assert not attached(dict(AIGW, spec=dict(AIGW["spec"], parentRefs=other_section)), GATEWAY, LISTENER)
    assert not attached(route("x", [], namespace="elsewhere"), GATEWAY, LISTENER)
    assert not attached(route("x", [], hostnames=["other.local"]), GATEWAY, LISTENER)


def test_before_the_model_header_the_route_not_found_rule_matches_then_the_models_rule():
    assert match([AIGW, TTS], LISTENER["hostname"], "POST", "/v1/chat/completions", {})[1] == 2
    chosen = match([AIGW, TTS], LISTENER["hostname"], "POST", "/v1/chat/completions?x=1", {"X-AI-EG-Model": "m/b"})
    assert chosen[0] is AIGW and chosen[1] == 1


def test_the_longest_prefix_wins_over_the_catch_all():
    assert match([AIGW, TTS], LISTENER["hostname"], "POST", "/v1/audio/speech", {})[0] is TTS
    assert match([AIGW, TTS], LISTENER["hostname"], "POST", "/v1/audio/speechless", {})[0] is AIGW


def test_no_rule_matches_a_path_outside_every_prefix():
    only_tts = [TTS]
    assert match(only_tts, LISTENER["hostname"], "GET", "/v1/models", {}) is None


def test_service_endpoints_are_its_ready_pods_on_the_target_port_as_the_endpointslice_controller_computes():
    service = {"metadata": {"namespace": "ns", "name": "tts"}, "spec": {
        "selector": {"app": "tts"}, "ports": [{"name": "http", "port": 8000, "targetPort": "http"}]}}

    def pod(ip, ready="True", namespace="ns", app="tts"):
        return {"metadata": {"namespace": namespace, "labels": {"app": app}},
                "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 9000}]}]},
                "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}}
    pods = [pod("127.1.0.7"), pod("127.1.0.8", ready="False"), pod("127.1.0.9", namespace="other"),
            pod("127.1.0.10", app="else")]
    assert service_endpoints(service, pods, 8000) == ["127.1.0.7:9000"]
    assert service_endpoints(service, pods, "http") == ["127.1.0.7:9000"]
    assert service_endpoints(service, pods, 81) == []


def test_only_loopback_endpoints_are_dialed():
    assert loopback("127.1.0.7:8000") and not loopback("10.1.0.7:8000") and not loopback("pod:8000")


def test_the_backend_name_is_the_ai_gateway_controllers():
    assert aigw_backend_name(AIGW, 1, 0, "nemotron-pool") == \
        "token-labs/nemotron-pool/route/llm-inference/rule/1/ref/0"


def test_sse_events_are_split_when_complete():
    events, rest = sse_events(b"data: 1\n\ndata: 2\n\ndata: 3")
    assert events == [b"data: 1\n\n", b"data: 2\n\n"] and rest == b"data: 3"


def test_the_upstreams_response_headers_reach_the_client_and_each_step_is_timed():
    """Envoy's router passes the upstream's response headers back (the simulator's x-inference-pod names the replica
    that answered) but for the hop-by-hop ones; the stand-in writes its own server/date."""
    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["content-length"]))
            body = b'{"ok": true}'
            self.send_response(200)
            for key, value in (("content-type", "application/json"), ("x-inference-pod", "model-0"),
                               ("keep-alive", "timeout=5"), ("content-length", str(len(body)))):
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answered = {}

    def respond(status, headers, chunks):
        answered.update(status=status, headers=headers, body=b"".join(chunks))
    stand_in = gateway.Gateway(None, None, "kuadrant-system", "redis://127.0.0.1:1")
    try:
        stand_in._proxy(f"127.0.0.1:{server.server_port}", "POST", "/v1/chat/completions",  # pylint: disable=protected-access
                        {"host": "inference.test"}, b"{}", None, None, {}, None, None, respond)
    finally:
        server.shutdown()
    assert answered["status"] == 200 and answered["body"] == b'{"ok": true}'
    assert answered["headers"]["x-inference-pod"] == "model-0" and answered["headers"]["content-length"] == "12"
    assert not {"keep-alive", "server", "date"} & set(answered["headers"])
    assert stand_in.timings_ms()["model_server_headers"]["count"] == 1
