"""Stand-in for the NVIDIA device plugin: sets each GPU node's ``nvidia.com/gpu`` as the plugin would.

The real plugin (NVIDIA k8s-device-plugin, deployed by the GPU Operator) cannot run here: there is no
GPU and no kubelet device-plugin socket. This stand-in follows its documented behaviour (k8s-device-plugin
README, "Shared Access to GPUs with CUDA Time-Slicing"; GPU Operator docs, "Time-Slicing GPUs in
Kubernetes") and nothing more:

* the plugin's configurations are the entries of one ConfigMap (the chart's ``devicePlugin.config``,
  which the ``gpu_operator`` role renders: ``tokenlabs-device-plugin``); a node picks one with the label
  ``nvidia.com/device-plugin.config``; a node without the label gets the default configuration
  (``--default``), and without any configuration a GPU is not shared;
* with ``sharing.timeSlicing.resources: [{name: nvidia.com/gpu, replicas: N}]`` (``renameByDefault:
  false``) the node advertises N ``nvidia.com/gpu`` per physical GPU, otherwise one per GPU;
* physical GPUs per node: the label ``nvidia.com/gpu.count`` (set by GPU feature discovery), else 1 --
  a DGX Spark has one GB10;
* a changed ConfigMap or label changes the node's capacity on the next pass (every ``--interval`` s).

Only nodes labelled ``nvidia.com/gpu.present=true`` are GPU nodes. It writes node status (capacity and
allocatable) as the user ``system:device-plugin-standin``, so the audit log tells its writes apart.

    python -m testworld.device_plugin --kubeconfig K [--namespace gpu-operator] [--config-map NAME]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from testworld import controlplane
from testworld.base import State, process_status, run_passes, stop_process

NAME = "device-plugin"
RESOURCE = "nvidia.com/gpu"
CONFIG_LABEL = "nvidia.com/device-plugin.config"
GPU_NODE_SELECTOR = "nvidia.com/gpu.present=true"
COUNT_LABEL = "nvidia.com/gpu.count"


def replicas(config_text: str | None) -> int:
    """``nvidia.com/gpu`` per physical GPU under one device-plugin configuration (its YAML text)."""
    if not config_text:
        return 1
    config = yaml.safe_load(config_text) or {}
    for resource in (((config.get("sharing") or {}).get("timeSlicing") or {}).get("resources") or []):
        if resource.get("name") == RESOURCE:
            return max(1, int(resource.get("replicas") or 1))
    return 1


def advertised(node: dict, configs: dict, default: str | None) -> int:
    """What the device plugin would advertise on ``node`` (a Node as a dict) given the ConfigMap's data."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    chosen = labels.get(CONFIG_LABEL) or default
    try:
        gpus = int(labels.get(COUNT_LABEL) or 1)
    except ValueError:
        gpus = 1
    return gpus * replicas(configs.get(chosen) if chosen else None)


def sync(core, namespace: str, config_map: str, default: str | None) -> dict:
    """One pass: every GPU node's ``nvidia.com/gpu`` set as the plugin would; returns node -> count."""
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    try:
        configs = core.read_namespaced_config_map(config_map, namespace).data or {}
    except ApiException as exc:
        if exc.status != 404:
            raise
        configs = {}
    counts = {}
    for item in core.list_node(label_selector=GPU_NODE_SELECTOR).items:
        node = item.to_dict()
        name = node["metadata"]["name"]
        want = str(advertised({"metadata": {"labels": node["metadata"].get("labels")}}, configs, default))
        counts[name] = int(want)
        status = node.get("status") or {}
        if (status.get("capacity") or {}).get(RESOURCE) == want and (status.get("allocatable") or {}).get(RESOURCE) == want:
            continue
        core.patch_node_status(name, {"status": {"capacity": {RESOURCE: want}, "allocatable": {RESOURCE: want}}})
    return counts


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="gpu-operator")
    parser.add_argument("--config-map", default="tokenlabs-device-plugin")
    parser.add_argument("--default", default=None, help="configuration of nodes without the label")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--status-file", type=Path, required=True)
    args = parser.parse_args(argv)
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    core = client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig))
    run_passes("device-plugin stand-in", lambda: sync(core, args.namespace, args.config_map, args.default),
               args.status_file, args.interval)
    return 0


def up(state: State, namespace: str = "gpu-operator", config_map: str = "tokenlabs-device-plugin",
       default: str | None = "exclusive", timeout: float = 60.0) -> dict:
    extra = [f"--namespace={namespace}", f"--config-map={config_map}"] + ([f"--default={default}"] if default else [])
    return controlplane.start_standin(state, NAME, "device_plugin", extra, timeout)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return process_status(state, NAME)


if __name__ == "__main__":
    sys.exit(run())
