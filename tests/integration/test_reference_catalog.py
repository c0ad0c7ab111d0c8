"""The reference deployment's catalog (inventory/example: five models on two Sparks, Magpie TTS) on the
local control plane: the whole site.yml converges with it (GPU sharing included), and its model step
converges, reruns unchanged, is clean in check mode and removes exactly what leaves the catalog.

Its own gateway namespace, so the session's platform stays as test_platform_site left it. No model runs
(no kubelet, no GPU): what is shown is that every object is accepted by the real API server.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing

REPO = Path(__file__).resolve().parents[2]
RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def _reference_vars(control_plane, tmp_path, **more):
    """inventory/example's catalog and services in a gateway namespace of their own, as an extra-vars file."""
    example = yaml.safe_load((REPO / "inventory/example/group_vars/all/main.yml").read_text())
    namespace = "ref-" + uuid.uuid4().hex[:6]
    extra = tmp_path / "catalog.json"
    extra.write_text(json.dumps(dict({"tokenlabs_models": example["tokenlabs_models"],
                                      "tokenlabs_services": example["tokenlabs_services"],
                                      "tokenlabs_gateway_namespace": namespace,
                                      "tokenlabs_helm_binary": control_plane.helm_bin}, **more)))
    return example, namespace, extra


def _user_writes(control_plane, mark):
    return [w for w in control_plane.writes_since(mark)
            if not (w.get("user") or {}).get("username", "").startswith("system:")]


def test_the_whole_site_converges_with_the_reference_catalog(control_plane, tmp_path):
    """site.yml without tags: platform, GPU Operator with time-slicing, tiers, models, TTS, tenants."""
    example, namespace, extra = _reference_vars(control_plane, tmp_path, gpu_operator_enabled=True)
    args = ("site.yml", "-i", "inventory/local", "-e", "@" + str(extra))
    first = control_plane.ansible_playbook(*args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]

    # the device plugin shares each node's GPU as the catalog asks (spark-02: four models; spark-01: the
    # 120B model and Magpie TTS), every model and the TTS still request one nvidia.com/gpu
    slices = gpu_sharing.gpu_slices(example["tokenlabs_models"], example["tokenlabs_services"])
    assert slices == {"spark-01": 2, "spark-02": 4}
    configmap = control_plane.kubectl_json("get", "configmap", gpu_sharing.CONFIG_MAP, "-n", "gpu-operator")
    for node, count in slices.items():
        labels = control_plane.kubectl_json("get", "node", node)["metadata"]["labels"]
        assert labels[gpu_sharing.CONFIG_LABEL] == "time-slicing-%d" % count
        config = yaml.safe_load(configmap["data"]["time-slicing-%d" % count])
        assert config["sharing"]["timeSlicing"]["resources"] == [
            {"name": "nvidia.com/gpu", "replicas": count}]
    tts = control_plane.kubectl_json("get", "deployment", "magpie-tts", "-n", namespace)
    assert tts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")

    # the TTS route hangs off the platform's Gateway, which the AuthPolicy and both limit policies target
    gateway = control_plane.kubectl_json("get", "gateway", "-n", namespace)["items"][0]["metadata"]["name"]
    route = control_plane.kubectl_json("get", "httproute", "magpie-tts", "-n", namespace)
    assert [(p.get("kind", "Gateway"), p["name"]) for p in route["spec"]["parentRefs"]] == [("Gateway", gateway)]
    for kind in ("authpolicies", "ratelimitpolicies", "tokenratelimitpolicies"):
        policy = control_plane.kubectl_json("get", kind, "-n", namespace)["items"][0]
        assert (policy["spec"]["targetRef"]["kind"], policy["spec"]["targetRef"]["name"]) == ("Gateway", gateway)

    mark = control_plane.audit_mark()
    again = control_plane.ansible_playbook(*args)
    assert again.returncode == 0 and RECAP.search(again.stdout)[2] == "0", again.stdout[-3000:]
    checked = control_plane.ansible_playbook(*args, "--check", "--diff")
    assert checked.returncode == 0 and RECAP.search(checked.stdout)[2] == "0", checked.stdout[-3000:]
    writes = _user_writes(control_plane, mark)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]


def test_the_reference_catalog_converges_and_reruns_unchanged(control_plane, tmp_path):
    example, namespace, extra = _reference_vars(control_plane, tmp_path)
    args = ("site.yml", "-i", "inventory/local", "--tags", "models", "-e", "@" + str(extra))
    first = control_plane.ansible_playbook(*args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    route = control_plane.kubectl_json("get", "aigatewayroutes", "-n", namespace)["items"][0]
    served = sorted(r["matches"][0]["headers"][0]["value"] for r in route["spec"]["rules"])
    assert served == sorted(m["id"] for m in example["tokenlabs_models"])
    tts = control_plane.kubectl_json("get", "httproute", "magpie-tts", "-n", namespace)
    assert tts["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v1/audio/speech"
    decode = control_plane.kubectl_json("get", "deployment", "llama-3-1-8b-decode", "-n", namespace)
    assert "--mem-fraction-static" in decode["spec"]["template"]["spec"]["containers"][0]["args"]

    mark = control_plane.audit_mark()
    again = control_plane.ansible_playbook(*args)
    assert again.returncode == 0 and RECAP.search(again.stdout)[2] == "0", again.stdout[-3000:]
    checked = control_plane.ansible_playbook(*args, "--check")
    assert checked.returncode == 0 and RECAP.search(checked.stdout)[2] == "0", checked.stdout[-3000:]
    writes = [w for w in control_plane.settled_writes(mark, namespace)
              if not (w.get("user") or {}).get("username", "").startswith("system:")]
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]

    # a model and the service leave the catalog: exactly their releases, route rule and objects go
    smaller = dict(json.loads(extra.read_text()), tokenlabs_services=[],
                   tokenlabs_models=[m for m in example["tokenlabs_models"] if m["name"] != "qwen2-5-7b"])
    extra.write_text(json.dumps(smaller))
    removed = control_plane.ansible_playbook(*args)
    assert removed.returncode == 0 and RECAP.search(removed.stdout)[2] != "0", removed.stdout[-3000:]
    releases = json.loads(control_plane.helm("list", "-n", namespace, "-o", "json").stdout)
    names = sorted(r["name"] for r in releases)
    assert "qwen2-5-7b-pool" not in names and "qwen2-5-7b-modelservice" not in names
    assert len(names) == 2 * (len(example["tokenlabs_models"]) - 1)
    route = control_plane.kubectl_json("get", "aigatewayroutes", "-n", namespace)["items"][0]
    assert "Qwen/Qwen2.5-7B-Instruct" not in json.dumps(route["spec"])
    assert control_plane.kubectl("get", "httproute", "magpie-tts", "-n", namespace, check=False).returncode != 0
    assert control_plane.kubectl("get", "deployment", "llama-3-1-8b-decode", "-n", namespace).returncode == 0
    final = control_plane.ansible_playbook(*args)
    assert final.returncode == 0 and RECAP.search(final.stdout)[2] == "0", final.stdout[-3000:]
