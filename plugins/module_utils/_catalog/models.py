# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The model catalog (``tokenlabs_models``) and what the platform derives from it.

Private to this collection (not an API for other collections).

Functions without I/O, no Ansible or Kubernetes imports: validation of the catalog and
of version pins, where each artifact comes from (upstream or a local mirror),
the Helm values of the InferencePool/EPP and llm-d-modelservice releases of
each model, and the AIGatewayRoute that sends each served model id to its
InferencePool.  The filter plugin ``tokenlabs.inference.platform`` exposes
them to the roles; tests/unit/plugins/module_utils/_catalog/test_models.py covers them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation

ENGINES = ("vllm", "sglang", "trtllm")

# Catalog item fields: name -> (required, description)
MODEL_FIELDS = {
    "id": (True, "served model id clients send as 'model', e.g. nvidia/Llama-3.1-Nemotron-Nano-8B-v1"),
    "name": (True, "short name (DNS label, at most 35 characters): release, pool and Deployment names"),
    "engine": (True, "one of " + ", ".join(ENGINES)),
    "node": (True, "Kubernetes node name (kubernetes.io/hostname) the model runs on"),
    "image": (True, "engine container image with a tag or digest"),
    "args": (False, "extra engine arguments (list of strings)"),
    "gpu_memory_share": (False, "share of the node's GPU memory for this model, 0 < share <= 1 (default 0.9)"),
    "replicas": (False, "decode replicas (default 1; 0 keeps the route and pool but stops the model)"),
    "request_timeout": (False, "AIGatewayRoute request timeout, e.g. 300s (default 300s)"),
    "resources": (False, "container resources (requests/limits); nvidia.com/gpu: 1 is always set"),
    "env": (False, "extra environment variables for the engine container (name -> value)"),
}

DEFAULT_GPU_MEMORY_SHARE = 0.9
DEFAULT_REQUEST_TIMEOUT = "300s"
# How the endpoint picker learns a non-vLLM engine's metric names (release set data, see inferencepool_values).
ENGINE_METRICS = ("flags", "engine_label")
ENGINE_TYPE_LABEL = "inference.networking.k8s.io/engine-type"
ENGINE_TYPES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "trtllm-serve"}
# The current release set's AIGatewayRoute version (Envoy AI Gateway v1.0); the reference set's is v1alpha1.
AIGATEWAY_API_VERSION = "aigateway.envoyproxy.io/v1beta1"
# Host-side requests of one engine process. Four models share spark-02 in the reference catalog: with the
# former 32Gi each they asked 128Gi of a GB10 whose kubelet offers about 119-125Gi, and the real scheduler
# refused the fourth ("Insufficient memory"). The engines' weights and KV cache are bounded by
# gpu_memory_share, not by these requests; override with the model's `resources`.
DEFAULT_RESOURCES = {
    "requests": {"cpu": "4", "memory": "16Gi"},
    "limits": {"cpu": "8", "memory": "64Gi"},
}
SERVING_PORT = 8000
# One AIGatewayRoute rule per model. AI Gateway copies the rules into an HTTPRoute (at most 16 rules) and adds
# its own catch-all rule: 15 models per route in v0.5.0 already, and the v1beta1 CRD says spec.rules maxItems 15.
MAX_ROUTE_RULES = 15
MAX_NAME_LENGTH = 35   # "<name>-pool" stays within the 40 characters the inferencepool chart keeps

# Arguments the platform sets itself from catalog fields (per engine).
MANAGED_ARGS = {
    "vllm": ("--port", "--served-model-name", "--gpu-memory-utilization", "--model"),
    "sglang": ("--port", "--host", "--served-model-name", "--mem-fraction-static", "--model-path"),
    "trtllm": ("--port", "--host", "--kv_cache_free_gpu_memory_fraction"),
}
# vLLM: put usage into every streamed response, so token quotas also count
# streaming clients that do not ask for stream_options.include_usage.
VLLM_FORCE_USAGE_FLAG = "--enable-force-include-usage"

DNS_LABEL = validation.DNS_LABEL_RE
DURATION = validation.GATEWAY_DURATION_RE
VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+$")
IMAGE_PINNED = re.compile(r"^[^\s@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _image_is_pinned(image):
    """True when the image reference carries a tag (not :latest) or a digest."""
    if not IMAGE_PINNED.match(image):
        return False
    last = image.rsplit("/", 1)[-1]
    if "@" not in image and ":" not in last:
        return False  # the only ':' is a registry port
    return not image.endswith(":latest")


def validate_models(models):
    """Return a list of error messages for the catalog; empty when it is valid.

    Every message names the item, the field, the value and what is allowed.
    """
    errors = []
    if not isinstance(models, list):
        return ["tokenlabs_models must be a list of models, got %s" % type(models).__name__]
    if len(models) > MAX_ROUTE_RULES:
        errors.append("tokenlabs_models has %d models; the AIGatewayRoute allows at most %d rules"
                      % (len(models), MAX_ROUTE_RULES))
    seen_ids = {}
    seen_names = {}
    share_per_node = {}
    for index, model in enumerate(models):
        where = "tokenlabs_models[%d]" % index
        if not isinstance(model, dict):
            errors.append("%s must be a mapping with fields %s, got %r" % (where, ", ".join(MODEL_FIELDS), model))
            continue
        if model.get("id"):
            where = "%s (id %s)" % (where, model.get("id"))
        errors.extend(validation.field_errors(where, model, MODEL_FIELDS))
        for field in ("id", "name", "node", "image"):
            value = model.get(field)
            if value not in (None, "") and not isinstance(value, str):
                errors.append("%s: field '%s' must be a string, got %r" % (where, field, value))
        model_id = model.get("id")
        if isinstance(model_id, str) and model_id:
            if model_id in seen_ids:
                errors.append("%s: duplicate model id '%s' (also tokenlabs_models[%d]); ids must be unique"
                              % (where, model_id, seen_ids[model_id]))
            else:
                seen_ids[model_id] = index
            if any(ch.isspace() for ch in model_id):
                errors.append("%s: id '%s' must not contain whitespace" % (where, model_id))
        name = model.get("name")
        if isinstance(name, str) and name:
            if not DNS_LABEL.match(name) or len(name) > MAX_NAME_LENGTH:
                errors.append("%s: name '%s' must be a DNS label (lowercase letters, digits, '-') of at most %d "
                              "characters" % (where, name, MAX_NAME_LENGTH))
            if name in seen_names:
                errors.append("%s: duplicate name '%s' (also tokenlabs_models[%d]); names must be unique"
                              % (where, name, seen_names[name]))
            else:
                seen_names[name] = index
        engine = model.get("engine")
        if engine not in (None, "") and engine not in ENGINES:
            errors.append("%s: engine '%s' is not supported; allowed: %s" % (where, engine, ", ".join(ENGINES)))
        image = model.get("image")
        if isinstance(image, str) and image and not _image_is_pinned(image):
            errors.append("%s: image '%s' must be pinned with a tag (not latest) or a @sha256 digest"
                          % (where, image))
        args = model.get("args", [])
        if args is None:
            args = []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            errors.append("%s: args must be a list of strings, got %r" % (where, args))
        elif engine in MANAGED_ARGS:
            for arg in args:
                flag = arg.split("=", 1)[0]
                if flag in MANAGED_ARGS[engine]:
                    errors.append("%s: argument '%s' is set by the platform (from id, gpu_memory_share and the "
                                  "serving port); remove it from args" % (where, arg))
        share = model.get("gpu_memory_share", DEFAULT_GPU_MEMORY_SHARE)
        if not _is_number(share) or not 0 < share <= 1:
            errors.append("%s: gpu_memory_share %r must be a number with 0 < share <= 1" % (where, share))
            share = 0
        replicas = model.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            errors.append("%s: replicas %r must be an integer >= 0" % (where, replicas))
            replicas = 0
        timeout = model.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)
        if not isinstance(timeout, str) or not DURATION.match(timeout):
            errors.append("%s: request_timeout %r must be a duration such as 300s or 5m" % (where, timeout))
        for field in ("resources", "env"):
            if model.get(field) is not None and not isinstance(model.get(field), dict):
                errors.append("%s: %s must be a mapping, got %r" % (where, field, model.get(field)))
        node = model.get("node")
        if isinstance(node, str) and node and replicas > 0:
            share_per_node.setdefault(node, []).append((share, model_id))
    for node, shares in sorted(share_per_node.items()):
        total = sum(entry[0] for entry in shares)
        if total > 1.0 + 1e-9:
            errors.append("node '%s': gpu_memory_share of %s adds up to %.2f; the models of one node must share at "
                          "most 1.0 of its GPU memory" % (node, ", ".join(str(entry[1]) for entry in shares), total))
    return errors


def validate_versions(versions):
    """``versions``: variable name -> value.  Return error messages for values that are not versions."""
    errors = []
    for name, value in sorted(versions.items()):
        if not isinstance(value, str) or not VERSION.match(value):
            errors.append("%s: %r is not a version; expected X.Y.Z or vX.Y.Z, e.g. v1.6.4" % (name, value))
    return errors


def version_tuple(value):
    """'v1.4.3' -> (1, 4, 3)."""
    return tuple(int(part) for part in value.lstrip("v").split("."))


def chart_archive(chart):
    """File name of a chart in a mirror: ``<name>-<version>.tgz`` (as helm package writes it)."""
    return "%s-%s.tgz" % (chart["name"], chart["version"])


def chart_source(chart, mirror_dir=None):
    """kubernetes.core.helm/helm_template arguments for ``chart`` (name, version, repo).

    ``repo`` is ``oci://registry/path`` (chart_ref ``<repo>/<name>``) or an HTTP(S)
    chart repository URL (chart_repo_url).  With a mirror directory the archive
    ``<mirror>/charts/<name>-<version>.tgz`` is used and no network is needed.
    """
    if mirror_dir:
        return {"chart_ref": os.path.join(mirror_dir, "charts", chart_archive(chart)),
                "chart_version": None, "chart_repo_url": None}
    repo = chart["repo"].rstrip("/")
    if repo.startswith("oci://"):
        return {"chart_ref": "%s/%s" % (repo, chart["name"]), "chart_version": chart["version"],
                "chart_repo_url": None}
    return {"chart_ref": chart["name"], "chart_version": chart["version"], "chart_repo_url": repo + "/"}


def pool_release(model):
    """Helm release of the model's InferencePool + EPP; the InferencePool is named after it."""
    return "%s-pool" % model["name"]


def modelservice_release(model):
    """Helm release of the model's llm-d-modelservice (decode Deployment ``<name>-decode``)."""
    return "%s-modelservice" % model["name"]


# The charts of the releases this collection installs per model, and the release name suffixes it uses.
MODEL_RELEASE_KINDS = (("inferencepool-", "-pool"), ("llm-d-modelservice-", "-modelservice"))


def stale_releases(models, releases):
    """Releases (``helm list -o json`` items of the serving namespace) of models no longer in the catalog.

    Only releases this collection makes for a model count: an inferencepool chart release named
    ``<name>-pool`` or an llm-d-modelservice release named ``<name>-modelservice``.
    """
    wanted = set(pool_release(m) for m in models or []) | set(modelservice_release(m) for m in models or [])
    stale = []
    for release in releases or []:
        name, chart = release.get("name", ""), release.get("chart", "")
        ours = any(chart.startswith(prefix) and name.endswith(suffix) for prefix, suffix in MODEL_RELEASE_KINDS)
        if ours and name not in wanted:
            stale.append(name)
    return sorted(stale)


def decode_deployment(model):
    return "%s-decode" % model["name"]


def model_labels(model, engine_metrics="flags"):
    """The model server pods' labels (the pool selects them; llm-d-modelservice also makes them the Deployment's
    selector). With ``engine_metrics`` ``engine_label`` a non-vLLM pod also names its engine for the endpoint
    picker's metrics extractor (GAIE v1.5)."""
    labels = {"llm-d.ai/inference-serving": "true", "llm-d.ai/model": model["name"]}
    if engine_metrics == "engine_label" and model["engine"] != "vllm":
        labels[ENGINE_TYPE_LABEL] = ENGINE_TYPES[model["engine"]]
    return labels


def inferencepool_values(model, epp_image, engine_metrics="flags"):
    """Values of the inferencepool chart for ``model``.

    ``epp_image``: {hub, name, tag} of an arm64-capable endpoint picker (the upstream EPP image is
    amd64-only); written both as hub/name (inferencepool up to v1.3) and registry/repository (v1.4 on),
    each chart ignoring the other's keys.
    ``engine_metrics``: how the endpoint picker learns a non-vLLM engine's metric names -- ``flags``
    (GAIE v1.3: ``--*-metric`` flags) or ``engine_label`` (GAIE v1.5 refuses those flags; its metrics extractor
    maps each pod by its ``inference.networking.k8s.io/engine-type`` label, see :func:`model_labels`).
    Either way the pool fails closed: no endpoint picker, no traffic (the v1.5 chart's default is FailOpen).
    """
    if engine_metrics not in ENGINE_METRICS:
        raise ValueError("engine_metrics %r is not one of %s" % (engine_metrics, ", ".join(ENGINE_METRICS)))
    engine = model["engine"]
    registry, _sep, namespace = epp_image["hub"].partition("/")
    values = {
        "inferencePool": {
            "modelServers": {"matchLabels": model_labels(model)},
            "targetPorts": [{"number": SERVING_PORT}],
            "modelServerType": "triton-tensorrt-llm" if engine == "trtllm" and engine_metrics == "flags" else "vllm",
        },
        "inferenceExtension": {
            "replicas": 1,
            "image": {"hub": epp_image["hub"], "name": epp_image["name"], "tag": epp_image["tag"],
                      "registry": registry,
                      "repository": "/".join(part for part in (namespace, epp_image["name"]) if part),
                      "pullPolicy": "IfNotPresent"},
            "failureMode": "FailClose",
            "flags": {"v": 1},
            "monitoring": {"prometheus": {"enabled": False, "auth": {"enabled": False}}},
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                          "limits": {"cpu": "2", "memory": "1Gi"}},
        },
        "provider": {"name": "none"},
    }
    if engine == "sglang" and engine_metrics == "flags":
        values["inferenceExtension"]["flags"].update({
            "total-queued-requests-metric": "sglang:num_queue_reqs",
            "kv-cache-usage-percentage-metric": "sglang:token_usage",
            "lora-info-metric": "",
        })
    if engine == "trtllm" and engine_metrics == "engine_label":
        values["inferenceExtension"]["metricsDataSource"] = {"path": "/prometheus/metrics"}
    return values


def engine_container(model):
    """Container entry for llm-d-modelservice ``decode.containers``."""
    engine = model["engine"]
    share = model.get("gpu_memory_share", DEFAULT_GPU_MEMORY_SHARE)
    extra = list(model.get("args") or [])
    container = {"name": engine, "image": model["image"]}
    if engine == "vllm":
        container["modelCommand"] = "vllmServe"
        container["args"] = ["--gpu-memory-utilization=%s" % share, VLLM_FORCE_USAGE_FLAG] + extra
    elif engine == "sglang":
        container["modelCommand"] = "custom"
        container["command"] = ["python3", "-m", "sglang.launch_server"]
        container["args"] = ["--model-path", model["id"], "--served-model-name", model["id"],
                             "--host", "0.0.0.0", "--port", str(SERVING_PORT),
                             "--mem-fraction-static", str(share), "--enable-metrics"] + extra
    else:  # trtllm
        container["modelCommand"] = "custom"
        container["command"] = ["trtllm-serve", model["id"]]
        container["args"] = ["--host", "0.0.0.0", "--port", str(SERVING_PORT),
                             "--kv_cache_free_gpu_memory_fraction", str(share)] + extra
    resources = copy.deepcopy(model.get("resources") or DEFAULT_RESOURCES)
    for section in ("requests", "limits"):
        resources.setdefault(section, {})["nvidia.com/gpu"] = "1"
    container["resources"] = resources
    env = [{"name": "HF_HOME", "value": "/model-cache/huggingface"}]
    env.extend({"name": str(k), "value": str(v)} for k, v in sorted((model.get("env") or {}).items()))
    container["env"] = env
    container["ports"] = [{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}]
    health = {"httpGet": {"path": "/health", "port": SERVING_PORT}}
    container["startupProbe"] = dict(health, initialDelaySeconds=30, periodSeconds=10, failureThreshold=90,
                                     timeoutSeconds=5)
    container["readinessProbe"] = dict(health, periodSeconds=15, failureThreshold=3, timeoutSeconds=5)
    container["livenessProbe"] = dict(health, periodSeconds=30, failureThreshold=3, timeoutSeconds=10)
    container["mountModelVolume"] = True
    return container


def modelservice_values(model, hf_token_secret=None, runtime_class="nvidia", engine_metrics="flags"):
    """Values of the llm-d-modelservice chart for ``model`` (decode only, no P/D routing sidecar).

    ``decode.strategy`` (llm-d-modelservice v0.4.12 on; earlier releases ignore it and get
    :func:`decode_strategy_patch`): rolling updates that fit one GPU per node."""
    artifacts = {"name": model["id"], "uri": "hf://%s" % model["id"], "labels": model_labels(model, engine_metrics)}
    if hf_token_secret:
        artifacts["authSecretName"] = hf_token_secret
    return {
        "fullnameOverride": model["name"],
        "modelArtifacts": artifacts,
        "routing": {"servicePort": SERVING_PORT, "proxy": {"enabled": False}},
        "decode": {
            "create": True,
            "replicas": model.get("replicas", 1),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "parallelism": {"tensor": 1},
            "extraConfig": {"runtimeClassName": runtime_class},
            "nodeSelector": {"kubernetes.io/hostname": model["node"]},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [engine_container(model)],
        },
        "prefill": {"create": False},
    }


def decode_selector_changes(models, deployments, engine_metrics="flags"):
    """Names of existing decode Deployments (``deployments``: Deployment objects) whose pod selector differs from
    the labels ``models`` now get -- Kubernetes refuses to change a selector, so they must be recreated."""
    existing = {d["metadata"]["name"]: ((d.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                for d in deployments}
    changes = []
    for model in models:
        name = decode_deployment(model)
        if name in existing:
            # the chart's own labels (llm-d.ai/role ...) are in the selector too: compare ours only
            ours = {k: v for k, v in existing[name].items() if k.startswith("llm-d.ai/inference-serving")
                    or k == "llm-d.ai/model" or k == ENGINE_TYPE_LABEL}
            if ours != model_labels(model, engine_metrics):
                changes.append(name)
    return changes


def decode_strategy_patch(model, namespace):
    """Server-side-apply patch: rolling updates that fit one GPU per node (no surge pod)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": decode_deployment(model), "namespace": namespace},
        "spec": {"strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}},
    }


def aigatewayroute(models, name, namespace, gateway_name, gateway_namespace=None, llm_request_costs=None,
                   api_version=AIGATEWAY_API_VERSION):
    """The AIGatewayRoute: one rule per model, header x-ai-eg-model -> the model's InferencePool.

    ``api_version`` is the release set's (``aigateway.envoyproxy.io/v1beta1`` from AI Gateway v1.0,
    ``v1alpha1`` before); the fields used here are the same in both."""
    rules = []
    for model in models:
        rules.append({
            "matches": [{"headers": [{"type": "Exact", "name": "x-ai-eg-model", "value": model["id"]}]}],
            "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                             "name": pool_release(model)}],
            "timeouts": {"request": model.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)},
        })
    spec = {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway_name,
                        "namespace": gateway_namespace or namespace}],
        "rules": rules,
    }
    if llm_request_costs:
        spec["llmRequestCosts"] = copy.deepcopy(llm_request_costs)
    return {"apiVersion": api_version, "kind": "AIGatewayRoute",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
