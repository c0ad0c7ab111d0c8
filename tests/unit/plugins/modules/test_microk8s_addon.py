"""tokenlabs.inference.microk8s_addon driven by canned MicroK8s output (YAML test cases in test_microk8s_addon.yaml)."""

from __future__ import annotations

import pytest

from microk8s_uthelper import module_cases, run_module


@pytest.mark.parametrize("case", module_cases("test_microk8s_addon.yaml"))
def test_microk8s_addon(case, tmp_path, monkeypatch):
    run_module("microk8s_addon", case, tmp_path, monkeypatch)
