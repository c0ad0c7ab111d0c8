"""The test world has one importable home: no import cycles, no sys.path edits anywhere."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "testworld"


def imports_of(path: Path) -> set[str]:
    """The testworld modules ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("testworld"):
            if node.module == "testworld":
                found.update("testworld." + alias.name for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("testworld."))
    return found


def test_no_import_cycle_in_the_test_world():
    graph = {"testworld." + p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reach(start, seen):
        for nxt in graph.get(start, ()):
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    cycles = [name for name in graph if name in reach(name, set())]
    assert not cycles, cycles


def test_nothing_edits_sys_path():
    proc = subprocess.run(["git", "grep", "-n", "sys.path.insert\\|sys.path.append", "--", "tests", "bench", "tools",
                           "scripts", "testworld"], cwd=REPO, capture_output=True, text=True, check=False)
    hits = [line for line in proc.stdout.splitlines() if not line.startswith("tests/unit/test_testworld.py")]
    assert hits == []


def test_every_component_is_started_and_stopped_by_the_command_line():
    from testworld import __main__ as cli  # noqa: PLC0415 - the CLI module, imported where it is checked

    for name, module in cli.COMPONENTS.items():
        for verb in ("up", "down", "status"):
            assert callable(getattr(module, verb, None)), f"testworld.{name} has no {verb}()"


def test_device_plugin_stand_in_follows_the_time_slicing_config():
    from testworld import device_plugin  # noqa: PLC0415
    from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing  # noqa: PLC0415

    models = [{"node": "a"}, {"node": "b"}, {"node": "b", "replicas": 2}]
    configs = gpu_sharing.device_plugin_config(models)["data"]
    node = {"metadata": {"labels": {gpu_sharing.CONFIG_LABEL: "time-slicing-3"}}}
    assert device_plugin.advertised(node, configs, "exclusive") == 3
    assert device_plugin.advertised({"metadata": {"labels": {}}}, configs, "exclusive") == 1  # no label: default
    assert device_plugin.advertised({"metadata": {"labels": {}}}, configs, None) == 1  # no config: no sharing
    two_gpus = {"metadata": {"labels": {gpu_sharing.CONFIG_LABEL: "time-slicing-3", "nvidia.com/gpu.count": "2"}}}
    assert device_plugin.advertised(two_gpus, configs, None) == 6


def test_inventory_hosts_become_nodes_as_their_kubelets_register_them():
    from testworld import controlplane  # noqa: PLC0415

    hosts = controlplane.inventory_hosts(REPO / "inventory" / "example" / "hosts.yml")
    assert hosts == {"controller": False, "spark-01": True, "spark-02": True}
    spark = controlplane.inventory_node_object("spark-01", True)
    assert spark["metadata"]["labels"]["kubernetes.io/arch"] == "arm64"
    assert spark["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert "nvidia.com/gpu" not in spark["status"]["capacity"]  # the device plugin offers it
    controller = controlplane.inventory_node_object("controller", False)
    assert "nvidia.com/gpu.present" not in controller["metadata"]["labels"] and "spec" not in controller


def test_a_platform_controller_runs_only_for_the_chart_of_its_own_release():
    from testworld.base import chart_version_problem

    def deployment(image):
        return {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    assert chart_version_problem(deployment("docker.io/envoyproxy/gateway:v1.9.0"), "v1.9.0") == ""
    assert chart_version_problem(deployment("quay.io/kuadrant/kuadrant-operator:v1.5.2"), "v1.5.2") == ""
    assert chart_version_problem(deployment("registry:5000/envoyproxy/gateway:1.9.0"), "v1.9.0") == ""
    assert "deploys docker.io/envoyproxy/gateway:v1.6.4, this controller is v1.9.0" in \
        chart_version_problem(deployment("docker.io/envoyproxy/gateway:v1.6.4"), "v1.9.0")
    assert chart_version_problem(deployment("registry:5000/gateway"), "v1.9.0")  # no tag: not ours to judge
    assert chart_version_problem(None, "v1.9.0") == "the chart is not installed"
