"""Outcome of each object from discovery and status codes (in-memory API; the real one: tests/integration)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s import apply as k8s_apply
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError

DISCOVERY = {
    "/api/v1": {"resources": [{"name": "namespaces", "kind": "Namespace", "namespaced": False},
                              {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
                              {"name": "configmaps/status", "kind": "ConfigMap", "namespaced": True}]},
}


class FakeApi(object):
    """Discovery, GET and server-side apply (dry run or not) over a dict of objects."""

    def __init__(self, objects=None, namespaces=("default",), dry_run=False, shared=None):
        self.shared = shared if shared is not None else {"objects": dict(objects or {}),
                                                         "namespaces": set(namespaces), "writes": []}
        self.dry_run = dry_run
        self.field_manager = "tokenlabs-inference"
        self.host = "fake"
        self.timeout = 5
        self.api_client = self
        self.writes = 0

    def get(self, path, missing_ok=False):
        if path in DISCOVERY:
            return DISCOVERY[path]
        if path.startswith("/apis/"):
            return None
        found = self.shared["objects"].get(path)
        return copy.deepcopy(found)

    def apply(self, path, body, force=True):
        namespace = (body.get("metadata") or {}).get("namespace")
        if namespace and namespace not in self.shared["namespaces"]:
            raise ApiError(404, "NotFound", 'namespaces "%s" not found' % namespace, "PATCH", path,
                           {"name": namespace, "kind": "namespaces"})
        if body["metadata"]["name"] != body["metadata"]["name"].lower():
            raise ApiError(422, "Invalid", "metadata.name: Invalid value", "PATCH", path)
        merged = copy.deepcopy(self.shared["objects"].get(path) or {})
        merged.update(copy.deepcopy(body))
        merged["metadata"] = dict(merged.get("metadata") or {}, resourceVersion="2", managedFields=[
            {"manager": self.field_manager, "operation": "Apply", "fieldsV1": sorted(body)}])
        if not self.dry_run:
            self.shared["objects"][path] = merged
            self.shared["writes"].append(path)
            self.writes += 1
            if body["kind"] == "Namespace":
                self.shared["namespaces"].add(body["metadata"]["name"])
        return merged


@pytest.fixture(autouse=True)
def fake_dry_run_client(monkeypatch):
    """The Applier builds its dry-run client from the real one: give it a fake sharing the same store."""
    monkeypatch.setattr(k8s_apply, "KubeApi", lambda client, dry_run, field_manager, host, timeout:
                        FakeApi(shared=client.shared, dry_run=dry_run))


def cm(name, namespace="default", **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {"k": "v"}}


def outcomes(results):
    return [r.outcome for r in results]


def test_create_then_unchanged_then_updated():
    api = FakeApi()
    assert outcomes(k8s_apply.Applier(api).apply([cm("a"), cm("b")])) == ["created", "created"]
    assert outcomes(k8s_apply.Applier(api).apply([cm("a"), cm("b")])) == ["unchanged", "unchanged"]
    assert outcomes(k8s_apply.Applier(api).apply([cm("a", k="x"), cm("b")])) == ["updated", "unchanged"]
    assert len(api.shared["writes"]) == 3


def test_an_object_another_manager_made_is_taken_over_once():
    api = FakeApi({"/api/v1/namespaces/default/configmaps/a": dict(cm("a"), metadata=dict(
        cm("a")["metadata"], managedFields=[{"manager": "kubectl", "operation": "Apply", "fieldsV1": []}]))})
    assert outcomes(k8s_apply.Applier(api).apply([cm("a")])) == ["updated"]
    assert outcomes(k8s_apply.Applier(api).apply([cm("a")])) == ["unchanged"]


def test_namespace_goes_first_so_its_objects_can_follow():
    api = FakeApi()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new"}}
    results = k8s_apply.Applier(api).apply([cm("a", "new"), ns])
    assert outcomes(results) == ["created", "created"]
    assert api.shared["writes"][0] == "/api/v1/namespaces/new"


def test_check_mode_pending_and_rejected_come_from_status_and_discovery():
    api = FakeApi()
    widget = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    results = k8s_apply.Applier(api, check_mode=True).apply([cm("a", "later"), widget, cm("Bad")])
    assert outcomes(results) == ["pending", "pending", "rejected"]
    assert "namespace later does not exist yet" in results[0].reason
    assert "its kind is not installed yet" in results[1].reason
    assert results[2].status == 422
    assert api.shared["writes"] == []
    real = k8s_apply.Applier(api).apply([cm("a", "later"), widget, cm("ok")])
    assert outcomes(real) == ["rejected", "rejected", "created"]
    assert "install its CRD first" in real[1].reason and real[0].status == 404
    message = k8s_apply.failure_message(real, check_mode=False)
    assert message.startswith("2 of 3 object(s) rejected (created 1, updated 0, deleted 0, 0 unchanged): ")


def test_namespaced_kind_without_namespace_is_rejected():
    bare = cm("a")
    del bare["metadata"]["namespace"]
    assert "set metadata.namespace" in k8s_apply.Applier(FakeApi()).apply([bare])[0].reason


@pytest.mark.parametrize("definition,problem", [
    ({"kind": "ConfigMap", "metadata": {"name": "a"}}, "lacks apiVersion"),
    ({"apiVersion": "v1", "kind": "ConfigMap"}, "lacks metadata.name"),
    ("text", "must be a Kubernetes object"),
])
def test_definition_problems_name_the_position(definition, problem):
    problems = k8s_apply.definition_problems([cm("fine"), definition])
    assert len(problems) == 1 and problems[0].startswith("definitions[1]") and problem in problems[0]


def test_secret_values_are_collected_and_hidden():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
              "data": {"a": "c2VjcmV0LXZhbHVl"}, "stringData": {"b": "plain-value"}}
    values = k8s_apply.secret_values([secret, cm("x")])
    assert {"c2VjcmV0LXZhbHVl", "secret-value", "plain-value", "cGxhaW4tdmFsdWU="} <= values
    view = k8s_apply.public_view(dict(secret, metadata=dict(secret["metadata"], managedFields=[{}])))
    assert view["data"] == {"a": "<hidden>"} and view["stringData"] == {"b": "<hidden>"}
    assert "managedFields" not in view["metadata"]
