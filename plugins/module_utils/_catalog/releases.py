# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The platform's release record: which release set and component versions the last site.yml installed.

site.yml writes it (a ConfigMap) once the CRDs have moved; the preflight compares it with the versions a run
would install and refuses a downgrade before anything is written -- CRDs, stored objects and Helm releases only
move forward (a CRD that stopped serving a version cannot be taken back by an older chart).

Private to this collection (not an API for other collections; it may change
without notice). No I/O: the record comes from the caller (``k8s_info``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog.models import version_tuple

RECORD_NAME = "tokenlabs-platform-release"
RELEASE_SET_KEY = "release-set"
# Component key -> what an operator calls it, and the variable that pins it.
COMPONENTS = {
    "gateway_api": ("Gateway API", "tokenlabs_gateway_api_version"),
    "envoy_gateway": ("Envoy Gateway", "tokenlabs_envoy_gateway_version"),
    "ai_gateway": ("Envoy AI Gateway", "tokenlabs_ai_gateway_version"),
    "kuadrant": ("kuadrant-operator", "tokenlabs_kuadrant_version"),
    "inference_extension": ("Gateway API Inference Extension", "tokenlabs_inference_extension_version"),
    "modelservice": ("llm-d-modelservice", "tokenlabs_modelservice_version"),
    "gpu_operator": ("NVIDIA GPU Operator", "tokenlabs_gpu_operator_version"),
}


def release_record(release_set, versions, namespace):
    """The ConfigMap recording ``versions`` (component key -> version) of ``release_set``."""
    data = {RELEASE_SET_KEY: release_set}
    data.update((key, versions[key]) for key in sorted(versions) if key in COMPONENTS)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": RECORD_NAME, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "tokenlabs.inference"}},
            "data": data}


def downgrades(recorded, versions, release_set):
    """Messages for every component ``versions`` would move below the recorded one (empty: none).

    ``recorded``: the record's data (None or {} when the cluster has none: nothing to compare).
    """
    messages = []
    for key in sorted(COMPONENTS):
        installed, wanted = (recorded or {}).get(key), versions.get(key)
        if not installed or not wanted:
            continue
        try:
            older = version_tuple(wanted) < version_tuple(installed)
        except ValueError:
            continue  # not a version: the version check names it
        if older:
            name, variable = COMPONENTS[key]
            messages.append("%s %s runs on the cluster (release set %s); %s %s (release set %s) would downgrade it"
                            % (name, installed, recorded.get(RELEASE_SET_KEY, "?"), variable, wanted, release_set))
    return messages
