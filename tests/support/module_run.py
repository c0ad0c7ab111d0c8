"""Run a module's run function in-process, without Ansible: a stand-in for AnsibleModule's exit and fail."""

from __future__ import annotations

import pytest


class Exit(Exception):
    """What the run ended with: ``failed`` and the result it passed to exit_json / fail_json."""

    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed, self.result = failed, result


class FakeModule:
    """``params`` from the arg spec's defaults plus the given ones; exit_json / fail_json raise Exit."""

    def __init__(self, arg_spec, params, check_mode=False):
        self.params = {name: spec.get("default") for name, spec in arg_spec.items()}
        self.params.update(params)
        self.check_mode = check_mode

    def fail_json(self, **result):
        raise Exit(True, result)

    def exit_json(self, **result):
        raise Exit(False, result)


def run_module(run, arg_spec, params, check_mode=False):
    """Call ``run(module)`` and return the Exit it ended with."""
    with pytest.raises(Exit) as exc:
        run(FakeModule(arg_spec, params, check_mode))
    return exc.value
