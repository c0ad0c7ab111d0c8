"""tokenlabs.inference.microk8s_addon driven by canned MicroK8s output (YAML test cases in test_microk8s_addon.yaml)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from microk8s_uthelper import load_cases, run_case

HERE = Path(__file__).parent
CASES = load_cases(HERE / "test_microk8s_addon.yaml")


def test_cases_exist():
    assert CASES


@pytest.mark.parametrize("case", CASES)
def test_microk8s_addon(case, tmp_path, monkeypatch):
    run_case(importlib.import_module("ansible_collections.tokenlabs.inference.plugins.modules.microk8s_addon"), case, tmp_path,
             monkeypatch)
