"""tokenlabs.inference.microk8s_join driven by canned MicroK8s output (YAML test cases in test_microk8s_cluster.yaml)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from microk8s_uthelper import load_cases, run_case

HERE = Path(__file__).parent
CASES = [c for c in load_cases(HERE / "test_microk8s_cluster.yaml") if c.values[0]["module"] == "microk8s_join"]


def test_cases_exist():
    assert CASES


@pytest.mark.parametrize("case", CASES)
def test_microk8s_join(case, tmp_path, monkeypatch):
    run_case(importlib.import_module("ansible_collections.tokenlabs.inference.plugins.modules.microk8s_join"), case, tmp_path,
             monkeypatch)
