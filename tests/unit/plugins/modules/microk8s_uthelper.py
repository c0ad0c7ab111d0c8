"""YAML-driven module test harness (the community.general ``uthelper`` idea, our own code).

A test-case file looks like::

    test_cases:
      - id: enable_missing_addon
        input: {addons: [{name: metallb, args: ["10.0.0.1-10.0.0.9"]}]}
        flags: {check: false, diff: false}
        files: {"common/record.json": "{}"}        # created under ${tmp} before the run
        output: {changed: true, enabled: [metallb]}   # subset of the module result
        failed: false
        msg_contains: []                            # substrings of msg (failures)
        never_contains: []                          # strings that must appear nowhere in the result
        warnings_contain: []                        # substrings of warnings (none expected otherwise)
        files_after: {"common/record.json": {metallb: ["10.0.0.1-10.0.0.9"]}}   # JSON files after the run
        mocks:
          run_command:
            - command: [/testbin/microk8s, status, --format, yaml]
              rc: 0
              out: "..."
              err: ""

Every ``run_command`` call must match the next expected command exactly (argv), and all
expected commands must have been consumed: "right commands" is part of every test.
``${tmp}`` in inputs is replaced by a fresh temporary directory.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class _Exit(Exception):
    def __init__(self, result):
        self.result = result


def _substitute(value, tmp):
    if isinstance(value, str):
        return value.replace("${tmp}", str(tmp))
    if isinstance(value, list):
        return [_substitute(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, tmp) for k, v in value.items()}
    return value


def load_cases(path: Path):
    data = yaml.safe_load(path.read_text())
    return [pytest.param(case, id=case["id"]) for case in data["test_cases"]]


def _subset(expected, actual, where="result"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a dict, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing in {actual!r}"
            _subset(value, actual[key], f"{where}.{key}")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


def run_case(module, case, tmp_path, monkeypatch):
    """Run ``module.main()`` for one test case and check every expectation."""
    for rel, content in (case.get("files") or {}).items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content if isinstance(content, str) else json.dumps(content))

    expected_calls = list(_substitute((case.get("mocks") or {}).get("run_command") or [], tmp_path))
    calls = []

    def run_command(self, args, **kwargs):
        calls.append(list(args))
        assert expected_calls, f"unexpected command {args!r} (no more commands expected)"
        exp = expected_calls.pop(0)
        assert list(args) == exp["command"], f"command mismatch:\n got      {args!r}\n expected {exp['command']!r}"
        return exp.get("rc", 0), exp.get("out", ""), exp.get("err", "")

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise _Exit(dict(kwargs, failed=False))

    def fail_json(self, msg, **kwargs):
        raise _Exit(dict(kwargs, msg=msg, failed=True))

    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None: "/testbin/" + name)

    args = _substitute(dict(case.get("input") or {}), tmp_path)
    flags = case.get("flags") or {}
    args["_ansible_check_mode"] = bool(flags.get("check"))
    args["_ansible_diff"] = bool(flags.get("diff"))
    with patch_module_args(args):
        with pytest.raises(_Exit) as caught:
            module.main()
    result = caught.value.result
    if warnings:
        result["warnings"] = warnings

    assert result["failed"] == bool(case.get("failed", False)), f"unexpected outcome: {result!r}"
    _subset(case.get("output") or {}, result)
    for text in case.get("warnings_contain") or []:
        assert any(text in w for w in warnings), f"{text!r} not in warnings {warnings!r}"
    if "warnings_contain" not in case and not case.get("failed"):
        assert not warnings, f"unexpected warnings {warnings!r}"
    for text in case.get("msg_contains") or []:
        assert text in result.get("msg", ""), f"{text!r} not in msg {result.get('msg')!r}"
    dumped = json.dumps(result)
    for text in case.get("never_contains") or []:
        assert text not in dumped, f"{text!r} leaked into the result: {dumped}"
    assert not expected_calls, f"expected commands not run: {[c['command'] for c in expected_calls]}"
    for rel, content in (case.get("files_after") or {}).items():
        target = tmp_path / rel
        if content is None:
            assert not target.exists(), f"{rel} should not exist"
        else:
            assert json.loads(target.read_text()) == content, f"{rel}: {target.read_text()}"
    return result, calls


HERE = Path(__file__).parent
MODULES = "ansible_collections.tokenlabs.inference.plugins.modules."


def module_cases(file_name, module=None):
    """The cases of ``file_name`` (next to this file), only those for ``module`` when given; never empty."""
    cases = [c for c in load_cases(HERE / file_name) if module is None or c.values[0].get("module") == module]
    assert cases, "no test cases for %s in %s" % (module, file_name)
    return cases


def run_module(name, case, tmp_path, monkeypatch):
    """Run one case against the module ``name`` of this collection."""
    run_case(importlib.import_module(MODULES + name), case, tmp_path, monkeypatch)
