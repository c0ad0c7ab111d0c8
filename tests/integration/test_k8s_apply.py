"""tokenlabs.inference.k8s_apply against the real API server: one task per list, outcomes from status codes."""

from __future__ import annotations

import base64
import json
import re
import uuid

from support.tenant_runner import Runner

RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
SECRET_VALUE = "s3cr3t-" + "q" * 24


def configmap(namespace, name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {"k": "v"}}


def secret(namespace, name):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": {"token": SECRET_VALUE}}


def outcomes(result):
    return [(o["object"].split(" ")[1], o["outcome"]) for o in result["objects"]]


def test_one_call_creates_then_reports_unchanged_with_no_write(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    new_ns = "apply-" + uuid.uuid4().hex[:8]
    objects = [configmap(new_ns, "a"), secret(new_ns, "b"),
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": new_ns}}]
    result, _proc = run.module("k8s_apply", {"definitions": objects})
    assert not result.get("failed"), result
    assert result["changed"] is True
    # input order, the namespace applied first
    assert outcomes(result) == [(new_ns + "/a", "created"), (new_ns + "/b", "created"), (new_ns, "created")]
    assert result["counts"]["created"] == 3 and result["writes"] == 3

    mark = control_plane.audit_mark()
    again, _proc = run.module("k8s_apply", {"definitions": objects})
    assert again["changed"] is False and again["writes"] == 0
    assert [o for _name, o in outcomes(again)] == ["unchanged"] * 3
    assert control_plane.client_writes(mark, new_ns) == []

    objects[0] = configmap(new_ns, "a", k="changed")
    third, _proc = run.module("k8s_apply", {"definitions": objects}, "--diff")
    assert [o for _name, o in outcomes(third)] == ["updated", "unchanged", "unchanged"]
    assert third["writes"] == 1
    assert third["diff"]["after"]["ConfigMap %s/a (v1)" % new_ns]["data"] == {"k": "changed"}
    assert control_plane.kubectl_json("get", "configmap", "a", "-n", new_ns)["data"] == {"k": "changed"}


def test_playbook_reports_one_changed_task_per_apply(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    task = {"name": "Apply", "tokenlabs.inference.k8s_apply": {
        "definitions": [configmap(namespace, "one"), configmap(namespace, "two")]}}
    proc = run.playbook([task], json_output=False)
    recap = RECAP.search(proc.stdout)
    assert proc.returncode == 0 and recap, proc.stdout + proc.stderr
    assert (int(recap[1]), int(recap[2])) == (1, 1)  # one task, one changed
    proc = run.playbook([task], json_output=False)
    assert RECAP.search(proc.stdout)[2] == "0"


def test_check_mode_reports_pending_objects_and_writes_nothing(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    missing_ns = "not-yet-" + uuid.uuid4().hex[:8]
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": missing_ns}},
               configmap(missing_ns, "later"),
               {"apiVersion": "example.tokenlabs.io/v1", "kind": "Widget",
                "metadata": {"name": "w", "namespace": namespace}},
               configmap(namespace, "now")]
    mark = control_plane.audit_mark()
    result, proc = run.module("k8s_apply", {"definitions": objects}, "--check")
    assert not result.get("failed"), result
    assert [o for _name, o in outcomes(result)] == ["created", "pending", "pending", "created"]
    reasons = [o.get("reason", "") for o in result["objects"]]
    assert "namespace %s does not exist yet" % missing_ns in reasons[1]
    assert "its kind is not installed yet" in reasons[2]
    assert result["changed"] is True and result["writes"] == 0
    assert "would be created" in " ".join(result.get("warnings", []))
    assert control_plane.client_writes(mark, None, {"namespaces"}) == []
    assert control_plane.client_writes(mark, namespace, {"configmaps"}) == []
    assert control_plane.kubectl("get", "namespace", missing_ns, check=False).returncode != 0


def test_rejected_objects_are_named_with_the_api_reason_and_the_rest_is_applied(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    objects = [configmap(namespace, "good"),
               configmap(namespace, "Bad_Name"),
               {"apiVersion": "example.tokenlabs.io/v1", "kind": "Widget",
                "metadata": {"name": "w", "namespace": namespace}}]
    result, _proc = run.module("k8s_apply", {"definitions": objects})
    assert result["failed"] is True
    assert [o for _name, o in outcomes(result)] == ["created", "rejected", "rejected"]
    bad = result["objects"][1]
    assert bad["status"] == 422 and "Bad_Name" in bad["reason"]
    assert "install its CRD first" in result["objects"][2]["reason"]
    assert "2 of 3 object(s) rejected (created 1, updated 0, deleted 0, 0 unchanged)" in result["msg"]
    assert "ConfigMap %s/Bad_Name (v1)" % namespace in result["msg"]
    assert control_plane.kubectl_json("get", "configmap", "good", "-n", namespace)["data"] == {"k": "v"}
    # a rerun converges for what can be applied
    again, _proc = run.module("k8s_apply", {"definitions": objects[:1]})
    assert again["changed"] is False


def test_secret_values_never_appear(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    objects = [secret(namespace, "hidden")]
    result, proc = run.module("k8s_apply", {"definitions": objects}, "--diff", "-vvv")
    assert result["changed"] is True
    objects[0]["stringData"]["token"] = SECRET_VALUE + "-2"
    result, proc2 = run.module("k8s_apply", {"definitions": objects}, "--diff", "-vvv")
    assert result["diff"]["after"]["Secret %s/hidden (v1)" % namespace]["data"] == {"token": "<hidden>"}
    text = proc.stdout + proc.stderr + proc2.stdout + proc2.stderr + json.dumps(result)
    for value in (SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode()):
        assert value not in text


def test_invalid_definitions_fail_before_anything_is_sent(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    mark = control_plane.audit_mark()
    result, _proc = run.module("k8s_apply", {"definitions": [configmap(namespace, "fine"), {"kind": "ConfigMap"}]})
    assert result["failed"] is True
    assert "definitions[1]" in result["msg"] and "apiVersion" in result["msg"] and "metadata.name" in result["msg"]
    assert control_plane.client_writes(mark, namespace, {"configmaps"}) == []


def _services_task(namespace, services, check=False):
    definitions = "{{ %s | tokenlabs.inference.service_objects('%s', 'token-labs-gateway', '%s') }}" % (
        json.dumps(services), namespace, namespace)
    return {"name": "Services", "check_mode": check, "tokenlabs.inference.k8s_apply": {
        "definitions": definitions,
        "prune": "{{ '%s' | tokenlabs.inference.service_prune }}" % namespace}}


def _service(name, path):
    return {"name": name, "image": "ghcr.io/example/%s:v1" % name, "node": "spark-01", "port": 8000, "paths": [path]}


def _run(run, task):
    proc = run.playbook([dict(task, ignore_errors=True)])
    doc = json.loads(proc.stdout[proc.stdout.find("{"):])
    return doc["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_services_on_the_gateway_are_applied_and_removed_with_exactly_their_objects(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    both = [_service("magpie-tts", "/v1/audio/speech"), _service("stt", "/v1/audio/transcriptions")]
    first = _run(run, _services_task(namespace, both))
    assert not first.get("failed"), first
    assert first["counts"]["created"] == 6
    route = control_plane.kubectl_json("get", "httproute", "magpie-tts", "-n", namespace)
    assert route["spec"]["parentRefs"][0]["name"] == "token-labs-gateway"
    assert route["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v1/audio/speech"
    # an object the collection did not label is never pruned
    control_plane.kubectl("create", "deployment", "foreign", "--image=example.invalid/x:1", "-n", namespace)
    mark = control_plane.audit_mark()
    again = _run(run, _services_task(namespace, both))
    # (the Deployment controller's status writes are the cluster's own)
    assert again["changed"] is False and control_plane.client_writes(mark, namespace) == []
    checked = _run(run, _services_task(namespace, both[:1], check=True))
    assert checked["changed"] is True and checked["counts"]["deleted"] == 3 and checked["writes"] == 0
    assert control_plane.kubectl("get", "deployment", "stt", "-n", namespace, check=False).returncode == 0
    removed = _run(run, _services_task(namespace, both[:1]))
    assert sorted(o["object"] for o in removed["objects"] if o["outcome"] == "deleted") == [
        "Deployment %s/stt (apps/v1)" % namespace, "HTTPRoute %s/stt (gateway.networking.k8s.io/v1)" % namespace,
        "Service %s/stt (v1)" % namespace]
    names = {i["metadata"]["name"] for i in control_plane.kubectl_json("get", "deployments", "-n", namespace)["items"]}
    assert names == {"magpie-tts", "foreign"}
    assert _run(run, _services_task(namespace, both[:1]))["changed"] is False
