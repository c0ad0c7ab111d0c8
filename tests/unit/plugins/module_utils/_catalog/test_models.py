"""Unit tests of the model catalog: validation, version pins, artifact sources,
Helm values and the AIGatewayRoute.

The rendered AIGatewayRoute is also checked against the CEL rules of the
mirrored AIGatewayRoute CRDs (v0.5.0 and v1.0.0) that matter here (one InferencePool per rule,
group and kind together, at most 128 rules).
"""

import copy
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as mc

REPO = Path(__file__).resolve().parents[5]

MODEL = {
    "id": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1",
    "name": "nemotron-nano-8b",
    "engine": "vllm",
    "node": "spark-01",
    "image": "ghcr.io/elizabetht/token-labs/vllm-serve:v0.4.0",
    "args": ["--dtype=bfloat16"],
    "gpu_memory_share": 0.8,
    "replicas": 1,
}
EPP = {"hub": "ghcr.io/llm-d", "name": "llm-d-inference-scheduler", "tag": "v0.5.0"}


def model(**changes):
    item = copy.deepcopy(MODEL)
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return item


def test_default_catalog_is_valid():
    defaults = yaml.safe_load((REPO / "roles/platform_defaults/defaults/main.yml").read_text())
    assert mc.validate_models(defaults["tokenlabs_models"]) == []
    assert len(defaults["tokenlabs_models"]) == 2


@pytest.mark.parametrize("field", ["id", "name", "engine", "node", "image"])
def test_missing_required_field_is_named(field):
    errors = mc.validate_models([model(**{field: None})])
    assert any("field '%s' is missing" % field in e for e in errors), errors


def test_empty_node_is_rejected():
    errors = mc.validate_models([model(node="")])
    assert errors == ["tokenlabs_models[0] (id nvidia/Llama-3.1-Nemotron-Nano-8B-v1): field 'node' is missing; "
                      "it is the Kubernetes node name (kubernetes.io/hostname) the model runs on"]


def test_duplicate_ids_and_names():
    errors = mc.validate_models([model(), model(node="spark-02")])
    assert any("duplicate model id 'nvidia/Llama-3.1-Nemotron-Nano-8B-v1' (also tokenlabs_models[0])" in e
               for e in errors)
    assert any("duplicate name 'nemotron-nano-8b'" in e for e in errors)


def test_unknown_engine_lists_allowed():
    errors = mc.validate_models([model(engine="ollama")])
    assert errors == ["tokenlabs_models[0] (id nvidia/Llama-3.1-Nemotron-Nano-8B-v1): engine 'ollama' is not "
                      "supported; allowed: vllm, sglang, trtllm"]


@pytest.mark.parametrize("image", ["vllm/vllm-openai", "vllm/vllm-openai:latest", "registry:5000/vllm",
                                   "ghcr.io/x/y@sha256:abc"])
def test_unpinned_images_are_rejected(image):
    errors = mc.validate_models([model(image=image)])
    assert len(errors) == 1 and "must be pinned" in errors[0], errors


@pytest.mark.parametrize("image", ["registry:5000/vllm:v1", "ghcr.io/x/y@sha256:" + "a" * 64, "vllm/vllm-openai:v0.11.0"])
def test_pinned_images_are_accepted(image):
    assert mc.validate_models([model(image=image)]) == []


def test_bad_values_are_all_reported():
    errors = mc.validate_models([model(name="Bad_Name", gpu_memory_share=1.5, replicas=-1, request_timeout="5 min",
                                       args="--x", colour="blue")])
    text = "\n".join(errors)
    for part in ("unknown field 'colour'", "name 'Bad_Name' must be a DNS label", "gpu_memory_share 1.5",
                 "replicas -1", "request_timeout '5 min'", "args must be a list of strings"):
        assert part in text, text


def test_managed_flags_are_rejected():
    errors = mc.validate_models([model(args=["--gpu-memory-utilization=0.5"])])
    assert "set by the platform" in errors[0]


def test_gpu_memory_over_commit_per_node():
    other = model(id="nvidia/Qwen3-14B-NVFP4", name="qwen3-14b", gpu_memory_share=0.3)
    errors = mc.validate_models([model(), other])
    assert errors == ["node 'spark-01': gpu_memory_share of nvidia/Llama-3.1-Nemotron-Nano-8B-v1, "
                      "nvidia/Qwen3-14B-NVFP4 adds up to 1.10; the models of one node must share at most 1.0 of its "
                      "GPU memory"]
    # A stopped model (replicas 0) does not use GPU memory.
    assert mc.validate_models([model(), dict(other, replicas=0)]) == []


def test_not_a_list():
    assert mc.validate_models({"id": "x"}) == ["tokenlabs_models must be a list of models, got dict"]


def test_versions():
    assert mc.validate_versions({"a": "v1.6.4", "b": "1.4.3"}) == []
    errors = mc.validate_versions({"tokenlabs_kuadrant_version": "latest", "x": 1.4})
    assert errors == ["tokenlabs_kuadrant_version: 'latest' is not a version; expected X.Y.Z or vX.Y.Z, e.g. v1.6.4",
                      "x: 1.4 is not a version; expected X.Y.Z or vX.Y.Z, e.g. v1.6.4"]
    assert mc.version_tuple("v1.4.3") > mc.version_tuple("1.4.2") > mc.version_tuple("1.4.1")


def test_chart_sources():
    oci = {"name": "gateway-helm", "version": "v1.6.4", "repo": "oci://docker.io/envoyproxy"}
    repo = {"name": "kuadrant-operator", "version": "1.4.3", "repo": "https://kuadrant.io/helm-charts"}
    assert mc.chart_source(oci) == {"chart_ref": "oci://docker.io/envoyproxy/gateway-helm", "chart_version": "v1.6.4",
                                    "chart_repo_url": None}
    assert mc.chart_source(repo) == {"chart_ref": "kuadrant-operator", "chart_version": "1.4.3",
                                     "chart_repo_url": "https://kuadrant.io/helm-charts/"}
    assert mc.chart_source(repo, "/m") == {"chart_ref": "/m/charts/kuadrant-operator-1.4.3.tgz",
                                           "chart_version": None, "chart_repo_url": None}


@pytest.mark.parametrize("release_set", ["current", "reference"])
def test_mirror_holds_every_chart_and_crd_directory_of_each_release_set(release_set):
    """Every chart and CRD directory a release set names exists where the roles look for it."""
    mirror = os.environ.get("TOKENLABS_MIRROR") or str(REPO.parent / "shared")
    if not os.path.isdir(os.path.join(mirror, "charts")):
        pytest.skip("no artifact mirror")
    defaults = yaml.safe_load((REPO / "roles/platform_defaults/defaults/main.yml").read_text())
    release = defaults["tokenlabs_release_sets"][release_set]
    versions = {"tokenlabs_%s_version" % name: c["version"] for name, c in release["components"].items()}
    for chart in defaults["tokenlabs_platform_charts"].values():
        chart = dict(chart, version=versions[chart["version"].strip("{} ")])
        assert os.path.exists(mc.chart_source(chart, mirror)["chart_ref"]), chart
    for project, component in (("gateway-api", "gateway_api"),
                               ("gateway-api-inference-extension", "inference_extension")):
        crd_dir = release["mirror_crds"].format(project=project, version=release["components"][component]["version"])
        assert any(Path(mirror, crd_dir).glob("*.yaml")), crd_dir


def test_inferencepool_values():
    values = mc.inferencepool_values(MODEL, EPP)
    assert values["inferencePool"]["modelServers"]["matchLabels"] == {"llm-d.ai/inference-serving": "true",
                                                                      "llm-d.ai/model": "nemotron-nano-8b"}
    assert values["inferenceExtension"]["image"]["hub"] == "ghcr.io/llm-d"
    assert values["inferenceExtension"]["image"]["name"] == "llm-d-inference-scheduler"
    assert values["provider"] == {"name": "none"}
    assert mc.inferencepool_values(model(engine="trtllm"), EPP)["inferencePool"]["modelServerType"] == \
        "triton-tensorrt-llm"
    assert "total-queued-requests-metric" in mc.inferencepool_values(model(engine="sglang"), EPP)[
        "inferenceExtension"]["flags"]
    assert values["inferenceExtension"]["failureMode"] == "FailClose"


def test_inferencepool_values_for_gaie_v1_5_name_engines_by_pod_label():
    """GAIE v1.5 refuses the --*-metric flags; the pods name their engine instead (the current release set)."""
    sglang, trtllm = model(engine="sglang"), model(engine="trtllm")
    values = mc.inferencepool_values(sglang, EPP, "engine_label")
    assert values["inferenceExtension"]["flags"] == {"v": 1}
    assert values["inferencePool"]["modelServerType"] == "vllm"
    assert values["inferenceExtension"]["image"]["registry"] == "ghcr.io"
    assert values["inferenceExtension"]["image"]["repository"] == "llm-d/llm-d-inference-scheduler"
    assert mc.model_labels(sglang, "engine_label")["inference.networking.k8s.io/engine-type"] == "sglang"
    assert mc.model_labels(trtllm, "engine_label")["inference.networking.k8s.io/engine-type"] == "trtllm-serve"
    assert "inference.networking.k8s.io/engine-type" not in mc.model_labels(MODEL, "engine_label")  # vLLM: default
    assert "inference.networking.k8s.io/engine-type" not in mc.model_labels(sglang)  # reference set: selector kept
    assert mc.inferencepool_values(trtllm, EPP, "engine_label")["inferenceExtension"]["metricsDataSource"] == \
        {"path": "/prometheus/metrics"}
    assert mc.modelservice_values(sglang, engine_metrics="engine_label")["modelArtifacts"]["labels"] == \
        mc.model_labels(sglang, "engine_label")
    with pytest.raises(ValueError, match="engine_metrics 'x' is not one of flags, engine_label"):
        mc.inferencepool_values(MODEL, EPP, "x")


def test_modelservice_values_vllm():
    values = mc.modelservice_values(MODEL, "hf-token")
    decode = values["decode"]
    container = decode["containers"][0]
    assert values["fullnameOverride"] == "nemotron-nano-8b"
    assert values["modelArtifacts"]["authSecretName"] == "hf-token"
    assert values["modelArtifacts"]["labels"] == mc.model_labels(MODEL)
    assert values["routing"]["proxy"] == {"enabled": False}
    assert decode["extraConfig"] == {"runtimeClassName": "nvidia"}
    assert decode["nodeSelector"] == {"kubernetes.io/hostname": "spark-01"}
    assert container["modelCommand"] == "vllmServe"
    assert container["args"] == ["--gpu-memory-utilization=0.8", "--enable-force-include-usage", "--dtype=bfloat16"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "authSecretName" not in mc.modelservice_values(MODEL)["modelArtifacts"]


@pytest.mark.parametrize("engine,command,share_flag", [("sglang", "python3", "--mem-fraction-static"),
                                                       ("trtllm", "trtllm-serve", "--kv_cache_free_gpu_memory_fraction")])
def test_modelservice_values_other_engines(engine, command, share_flag):
    container = mc.modelservice_values(model(engine=engine, args=[]))["decode"]["containers"][0]
    assert container["modelCommand"] == "custom"
    assert container["command"][0] == command
    assert share_flag in container["args"] and "8000" in container["args"]


def test_decode_strategy_patch():
    patch = mc.decode_strategy_patch(MODEL, "token-labs")
    assert patch["metadata"] == {"name": "nemotron-nano-8b-decode", "namespace": "token-labs"}
    assert patch["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_aigatewayroute_one_pool_per_rule():
    other = model(id="nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-FP8", name="nemotron-vl-12b", node="spark-02",
                  request_timeout="600s")
    costs = [{"metadataKey": "llm_total_token", "type": "TotalToken"}]
    route = mc.aigatewayroute([MODEL, other], "llm-inference", "token-labs", "token-labs-gateway", llm_request_costs=costs)
    assert route["metadata"] == {"name": "llm-inference", "namespace": "token-labs"}
    assert route["apiVersion"] == "aigateway.envoyproxy.io/v1beta1"  # AI Gateway v1.0 (current release set)
    reference = mc.aigatewayroute([MODEL], "r", "ns", "gw", api_version="aigateway.envoyproxy.io/v1alpha1")
    assert reference["apiVersion"] == "aigateway.envoyproxy.io/v1alpha1"
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": "token-labs-gateway", "namespace": "token-labs"}]
    assert route["spec"]["llmRequestCosts"] == costs
    rules = route["spec"]["rules"]
    assert [r["matches"][0]["headers"][0]["value"] for r in rules] == [MODEL["id"], other["id"]]
    assert [r["backendRefs"] for r in rules] == [
        [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "nemotron-nano-8b-pool"}],
        [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "nemotron-vl-12b-pool"}]]
    assert [r["timeouts"] for r in rules] == [{"request": "300s"}, {"request": "600s"}]
    for rule in rules:  # the CRD's CEL rules
        assert len([b for b in rule["backendRefs"] if b.get("kind") == "InferencePool"]) <= 1
        assert all(("group" in b) == ("kind" in b) for b in rule["backendRefs"])


def test_too_many_models_for_one_route():
    many = [model(id="m/%d" % i, name="m%d" % i, node="n%d" % i) for i in range(16)]
    assert "at most 15 rules" in mc.validate_models(many)[0]
    assert mc.validate_models(many[:15]) == []


def test_stale_releases_are_only_the_collections_own():
    releases = [{"name": "nemotron-nano-8b-pool", "chart": "inferencepool-v1.3.0"},
                {"name": "nemotron-nano-8b-modelservice", "chart": "llm-d-modelservice-v0.4.5"},
                {"name": "gone-pool", "chart": "inferencepool-v1.3.0"},
                {"name": "gone-modelservice", "chart": "llm-d-modelservice-v0.4.5"},
                {"name": "someone-elses-pool", "chart": "postgres-1.0.0"},  # not a chart this role installs
                {"name": "redis", "chart": "redis-19.0.0"}]
    assert mc.stale_releases([MODEL], releases) == ["gone-modelservice", "gone-pool"]
    assert mc.stale_releases([], []) == []


def test_decode_selector_changes_when_the_release_set_labels_pods_differently():
    sglang = model(engine="sglang", name="qwen3-8b")

    def deployment(mdl, engine_metrics):
        return {"metadata": {"name": mc.decode_deployment(mdl)},
                "spec": {"selector": {"matchLabels": dict(mc.model_labels(mdl, engine_metrics), **{"llm-d.ai/role": "decode"})}}}

    reference = [deployment(MODEL, "flags"), deployment(sglang, "flags")]
    # moving to GAIE v1.5: only the sglang Deployment gets a new selector label
    assert mc.decode_selector_changes([MODEL, sglang], reference, "engine_label") == ["qwen3-8b-decode"]
    assert mc.decode_selector_changes([MODEL, sglang], reference, "flags") == []
    current = [deployment(MODEL, "engine_label"), deployment(sglang, "engine_label")]
    assert mc.decode_selector_changes([MODEL, sglang], current, "engine_label") == []
    assert mc.decode_selector_changes([sglang], [], "engine_label") == []  # not installed yet
