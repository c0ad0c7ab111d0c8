# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Where the catalog's model servers run: each model's pods against the node the catalog names.

Private to this collection (not an API for other collections; it may change
without notice). No I/O: the pods come from the caller (``k8s_info``).

The scheduler decides; this only reads its decision back. A model whose pod the
scheduler cannot place is reported with the scheduler's own reason (the
``PodScheduled=False`` condition, e.g. ``0/3 nodes are available: 1 Insufficient
nvidia.com/gpu, ...``); a pod placed on another node than the catalog's is
reported too (the chart's nodeSelector should make that impossible).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog.models import decode_deployment

MODEL_LABEL = "llm-d.ai/model"
ROLE_LABEL = "llm-d.ai/role"


def _condition(pod, kind):
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return {}


def _model_pods(pods, model):
    return [p for p in pods or []
            if ((p.get("metadata") or {}).get("labels") or {}).get(MODEL_LABEL) == model["name"]
            and ((p.get("metadata") or {}).get("labels") or {}).get(ROLE_LABEL, "decode") == "decode"
            and not (p.get("metadata") or {}).get("deletionTimestamp")]


def placement_problems(models, pods, namespace):
    """Why models are not running where the catalog puts them, one sentence per problem, in the scheduler's words."""
    problems = []
    for model in models or []:
        where = "model %s (Deployment %s/%s, catalog node %s)" % (
            model["name"], namespace, decode_deployment(model), model.get("node"))
        model_pods = _model_pods(pods, model)
        if not model_pods and model.get("replicas", 1) != 0:
            problems.append("%s: no pod exists" % where)
        for pod in sorted(model_pods, key=lambda p: p["metadata"]["name"]):
            name = pod["metadata"]["name"]
            scheduled = _condition(pod, "PodScheduled")
            node = (pod.get("spec") or {}).get("nodeName")
            if scheduled.get("status") == "False":
                problems.append("%s: pod %s cannot be scheduled, the scheduler says: %s" % (
                    where, name, scheduled.get("message") or scheduled.get("reason") or "no reason given"))
            elif node and model.get("node") and node != model["node"]:
                problems.append("%s: pod %s runs on node %s" % (where, name, node))
    return problems
