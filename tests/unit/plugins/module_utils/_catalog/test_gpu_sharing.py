"""GPU sharing from the catalog: replicas per node, the device-plugin configs, the node labels."""

from __future__ import annotations

import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing

# The reference topology: one large model alone on spark-01, three models on spark-02.
SEED = [
    {"name": "nemotron-super", "node": "spark-01"},
    {"name": "r1-qwen-7b", "node": "spark-02"},
    {"name": "llama-8b", "node": "spark-02"},
    {"name": "qwen-7b", "node": "spark-02", "replicas": 1},
    {"name": "parked", "node": "spark-03", "replicas": 0},
]


def test_replicas_per_node_follow_the_catalog():
    assert gpu_sharing.gpu_slices(SEED) == {"spark-01": 1, "spark-02": 3, "spark-03": 0}


def test_each_node_gets_the_config_of_its_sharing_level():
    assert gpu_sharing.node_label_patches(SEED) == [
        {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": name, "labels": {"nvidia.com/device-plugin.config": config}}}
        for name, config in (("spark-01", "exclusive"), ("spark-02", "time-slicing-3"), ("spark-03", "exclusive"))]


def test_device_plugin_config_values():
    values = gpu_sharing.device_plugin_config(SEED)
    assert values["create"] is True and values["name"] == "tokenlabs-device-plugin"
    assert values["default"] == "exclusive" and sorted(values["data"]) == ["exclusive", "time-slicing-3"]
    shared = yaml.safe_load(values["data"]["time-slicing-3"])
    assert shared["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 3}]
    assert shared["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"] is True
    assert "sharing" not in yaml.safe_load(values["data"]["exclusive"])
    one_each = gpu_sharing.device_plugin_config([{"node": "a"}, {"node": "b"}])
    assert sorted(one_each["data"]) == ["exclusive"]


def test_unknown_nodes_are_named_with_the_known_ones():
    errors = gpu_sharing.unknown_nodes(SEED, ["spark-01", "spark-02"])
    assert errors == ["tokenlabs_models[4] (parked): node 'spark-03' is not a node of the cluster; "
                      "nodes: spark-01, spark-02"]
    assert gpu_sharing.unknown_nodes(SEED[:1], [])[0].endswith("nodes: none")


def test_the_example_inventory_is_the_reference_topology():
    from pathlib import Path  # pylint: disable=import-outside-toplevel
    from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as model_catalog
    catalog = yaml.safe_load((Path(__file__).parents[5] / "inventory/example/group_vars/all/main.yml")
                             .read_text())["tokenlabs_models"]
    assert model_catalog.validate_models(catalog) == []
    assert {m["engine"] for m in catalog} == {"vllm", "sglang", "trtllm"}
    assert gpu_sharing.gpu_slices(catalog) == {"spark-01": 1, "spark-02": 4}
    assert gpu_sharing.node_label_patches(catalog)[1]["metadata"]["labels"] == {
        "nvidia.com/device-plugin.config": "time-slicing-4"}
