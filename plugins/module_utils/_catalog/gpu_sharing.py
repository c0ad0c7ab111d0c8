# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Sharing a node's GPU between the models the catalog puts on it (GPU Operator device plugin).

Private to this collection (not an API for other collections; it may change
without notice). No I/O.

A DGX Spark has one GB10 GPU. When the catalog (``tokenlabs_models``) places
several model replicas on one node, the device plugin offers that GPU as that
many ``nvidia.com/gpu`` by **time-slicing**, and every model keeps requesting one.
Time-slicing, not MPS: the device plugin's MPS mode splits GPU memory into equal
parts, while the catalog gives each model its own ``gpu_memory_share`` (0.8 for a
large model next to two small ones), which the engine enforces itself (vLLM
``--gpu-memory-utilization``, SGLang ``--mem-fraction-static``, TRT-LLM
``--kv_cache_free_gpu_memory_fraction``); the catalog check keeps the shares of a
node at or below 1. Time-slicing has no memory isolation, so those shares are the
guard.

The device plugin reads one ConfigMap with a config per sharing level, and each
node picks its config with the label ``nvidia.com/device-plugin.config``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CONFIG_MAP = "tokenlabs-device-plugin"
CONFIG_LABEL = "nvidia.com/device-plugin.config"
EXCLUSIVE = "exclusive"
RESOURCE = "nvidia.com/gpu"


def gpu_slices(models, services=()):
    """node -> how many ``nvidia.com/gpu`` its models and GPU services request (their replicas, default 1)."""
    slices = {}
    for model in list(models or []) + [s for s in services or [] if s.get("gpu_memory_share") is not None]:
        replicas = model.get("replicas", 1)
        slices[model["node"]] = slices.get(model["node"], 0) + (replicas if isinstance(replicas, int) else 1)
    return slices


def config_name(slices):
    return EXCLUSIVE if slices <= 1 else "time-slicing-%d" % slices


def config_text(slices):
    """The device-plugin configuration (its YAML text) for one sharing level."""
    text = "version: v1\nflags:\n  migStrategy: none\n"
    if slices > 1:
        text += ("sharing:\n  timeSlicing:\n    renameByDefault: false\n    failRequestsGreaterThanOne: true\n"
                 "    resources:\n      - name: %s\n        replicas: %d\n" % (RESOURCE, slices))
    return text


def device_plugin_config(models, services=()):
    """``devicePlugin.config`` values of the GPU Operator chart: one config per sharing level in the catalog."""
    levels = sorted(set(config_name(n) for n in gpu_slices(models, services).values()) | {EXCLUSIVE})
    data = {}
    for name in levels:
        data[name] = config_text(1 if name == EXCLUSIVE else int(name.rsplit("-", 1)[1]))
    return {"create": True, "name": CONFIG_MAP, "default": EXCLUSIVE, "data": data}


def node_label_patches(models, services=()):
    """Server-side-apply patches (labels only) choosing each catalog node's device-plugin config."""
    return [{"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": node, "labels": {CONFIG_LABEL: config_name(slices)}}}
            for node, slices in sorted(gpu_slices(models, services).items())]


def unknown_nodes(models, node_names, services=()):
    """Errors for catalog entries whose node is not one of ``node_names`` (the cluster's nodes)."""
    known = set(node_names or [])
    errors = []
    for variable, items in (("tokenlabs_models", models), ("tokenlabs_services", services)):
        errors.extend("%s[%d] (%s): node %r is not a node of the cluster; nodes: %s"
                      % (variable, index, item.get("name"), item.get("node"), ", ".join(sorted(known)) or "none")
                      for index, item in enumerate(items or []) if item.get("node") not in known)
    return errors
