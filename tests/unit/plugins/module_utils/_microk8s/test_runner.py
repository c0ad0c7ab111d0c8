"""Running the CLI and reading its failure lines of plugins/module_utils/_microk8s/runner.py, with canned MicroK8s output."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s import runner as m


@pytest.mark.parametrize("text,kind", [
    ("This MicroK8s deployment is acting as a node in a cluster. Please use ...", "cluster_locked"),
    ("Connection failed. The joining node (10.0.0.2) is already known to dqlite (504).", "already_known"),
    ("Addon gpu was not found in any repository", "addon_not_found"),
    ("microk8s is not running. Use microk8s inspect for a deeper inspection.", "not_running"),
    ("all good", None),
])
def test_classify_output(text, kind):
    assert m.classify_output(text) == kind


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
