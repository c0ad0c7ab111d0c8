"""The cluster runs: the real kube-scheduler and kube-controller-manager, KWOK's simulated nodes, the GPU as the
device plugin would offer it -- all on loopback.

A world of its own (``python -m testworld up cluster``) with the reference inventory's hosts registered as their
kubelets would (``register-nodes --inventory inventory/example/hosts.yml``): one CPU controller and two GB10 GPU
workers, tainted ``nvidia.com/gpu=true:NoSchedule``.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from pathlib import Path

import pytest
import yaml

from support.cluster import wait_for
from testworld import controlplane
from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
GPU = "nvidia.com/gpu"
CATALOG = yaml.safe_load((REPO / "inventory" / "example" / "group_vars" / "all" / "main.yml").read_text())


def namespace(cp):
    name = "c-" + uuid.uuid4().hex[:8]
    cp.kubectl("create", "namespace", name)
    return name


def gpu_pod(name, node, namespace_name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace_name},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                     "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                     "containers": [{"name": "engine", "image": "vllm/vllm-openai:stand-in",
                                     "resources": {"limits": {GPU: "1"}, "requests": {GPU: "1"}}}]}}


def share_gpus(cp, models, services=()):
    """What the gpu_operator role writes: the device-plugin ConfigMap and each node's config label."""
    values = gpu_sharing.device_plugin_config(models, services)
    cp.kubectl("create", "namespace", "gpu-operator", check=False)
    cp.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": values["name"], "namespace": "gpu-operator"}, "data": values["data"]}),
             "--force-conflicts")
    for patch in gpu_sharing.node_label_patches(models, services):
        cp.apply(json.dumps(patch), "--force-conflicts")


def gpus(cp):
    return {n["metadata"]["name"]: (n["status"].get("allocatable") or {}).get(GPU)
            for n in cp.kubectl_json("get", "nodes")["items"]}


def test_nodes_are_the_inventory_hosts_with_loopback_addresses(cluster):
    nodes = {n["metadata"]["name"]: n for n in cluster.kubectl_json("get", "nodes")["items"]}
    assert {"controller", "spark-01", "spark-02"} <= set(nodes)
    for name, node in nodes.items():
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert ipaddress.ip_address(addresses["InternalIP"]) in LOOPBACK, name
    spark = nodes["spark-01"]
    assert spark["status"]["nodeInfo"]["architecture"] == "arm64"
    assert spark["status"]["capacity"]["cpu"] == "20" and spark["status"]["capacity"]["memory"] == "128Gi"
    assert {"key": GPU, "value": "true", "effect": "NoSchedule"} in spark["spec"]["taints"]
    # the node lifecycle controller removed the not-ready taint the admission plugin put on at registration
    assert not any(t["key"].startswith("node.kubernetes.io/not-ready") for t in spark["spec"]["taints"])


def test_the_device_plugin_stand_in_offers_the_gpu_as_the_catalog_shares_it(cluster):
    models, services = CATALOG["tokenlabs_models"], CATALOG.get("tokenlabs_services") or []
    share_gpus(cluster, models, services)
    expected = {node: str(n) for node, n in gpu_sharing.gpu_slices(models, services).items()}
    assert expected == {"spark-01": "2", "spark-02": "4"}  # 120B + TTS; four models
    wait_for(lambda: {k: v for k, v in gpus(cluster).items() if k in ("controller", "spark-01", "spark-02")}
             == dict(expected, controller=None), 30, f"nvidia.com/gpu {expected}", cluster)
    # a node without the label gets the default configuration: no sharing
    cluster.kubectl("label", "node", "spark-02", gpu_sharing.CONFIG_LABEL + "-")
    wait_for(lambda: gpus(cluster)["spark-02"] == "1", 30, "spark-02 back to one GPU", cluster)
    share_gpus(cluster, models, services)
    wait_for(lambda: gpus(cluster)["spark-02"] == "4", 30, "spark-02 shared by four again", cluster)


def test_a_deployment_becomes_available_with_loopback_pod_ips(cluster):
    ns = namespace(cluster)
    cluster.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:stand-in",
                                                       "ports": [{"containerPort": 8080}]}]}}}}))
    cluster.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}))
    cluster.kubectl("wait", "--for=condition=Available", "deployment/web", "-n", ns, "--timeout=60s")
    pods = cluster.kubectl_json("get", "pods", "-n", ns)["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} == {"controller"}  # the GPU workers' taint keeps it away
    assert all(ipaddress.ip_address(p["status"]["podIP"]) in LOOPBACK for p in pods)


def test_services_get_no_endpoints_because_the_api_server_refuses_loopback_addresses(cluster):
    """The price of loopback pod IPs, and why nothing in the test world dials a Service.

    kube-apiserver refuses loopback addresses in Endpoints and EndpointSlices (ValidateEndpointIP,
    pkg/apis/core/validation/validation.go, used by pkg/apis/discovery/validation), so the EndpointSlice
    controller's writes for the Ready loopback pods are refused; components of the test world dial pod IPs.
    """
    ns = namespace(cluster)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one", "namespace": ns, "labels": {"app": "one"}},
           "spec": {"containers": [{"name": "one", "image": "nginx:stand-in"}]}}
    cluster.apply(json.dumps(pod))
    cluster.apply(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "one", "namespace": ns},
                              "spec": {"selector": {"app": "one"}, "ports": [{"port": 80}]}}))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/one", "-n", ns, "--timeout=60s")
    ip = cluster.kubectl_json("get", "pod", "one", "-n", ns)["status"]["podIP"]
    probe = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": "probe", "namespace": ns}, "endpoints": [{"addresses": [ip]}]}
    refused = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(probe), check=False)
    assert refused.returncode != 0 and "may not be in the loopback range" in refused.stderr, refused.stderr
    slices = cluster.kubectl_json("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=one")
    assert not any(e for s in slices["items"] for e in s.get("endpoints") or [])


def test_a_job_completes(cluster):
    ns = namespace(cluster)
    cluster.apply(json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hook", "namespace": ns},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "hook", "image": "busybox:stand-in"}]}}}}))
    cluster.kubectl("wait", "--for=condition=Complete", "job/hook", "-n", ns, "--timeout=60s")


def test_the_scheduler_places_the_catalog_and_refuses_one_model_too_many(cluster):
    models, services = CATALOG["tokenlabs_models"], CATALOG.get("tokenlabs_services") or []
    share_gpus(cluster, models, services)
    wait_for(lambda: gpus(cluster)["spark-02"] == "4", 30, "the catalog's GPU sharing", cluster)
    ns = namespace(cluster)
    placed = [(m["name"], m["node"]) for m in models] + [
        (s["name"], s["node"]) for s in services if s.get("gpu_memory_share") is not None]
    for name, node in placed:
        cluster.apply(json.dumps(gpu_pod(name, node, ns)))
    for name, node in placed:
        cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "-n", ns, "--timeout=60s")
        assert cluster.kubectl_json("get", "pod", name, "-n", ns)["spec"]["nodeName"] == node
    cluster.apply(json.dumps(gpu_pod("one-too-many", "spark-02", ns)))

    def refusal():
        pod = cluster.kubectl_json("get", "pod", "one-too-many", "-n", ns)
        return next((c["message"] for c in pod["status"].get("conditions") or []
                     if c["type"] == "PodScheduled" and c["status"] == "False"), None)
    message = wait_for(refusal, 30, "the scheduler's refusal", cluster)
    assert "Insufficient nvidia.com/gpu" in message, message
    assert cluster.kubectl_json("get", "pod", "one-too-many", "-n", ns)["status"]["phase"] == "Pending"


@pytest.mark.parametrize("surge,rolls", [(0, True), ("25%", False)])
def test_an_engine_change_rolls_on_a_full_gpu_node_only_without_surge(cluster, surge, rolls):
    """maxSurge 0 (what the collection sets) replaces the pod in place; the default surge waits for a GPU forever.

    A GPU worker of its own (one GB10, not shared), fully used by one engine replica.
    """
    node = "spark-roll-%s" % str(surge).rstrip("%")
    cluster.kubectl("create", "-f", "-", input=json.dumps(controlplane.inventory_node_object(node, True)))
    wait_for(lambda: gpus(cluster).get(node) == "1", 60, f"{node} Ready with one GPU", cluster)
    ns = namespace(cluster)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "engine", "namespace": ns},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "engine"}},
                           "strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 1 if surge == 0 else "25%"}},
                           "template": {"metadata": {"labels": {"app": "engine"}},
                                        "spec": gpu_pod("x", node, ns)["spec"]}}}
    cluster.apply(json.dumps(deployment))
    cluster.kubectl("rollout", "status", "deployment/engine", "-n", ns, "--timeout=60s")
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = ["--max-model-len=8192"]
    cluster.apply(json.dumps(deployment))
    proc = cluster.kubectl("rollout", "status", "deployment/engine", "-n", ns, "--timeout=20s", check=False)
    assert (proc.returncode == 0) is rolls, proc.stdout + proc.stderr
    pods = cluster.kubectl_json("get", "pods", "-n", ns)["items"]
    if rolls:
        assert [p["status"]["phase"] for p in pods] == ["Running"]
        assert pods[0]["spec"]["containers"][0]["args"] == ["--max-model-len=8192"]
    else:
        # the surge pod waits for a GPU the old pod holds; the old pod is not taken down (maxUnavailable 25% of 1 = 0)
        pending = [p for p in pods if p["status"]["phase"] == "Pending"]
        assert len(pending) == 1 and len(pods) == 2
        reasons = [c.get("message", "") for c in pending[0]["status"].get("conditions") or []]
        assert any("Insufficient nvidia.com/gpu" in r for r in reasons), reasons


def test_every_address_the_world_hands_out_is_loopback(cluster):
    for node in cluster.kubectl_json("get", "nodes")["items"]:
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                assert ipaddress.ip_address(address["address"]) in LOOPBACK, node["metadata"]["name"]
    for pod in cluster.kubectl_json("get", "pods", "-A")["items"]:
        for ip in [pod["status"].get("podIP")] + [i["ip"] for i in pod["status"].get("podIPs") or []]:
            if ip:
                assert ipaddress.ip_address(ip) in LOOPBACK, pod["metadata"]["name"]


def test_a_wait_that_times_out_says_why_in_the_clusters_words(cluster, tmp_path):
    """k8s_wait (every role's wait) fails with the pending conditions and the workload's Warning events."""
    ns = namespace(cluster)
    cluster.apply(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "engine", "namespace": ns},
                              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "engine"}},
                                       "template": {"metadata": {"labels": {"app": "engine"}},
                                                    "spec": gpu_pod("x", "controller", ns)["spec"]}}}))
    play = tmp_path / "wait.yml"
    play.write_text(yaml.safe_dump([{
        "name": "Wait", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "roles": [{"role": "tokenlabs.inference.k8s_wait", "vars": {
            "k8s_wait_api_version": "apps/v1", "k8s_wait_kind": "Deployment", "k8s_wait_namespace": ns,
            "k8s_wait_names": ["engine"], "k8s_wait_condition": "Available", "k8s_wait_timeout": 6,
            "k8s_wait_poll_interval": 2}}]}]))
    proc = cluster.ansible_playbook(str(play))
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())
    assert "did not reach Available=True within 6s" in out, out[-2000:]
    assert "Insufficient nvidia.com/gpu" in out, out[-2000:]
