"""tokenlabs.inference MicroK8s modules driven by canned MicroK8s output (YAML test cases)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from microk8s_uthelper import load_cases, run_case

HERE = Path(__file__).parent
MODULES = "ansible_collections.tokenlabs.inference.plugins.modules."


@pytest.mark.parametrize("case", load_cases(HERE / "test_microk8s_addon.yaml"))
def test_microk8s_addon(case, tmp_path, monkeypatch):
    run_case(importlib.import_module(MODULES + "microk8s_addon"), case, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", load_cases(HERE / "test_microk8s_cluster.yaml"))
def test_microk8s_cluster_modules(case, tmp_path, monkeypatch):
    run_case(importlib.import_module(MODULES + case["module"]), case, tmp_path, monkeypatch)
