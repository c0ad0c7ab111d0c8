# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Non-LLM services on the gateway (``tokenlabs_services``): text-to-speech and the like.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.

A service is a Deployment + Service in the serving namespace and an HTTPRoute on
the platform's Gateway for its paths (for example ``/v1/audio/speech``). The
Gateway's AuthPolicy and RateLimitPolicy cover every route of the Gateway, so a
service's requests need a tenant key and count against the tier's request
limits; token limits do not apply (the TokenRateLimitPolicy counts only the
model paths, and a service returns no OpenAI ``usage``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE

SERVICE_FIELDS = {
    "name": (True, "short name (DNS label): Deployment, Service and HTTPRoute names"),
    "image": (True, "container image with a tag or digest"),
    "node": (True, "Kubernetes node name (kubernetes.io/hostname) the service runs on"),
    "port": (True, "container port the service listens on (1-65535)"),
    "paths": (True, "URL path prefixes routed to it on the Gateway, e.g. [/v1/audio/speech]"),
    "gpu_memory_share": (False, "share of the node's GPU memory; set it to give the service the node's GPU"),
    "args": (False, "container arguments (list of strings)"),
    "env": (False, "environment variables (name -> value)"),
    "replicas": (False, "replicas (default 1)"),
    "resources": (False, "container resources (requests/limits)"),
}
# Paths the AIGatewayRoute serves for the models: no service may take them.
MODEL_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models")
MANAGED_BY = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, "tokenlabs.io/component": "service"}
PRUNE_KINDS = ({"api_version": "apps/v1", "kind": "Deployment"}, {"api_version": "v1", "kind": "Service"},
               {"api_version": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute"})
DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}}


def _path_problem(path):
    if not isinstance(path, str) or not path.startswith("/") or any(ch.isspace() for ch in path) or "?" in path:
        return "must be a URL path starting with '/' (no spaces, no query), e.g. /v1/audio/speech"
    if any(path == p or path.rstrip("/") == p for p in MODEL_PATHS) or path in ("/", "/v1", "/v1/"):
        return "is served to the models by the AIGatewayRoute (%s)" % ", ".join(MODEL_PATHS)
    return None


def validate_services(services, models=()):
    """Error messages for ``tokenlabs_services`` (empty when valid), each naming item, field, value, allowed."""
    if services is None:
        return []
    if not isinstance(services, list):
        return ["tokenlabs_services must be a list of services, got %s" % type(services).__name__]
    errors = []
    model_names = set(m.get("name") for m in models or [] if isinstance(m, dict))
    names, paths = {}, {}
    for index, service in enumerate(services):
        where = "tokenlabs_services[%d]" % index
        if not isinstance(service, dict):
            errors.append("%s must be a mapping with fields %s, got %r" % (where, ", ".join(SERVICE_FIELDS), service))
            continue
        if service.get("name"):
            where = "%s (%s)" % (where, service.get("name"))
        errors.extend(validation.field_errors(where, service, SERVICE_FIELDS))
        name = service.get("name")
        if name not in (None, ""):
            problem = validation.dns_label_problem("name", name, 40)
            if problem:
                errors.append("%s: %s" % (where, problem))
            elif name in names or name in model_names:
                errors.append("%s: name '%s' is taken (%s); names must be unique among services and models"
                              % (where, name, "tokenlabs_services[%d]" % names[name] if name in names
                                 else "a model of tokenlabs_models"))
            names.setdefault(name, index)
        port = service.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            errors.append("%s: port %r must be a TCP port number, 1-65535" % (where, port))
        service_paths = service.get("paths")
        if service_paths is not None and not isinstance(service_paths, list):
            errors.append("%s: paths %r must be a list of URL paths" % (where, service_paths))
            service_paths = []
        for path in service_paths or []:
            problem = _path_problem(path)
            if problem:
                errors.append("%s: path %r %s" % (where, path, problem))
            elif path in paths:
                errors.append("%s: path '%s' is already routed to %s; each path goes to one service"
                              % (where, path, paths[path]))
            else:
                paths[path] = service.get("name") or where
        share = service.get("gpu_memory_share")
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
            errors.append("%s: gpu_memory_share %r must be a number with 0 < share <= 1" % (where, share))
        replicas = service.get("replicas", 1)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            errors.append("%s: replicas %r must be an integer >= 0" % (where, replicas))
        args = service.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            errors.append("%s: args must be a list of strings, got %r" % (where, args))
        for field in ("env", "resources"):
            if service.get(field) is not None and not isinstance(service.get(field), dict):
                errors.append("%s: %s must be a mapping, got %r" % (where, field, service.get(field)))
    return errors + _memory_errors(services, models)


def _memory_errors(services, models):
    """Nodes whose models and GPU services ask for more than all of its GPU memory."""
    shares = {}
    for item in list(models or []) + [s for s in services if isinstance(s, dict) and uses_gpu(s)]:
        if not isinstance(item, dict) or item.get("replicas", 1) == 0 or not isinstance(item.get("node"), str):
            continue
        share = item.get("gpu_memory_share", 0.9)
        if isinstance(share, (int, float)) and not isinstance(share, bool):
            shares.setdefault(item["node"], []).append((share, item.get("name")))
    errors = []
    for node, entries in sorted(shares.items()):
        total = sum(share for share, _name in entries)
        if total > 1.0 + 1e-9 and any(uses_gpu(s) and s.get("node") == node for s in services if isinstance(s, dict)):
            errors.append("node '%s': gpu_memory_share of %s (models and services) adds up to %.2f; one node's "
                          "models and services may share at most 1.0 of its GPU memory"
                          % (node, ", ".join(str(name) for _share, name in entries), total))
    return errors


def uses_gpu(service):
    return service.get("gpu_memory_share") is not None


def labels(service):
    out = dict(MANAGED_BY)
    out.update({"app.kubernetes.io/name": service["name"], "app.kubernetes.io/part-of": "token-labs",
                "tokenlabs.io/service": service["name"]})
    return out


def render(service, namespace, gateway_name, gateway_namespace):
    """Deployment, Service and HTTPRoute of one service."""
    meta = {"name": service["name"], "namespace": namespace, "labels": labels(service)}
    selector = {"tokenlabs.io/service": service["name"]}
    resources = copy.deepcopy(service.get("resources") or DEFAULT_RESOURCES)
    pod = {"nodeSelector": {"kubernetes.io/hostname": service["node"]}}
    if uses_gpu(service):
        for section in ("requests", "limits"):
            resources.setdefault(section, {})["nvidia.com/gpu"] = "1"
        pod.update({"runtimeClassName": "nvidia",
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]})
    env = [{"name": str(k), "value": str(v)} for k, v in sorted((service.get("env") or {}).items())]
    if uses_gpu(service):
        env.append({"name": "TOKENLABS_GPU_MEMORY_SHARE", "value": str(service["gpu_memory_share"])})
    container = {"name": service["name"], "image": service["image"], "args": list(service.get("args") or []),
                 "env": env, "resources": resources,
                 "ports": [{"name": "http", "containerPort": service["port"], "protocol": "TCP"}]}
    pod["containers"] = [container]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": copy.deepcopy(meta),
                  "spec": {"replicas": service.get("replicas", 1), "selector": {"matchLabels": selector},
                           # one GPU per node: no surge pod
                           "strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                           "template": {"metadata": {"labels": dict(labels(service))}, "spec": pod}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": copy.deepcopy(meta),
           "spec": {"selector": selector,
                    "ports": [{"name": "http", "port": service["port"], "targetPort": "http", "protocol": "TCP"}]}}
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": copy.deepcopy(meta),
             "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway_name,
                                      "namespace": gateway_namespace}],
                      "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}
                                             for path in service["paths"]],
                                 "backendRefs": [{"name": service["name"], "port": service["port"]}]}]}}
    return [deployment, svc, route]


def render_all(services, namespace, gateway_name, gateway_namespace):
    out = []
    for service in services or []:
        out.extend(render(service, namespace, gateway_name, gateway_namespace))
    return out


def service_prune(namespace):
    """k8s_apply's ``prune`` for the services: the objects carrying :data:`MANAGED_BY` in ``namespace``."""
    return {"label_selector": ",".join("%s=%s" % (k, MANAGED_BY[k]) for k in sorted(MANAGED_BY)),
            "namespace": namespace, "kinds": [dict(kind) for kind in PRUNE_KINDS]}
