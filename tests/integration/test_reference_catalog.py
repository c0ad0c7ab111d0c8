"""The reference deployment (inventory/example: the 120B model and Magpie TTS on spark-01, four models on
spark-02) on a cluster of its own, with every workload wait on: the real kube-scheduler places each model where
the catalog says, a rerun writes nothing, an engine change rolls on the full GPU node, one model too many fails
in the scheduler's words and leaves nothing half-rolled, and models leaving the catalog are uninstalled.

The cluster (tests/integration/conftest.py ``cluster``): kube-apiserver, kube-scheduler, kube-controller-manager,
KWOK's controller/spark-01/spark-02, the device-plugin and GPU Operator stand-ins. Tests run in file order on one
converged platform.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing

REPO = Path(__file__).resolve().parents[2]
RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
EXAMPLE = yaml.safe_load((REPO / "inventory/example/group_vars/all/main.yml").read_text())
NS = "token-labs"
# One model more on spark-02: its memory share still fits (0.9 + 0.1), its GPU slice does not.
EXTRA_MODEL = {"id": "Qwen/Qwen2.5-0.5B-Instruct", "name": "qwen2-5-0-5b", "engine": "vllm", "node": "spark-02",
               "image": "ghcr.io/elizabetht/token-labs/vllm-serve:v0.4.0", "args": [], "gpu_memory_share": 0.1}


def changed(proc):
    match = RECAP.search(proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-3000:]
    return int(match[2])


def text(proc):
    return " ".join(proc.stdout.split())  # the YAML callback wraps long messages


class Reference:
    def __init__(self, cluster, extra: Path):
        self.cluster = cluster
        self.extra = extra

    def site(self, *args, **catalog):
        """site.yml with inventory/local and the reference catalog (changed by ``catalog``)."""
        self.extra.write_text(json.dumps(dict({"tokenlabs_models": EXAMPLE["tokenlabs_models"],
                                               "tokenlabs_services": EXAMPLE["tokenlabs_services"],
                                               "tokenlabs_helm_binary": self.cluster.helm_bin}, **catalog)))
        return self.cluster.ansible_playbook("site.yml", "-i", "inventory/local", "-e", "@" + str(self.extra), *args)

    def model_pods(self, name):
        pods = self.cluster.kubectl_json("get", "pods", "-n", NS, "-l", f"llm-d.ai/model={name}")["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def unavailable_deployments(self):
        return [f'{d["metadata"]["namespace"]}/{d["metadata"]["name"]}'
                for d in self.cluster.kubectl_json("get", "deployments", "-A")["items"]
                if (d["status"].get("availableReplicas") or 0) < d["spec"].get("replicas", 1)]

    def route_models(self):
        route = self.cluster.kubectl_json("get", "aigatewayroutes", "-n", NS)["items"][0]
        return sorted(r["matches"][0]["headers"][0]["value"] for r in route["spec"]["rules"])


@pytest.fixture(scope="module")
def reference(cluster, tmp_path_factory):
    ref = Reference(cluster, tmp_path_factory.mktemp("reference") / "catalog.json")
    first = ref.site()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    ref.first = first
    return ref


def test_the_scheduler_places_every_model_on_its_catalog_node(reference):
    cluster = reference.cluster
    # every wait ran: the GPU Operator chart, its GPUs and RuntimeClass, every Deployment of every role
    out = text(reference.first)
    assert "Every model runs on its catalog node: nemotron-super-120b on spark-01, r1-distill-qwen-7b on spark-02" in out
    for task in ("Wait until every GPU node offers nvidia.com/gpu", "Wait until the nvidia RuntimeClass exists",
                 "Wait until Redis is Available", "Wait until the Kuadrant operator is Available",
                 "Wait until every endpoint picker is Available", "Wait until every model server and service is Available"):
        assert task in out, task
    assert reference.unavailable_deployments() == []
    # the device plugin (stand-in) offers each node's GPU as the catalog shares it
    slices = gpu_sharing.gpu_slices(EXAMPLE["tokenlabs_models"], EXAMPLE["tokenlabs_services"])
    assert slices == {"spark-01": 2, "spark-02": 4}
    for node, count in slices.items():
        assert cluster.kubectl_json("get", "node", node)["status"]["allocatable"]["nvidia.com/gpu"] == str(count)
    for model in EXAMPLE["tokenlabs_models"]:
        [pod] = reference.model_pods(model["name"])
        assert (pod["spec"]["nodeName"], pod["status"]["phase"]) == (model["node"], "Running"), model["name"]
        assert pod["spec"]["runtimeClassName"] == "nvidia"
    [tts] = cluster.kubectl_json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=magpie-tts")["items"]
    assert tts["spec"]["nodeName"] == "spark-01"


def test_a_rerun_changes_nothing_and_writes_nothing(reference):
    cluster = reference.cluster
    mark = cluster.audit_mark()
    again = reference.site()
    assert again.returncode == 0 and changed(again) == 0, again.stdout[-3000:]
    checked = reference.site("--check", "--diff")
    assert checked.returncode == 0 and changed(checked) == 0, checked.stdout[-3000:]
    writes = cluster.client_writes(mark)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]


def test_an_engine_change_rolls_the_pod_on_the_full_gpu_node(reference):
    """spark-02 offers 4 nvidia.com/gpu and holds 4 model pods: maxSurge 0 replaces the pod in place."""
    [before] = reference.model_pods("qwen2-5-7b")
    models = [dict(m, args=m["args"] + ["--max_batch_size", "8"]) if m["name"] == "qwen2-5-7b" else m
              for m in EXAMPLE["tokenlabs_models"]]
    proc = reference.site("--tags", "models", tokenlabs_models=models)
    assert proc.returncode == 0 and changed(proc) > 0, proc.stdout[-4000:]
    [after] = reference.model_pods("qwen2-5-7b")
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert (after["spec"]["nodeName"], after["status"]["phase"]) == ("spark-02", "Running")
    assert "--max_batch_size" in " ".join(after["spec"]["containers"][0]["args"])
    deployment = reference.cluster.kubectl_json("get", "deployment", "qwen2-5-7b-decode", "-n", NS)
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    back = reference.site("--tags", "models")
    assert back.returncode == 0, back.stdout[-4000:]


def test_one_model_too_many_fails_in_the_schedulers_words_and_leaves_nothing_half_rolled(reference):
    """Operators who run the device plugin's sharing themselves (gpu_operator_node_sharing: false) add a fifth
    model to spark-02, whose configuration still offers four slices."""
    proc = reference.site(tokenlabs_models=EXAMPLE["tokenlabs_models"] + [EXTRA_MODEL],
                          gpu_operator_node_sharing=False, model_serving_wait_timeout=20)
    assert proc.returncode != 0
    out = text(proc)
    assert ("model qwen2-5-0-5b (Deployment token-labs/qwen2-5-0-5b-decode, catalog node spark-02): pod "
            "qwen2-5-0-5b-decode-") in out, out[-3000:]
    assert "cannot be scheduled, the scheduler says: 0/3 nodes are available:" in out
    assert "Insufficient nvidia.com/gpu" in out
    assert "To fix: free a GPU share on that node or move the model" in out
    # the route, the policies and the tenants were not touched: no request goes to the model without a pod
    assert reference.route_models() == sorted(m["id"] for m in EXAMPLE["tokenlabs_models"])
    assert reference.unavailable_deployments() == [f"{NS}/qwen2-5-0-5b-decode"]
    # what the message says to do: take the model out again (or share the GPU) and rerun
    fixed = reference.site()
    assert fixed.returncode == 0, fixed.stdout[-4000:]
    releases = sorted(r["name"] for r in json.loads(reference.cluster.helm("list", "-n", NS, "-o", "json").stdout))
    assert not [r for r in releases if r.startswith("qwen2-5-0-5b")]
    assert reference.unavailable_deployments() == []


def test_models_and_services_leaving_the_catalog_are_removed(reference):
    cluster = reference.cluster
    models = [m for m in EXAMPLE["tokenlabs_models"] if m["name"] != "qwen2-5-7b"]
    removed = reference.site("--tags", "models", tokenlabs_models=models, tokenlabs_services=[])
    assert removed.returncode == 0 and changed(removed) > 0, removed.stdout[-3000:]
    names = sorted(r["name"] for r in json.loads(cluster.helm("list", "-n", NS, "-o", "json").stdout))
    assert "qwen2-5-7b-pool" not in names and "qwen2-5-7b-modelservice" not in names
    assert len([n for n in names if n.endswith(("-pool", "-modelservice"))]) == 2 * len(models)
    assert "Qwen/Qwen2.5-7B-Instruct" not in reference.route_models()
    assert cluster.kubectl("get", "httproute", "magpie-tts", "-n", NS, check=False).returncode != 0
    assert reference.model_pods("qwen2-5-7b") == []
    final = reference.site("--tags", "models", tokenlabs_models=models, tokenlabs_services=[])
    assert final.returncode == 0 and changed(final) == 0, final.stdout[-3000:]
