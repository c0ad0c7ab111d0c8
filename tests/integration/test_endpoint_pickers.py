"""The endpoint picker on the cluster: GAIE v1.5.0's ``cmd/epp`` (built from its Go module) for an InferencePool
the mirrored inferencepool chart installs with the collection's values, scraping the model servers
(llm-d-inference-sim) of the pool's pods and answering Envoy's ext_proc protocol
(:mod:`testworld.endpoint_pickers`, :mod:`testworld.endpoint_picker_client`)."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as catalog
from support.cluster import wait_for
from support.model_pods import MODEL, busy_replica, component, decode_deployment, status
from testworld.endpoint_picker_client import pick

NAMESPACE = "t-endpoint-picker"
POOL = catalog.pool_release(MODEL)
EPP_IMAGE = {"hub": "ghcr.io/llm-d", "name": "llm-d-inference-scheduler", "tag": "v0.8.0"}  # the current set's


def picker(control_plane) -> dict:
    return (status(control_plane, "endpoint-pickers").get("pickers") or {}).get(f"{NAMESPACE}/{POOL}") or {}


def served(control_plane) -> dict:
    """``{pod IP: model server status}`` of the namespace's pods."""
    return {s["ip"]: s for key, s in (status(control_plane, "model-servers").get("servers") or {}).items()
            if key.startswith(NAMESPACE + "/")}


@pytest.fixture(scope="module")
def pool(control_plane, tmp_path_factory):
    """The pool (chart release ``sim-pool``), two model pods with their simulators and the picker; the pods' IPs."""
    for name in ("model-servers", "endpoint-pickers"):
        up = component(control_plane, "up", name)
        assert up.returncode == 0, up.stderr
    control_plane.kubectl("create", "namespace", NAMESPACE)
    values = tmp_path_factory.mktemp("pool") / "values.yaml"
    values.write_text(yaml.safe_dump(catalog.inferencepool_values(MODEL, EPP_IMAGE, "engine_label")))
    try:
        control_plane.helm("install", POOL, str(control_plane.mirror / "charts" / "inferencepool-v1.5.0.tgz"),
                           "--namespace", NAMESPACE, "--values", str(values))
        control_plane.apply(json.dumps(decode_deployment(NAMESPACE, 2)))
        control_plane.kubectl("wait", "--for=condition=Available", f"deployment/{catalog.decode_deployment(MODEL)}",
                              "-n", NAMESPACE, "--timeout=90s")
        ips = sorted(p["status"]["podIP"] for p in
                     control_plane.kubectl_json("get", "pods", "-n", NAMESPACE, "-l", "llm-d.ai/model=sim")["items"])
        wait_for(lambda: len(served(control_plane)) == 2 and all(s["healthy"] for s in served(control_plane).values()),
                 60, "both model servers answering", control_plane)
        wait_for(lambda: picker(control_plane).get("ready_pods") == 2, 120,
                 "the picker counting the pool's two Ready pods", control_plane)
        yield ips
    finally:
        control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        for name in ("endpoint-pickers", "model-servers"):
            component(control_plane, "down", name)


def chat(prompt: str) -> dict:
    return {"model": MODEL["id"], "max_tokens": 16, "messages": [{"role": "user", "content": prompt}]}


def test_the_picker_runs_with_the_charts_configuration_and_sees_both_pods(control_plane, pool):
    current = picker(control_plane)
    assert current["endpoints"] == [f"{ip}:8000" for ip in pool] and current["ready_pods"] == 2
    assert "--config-file" in current["argv"] and current["argv"][current["argv"].index("--config-file") + 1] \
        .endswith(f"{NAMESPACE}/{POOL}/default-plugins.yaml")
    assert "--pool-name" in current["argv"] and current["argv"][current["argv"].index("--pool-name") + 1] == POOL


def test_a_request_is_sent_to_one_of_the_pools_endpoints(control_plane, pool):
    body = chat("Which node serves me?")
    result = pick(picker(control_plane)["ext_proc"], body)
    assert result.status is None and result.endpoint in {f"{ip}:8000" for ip in pool}
    assert result.metadata == {"envoy.lb": {"x-gateway-destination-endpoint": result.endpoint}}
    assert json.loads(result.body) == body


def test_a_body_without_a_model_is_refused_with_400(control_plane, pool):
    result = pick(picker(control_plane)["ext_proc"], {"messages": [{"role": "user", "content": "hi"}]})
    assert result.endpoint is None and result.status == 400


def test_a_repeated_prompt_stays_on_one_replica(control_plane, pool):
    prompt = "Summarise the operating manual of the DGX Spark cluster, chapter by chapter. " * 6  # > 64 characters
    endpoints = {pick(picker(control_plane)["ext_proc"], chat(prompt)).endpoint for _attempt in range(6)}
    assert len(endpoints) == 1 and endpoints <= {f"{ip}:8000" for ip in pool}


def test_a_busy_replica_is_avoided(control_plane, pool):
    busy, idle = pool
    # One request at a time on the busy replica, slow tokens: the simulator restarts with the pod's flags.
    pod = next(p["metadata"]["name"] for p in control_plane.kubectl_json("get", "pods", "-n", NAMESPACE)["items"]
               if p["status"].get("podIP") == busy)
    control_plane.kubectl("annotate", "pod", pod, "-n", NAMESPACE, "--overwrite",
                          'testworld.tokenlabs.io/simulator-args=["--max-num-seqs=1","--inter-token-latency=100ms"]')
    wait_for(lambda: served(control_plane)[busy]["extra_args"] and served(control_plane)[busy]["healthy"], 30,
             "the busy replica's simulator restarted with its flags", control_plane)

    def fresh_pick() -> str:
        return pick(picker(control_plane)["ext_proc"], chat(f"fresh prompt {uuid.uuid4()}")).endpoint

    with busy_replica(busy, MODEL["id"], control_plane):
        # The queue reaches the picker with its next scrape of the replicas' metrics (every 50 ms, later on a loaded
        # machine): from the first fresh prompt it sends to the idle replica on, every one goes there.
        wait_for(lambda: fresh_pick() == f"{idle}:8000", 10, "a fresh prompt picked for the idle replica", control_plane)
        picks = [fresh_pick() for _attempt in range(8)]
    assert picks == [f"{idle}:8000"] * 8


def test_a_pool_without_ready_pods_is_refused_with_503(control_plane, pool):
    control_plane.kubectl("scale", f"deployment/{catalog.decode_deployment(MODEL)}", "-n", NAMESPACE, "--replicas=0")
    wait_for(lambda: picker(control_plane).get("endpoints") == [] and picker(control_plane).get("ready_pods") == 0,
             60, "the picker seeing no endpoint", control_plane)
    result = pick(picker(control_plane)["ext_proc"], chat("anyone there?"))
    assert result.endpoint is None and result.status == 503
