"""Stand-in for the NVIDIA GPU Operator's controller: the ``nvidia`` RuntimeClass of each ClusterPolicy.

The real operator cannot run here: it deploys the NVIDIA driver, the container toolkit and the device plugin
onto GPU hosts, and its validators run CUDA on the GPU; none of that exists in the test world. Nor can its
controller be built at the pinned release: the Go module proxy refuses ``github.com/NVIDIA/gpu-operator@v25.10.1``
(``403 Forbidden: This module version is not available``). The chart itself is installed for real by the
``gpu_operator`` role (Helm waits for its Deployments and DaemonSets, whose pods KWOK runs); the GPUs the device
plugin would offer come from :mod:`testworld.device_plugin`.

What this stand-in does, following the operator's documented behaviour (GPU Operator docs, "ClusterPolicy":
``operator.runtimeClass``, default ``nvidia``; the operator creates the RuntimeClass together with the container
toolkit, ``handler: nvidia``, owned by the ClusterPolicy) and nothing more: for every ClusterPolicy it creates
that RuntimeClass if missing. It writes as the user ``system:gpu-operator-standin``, so the audit log tells its
writes apart from the collection's.

    python -m testworld.gpu_operator --kubeconfig K --status-file F
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testworld import controlplane
from testworld.base import State, process_status, run_passes, stop_process

NAME = "gpu-operator"
HANDLER = "nvidia"
DEFAULT_RUNTIME_CLASS = "nvidia"


def runtime_class(policy: dict) -> dict:
    """The RuntimeClass the operator creates for one ClusterPolicy (as a dict)."""
    meta = policy.get("metadata") or {}
    name = ((policy.get("spec") or {}).get("operator") or {}).get("runtimeClass") or DEFAULT_RUNTIME_CLASS
    return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "handler": HANDLER,
            "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "gpu-operator"},
                         "ownerReferences": [{"apiVersion": policy.get("apiVersion", "nvidia.com/v1"),
                                              "kind": "ClusterPolicy", "name": meta.get("name"),
                                              "uid": meta.get("uid"), "controller": True}]}}


def sync(custom, node) -> list:
    """One pass: the RuntimeClass of every ClusterPolicy created if missing; returns their names."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        policies = custom.list_cluster_custom_object("nvidia.com", "v1", "clusterpolicies").get("items") or []
    except ApiException as exc:
        if exc.status != 404:  # no ClusterPolicy CRD yet: nothing to do
            raise
        policies = []
    existing = {rc.metadata.name for rc in node.list_runtime_class().items}
    names = []
    for policy in policies:
        wanted = runtime_class(policy)
        names.append(wanted["metadata"]["name"])
        if wanted["metadata"]["name"] not in existing:
            node.create_runtime_class(wanted)
    return names


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--status-file", type=Path, required=True)
    args = parser.parse_args(argv)
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    api = config.new_client_from_config(config_file=args.kubeconfig)
    custom, node = client.CustomObjectsApi(api), client.NodeV1Api(api)
    run_passes("gpu-operator stand-in", lambda: sync(custom, node), args.status_file, args.interval)
    return 0


def up(state: State, timeout: float = 60.0) -> dict:
    return controlplane.start_standin(state, NAME, "gpu_operator", [], timeout)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return process_status(state, NAME)


if __name__ == "__main__":
    sys.exit(run())
