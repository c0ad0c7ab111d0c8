"""Pure parsing/planning helpers of plugins/module_utils/_microk8s.py."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils import _microk8s as m

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


@pytest.mark.parametrize("text,kind", [
    ("This MicroK8s deployment is acting as a node in a cluster. Please use ...", "cluster_locked"),
    ("Connection failed. The joining node (10.0.0.2) is already known to dqlite (504).", "already_known"),
    ("Addon gpu was not found in any repository", "addon_not_found"),
    ("microk8s is not running. Use microk8s inspect for a deeper inspection.", "not_running"),
    ("all good", None),
])
def test_classify_output(text, kind):
    assert m.classify_output(text) == kind


def test_parse_add_node_strips_token_from_addresses():
    token = "a" * 32
    info = m.parse_add_node('{"token": "%s/ch3ck", "urls": ["10.0.0.1:25000/%s/ch3ck", '
                            '"[fd00::1]:25000/%s/ch3ck"]}' % (token, token, token))
    assert info == {"check": "ch3ck", "addresses": ["10.0.0.1:25000", "[fd00::1]:25000"]}
    assert token not in repr(info)


def test_select_join_address_ipv6_and_errors():
    addresses = ["192.168.1.75:25000", "[fd00::1]:25000"]
    assert m.select_join_address(addresses, "fd00::/64") == "[fd00::1]:25000"
    assert m.select_join_address(addresses, None) == "192.168.1.75:25000"
    with pytest.raises(m.MicroK8sError, match="not a network in CIDR"):
        m.select_join_address(addresses, "eth1")


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


def test_runner_builds_commands_and_redacts_secrets():
    class FakeModule:
        def run_command(self, argv, environ_update=None):
            return 1, "", "bad token %s" % argv[3]

    token = "t" * 40
    runner = m.microk8s_runner(FakeModule(), "/snap/bin/microk8s", secrets=[token])
    assert runner.build(m.CMD_ADD_NODE, token=token, token_ttl=300) == [
        "/snap/bin/microk8s", "add-node", "--token", token, "--token-ttl", "300", "--format", "json"]
    res = runner.run(m.CMD_ADD_NODE, token=token, token_ttl=300)
    assert res.rc == 1  # the caller decides (classify_output); nothing raised here
    message = m.describe_failure(res.argv, res.rc, res.out, res.err, runner.secrets)
    assert token not in message and "<redacted>" in message
    assert runner.history == ["add-node --token <redacted> --token-ttl 300 --format json"]


def test_validate_token():
    m.validate_token("A1b2" * 8)
    for bad in ("short", "a" * 31, "a" * 31 + "/"):
        with pytest.raises(m.MicroK8sError):
            m.validate_token(bad)
