"""tokenlabs.inference.microk8s_join_token driven by canned MicroK8s output (YAML test cases in test_microk8s_cluster.yaml)."""

from __future__ import annotations

import pytest

from microk8s_uthelper import module_cases, run_module


@pytest.mark.parametrize("case", module_cases("test_microk8s_cluster.yaml", "microk8s_join_token"))
def test_microk8s_join_token(case, tmp_path, monkeypatch):
    run_module("microk8s_join_token", case, tmp_path, monkeypatch)
