"""The Kubernetes client layer: errors that say what to do, Status details, concurrency."""

from __future__ import annotations

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s import api as k8s_api


def test_status_body_gives_message_and_details():
    body = json.dumps({"kind": "Status", "message": 'namespaces "x" not found', "reason": "NotFound",
                       "details": {"name": "x", "kind": "namespaces"}, "code": 404}).encode()
    assert k8s_api._status(body) == ('namespaces "x" not found', {"name": "x", "kind": "namespaces"})
    assert k8s_api._status(b"not json") == ("not json", {})
    assert k8s_api._status(b"[1]") == ("[1]", {})


def test_errors_say_what_to_do():
    forbidden = k8s_api.ApiError(403, "Forbidden", "secrets is forbidden", "GET", "/api/v1/secrets")
    assert "lacks this permission" in str(forbidden) and "GET /api/v1/secrets" in str(forbidden)
    assert "Check the kubeconfig" in str(k8s_api.ApiError(401, "Unauthorized", "no"))
    other = k8s_api.ApiError(422, "Invalid", "bad name", "PATCH", "/x", {"kind": "configmaps"})
    assert str(other) == "PATCH /x failed (422 Invalid): bad name" and other.details == {"kind": "configmaps"}
    assert k8s_api.ApiError(500, "x", "y").details == {}
    assert "cannot reach" in str(k8s_api.ApiUnreachable("https://127.0.0.1:1", "refused"))


def test_run_concurrently_keeps_order_and_reports_each_failure():
    def work(n):
        if n == 3:
            raise ValueError("three")
        return n * 2
    results = k8s_api.run_concurrently(work, range(6), workers=4)
    assert [r[0] for r in results] == list(range(6))
    assert [r[1] for r in results if r[2] is None] == [0, 2, 4, 8, 10]
    assert str(results[3][2]) == "three"
    assert k8s_api.run_concurrently(work, []) == []


def test_auth_argument_spec_is_a_fresh_copy():
    first = k8s_api.auth_argument_spec({"x": {"type": "str"}})
    first["kubeconfig"]["type"] = "changed"
    assert k8s_api.auth_argument_spec()["kubeconfig"]["type"] == "raw"
    assert "x" in first and "k8s_api_key" in first


class _Client:
    configuration = None


def test_dry_run_client_counts_no_writes():
    api = k8s_api.KubeApi(_Client(), dry_run=True, host="h")
    sent = []
    api._send = lambda method, path, query, headers, body: sent.append((method, query)) or b"{}"
    api.create("/api/v1/namespaces/a/configmaps", {"metadata": {"name": "x"}})
    assert api.writes == 0 and ("dryRun", "All") in sent[0][1]
    real = k8s_api.KubeApi(_Client(), host="h")
    real._send = lambda method, path, query, headers, body: b"{}"
    real.merge_patch("/x", {})
    assert real.writes == 1
