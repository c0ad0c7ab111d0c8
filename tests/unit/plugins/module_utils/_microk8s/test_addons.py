"""Addon status, plans and errors of plugins/module_utils/_microk8s/addons.py, with canned MicroK8s output."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s import addons as m

STATUS = """microk8s:
  running: True
high-availability:
  enabled: False
addons:
  - name: dns
    repository: core
    description: CoreDNS
    version: 1.10.1
    status: enabled
  - name: metallb
    repository: core
    description: Loadbalancer for your Kubernetes cluster
    version: 0.13.10
    status: disabled
"""


def test_parse_status_reads_python_booleans_and_versions_as_strings():
    status = m.parse_status(STATUS)
    assert status["running"] is True
    assert status["high_availability"] is False
    assert status["addons"]["dns"] == {"status": "enabled", "repository": "core", "version": "1.10.1"}
    assert status["addons"]["metallb"]["status"] == "disabled"


def test_parse_status_not_running_keeps_message():
    status = m.parse_status("microk8s:\n  running: False\n  message: microk8s is not running. Use microk8s "
                            "inspect for a deeper inspection.\n")
    assert status["running"] is False
    assert "not running" in status["message"]


def test_parse_status_rejects_cluster_lock_text():
    with pytest.raises(m.MicroK8sError):
        m.parse_status("This MicroK8s deployment is acting as a node in a cluster. Please use the control plane.")


def test_plan_addons_detects_enable_disable_drift_unverified_unavailable():
    status = m.parse_status(STATUS.replace("status: disabled", "status: enabled"))
    desired = m.normalise_addons([
        {"name": "dns", "args": ["8.8.8.8"]},
        {"name": "metallb", "args": ["10.0.0.1-10.0.0.9"]},
        {"name": "nvidia"},
    ])
    plan = m.plan_addons(desired, status, {"metallb": ["10.0.0.1-10.0.0.5"]})
    assert plan["enable"] == [] and plan["disable"] == []
    assert plan["drift"] == [{"name": "metallb", "recorded_args": ["10.0.0.1-10.0.0.5"],
                              "desired_args": ["10.0.0.1-10.0.0.9"]}]
    assert plan["unverified"] == ["dns"]
    assert plan["unavailable"] == ["nvidia"]
    assert "amd64 only" in m.describe_unavailable(plan["unavailable"], status)


@pytest.mark.parametrize("addons,fragment", [
    ([{"name": "dns", "state": "maybe"}], "addons[0].state: 'maybe' is not allowed (allowed: enabled, disabled)"),
    ([{"name": "dns"}, {"name": "core/dns"}], "addons[1].name: addon 'dns' is listed twice"),
    ([{"name": "dns", "state": "disabled", "args": ["x"]}], "only allowed when state is enabled"),
])
def test_normalise_addons_errors_name_field_and_value(addons, fragment):
    with pytest.raises(m.MicroK8sError) as err:
        m.normalise_addons(addons)
    assert fragment in str(err.value)
