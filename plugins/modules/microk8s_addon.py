#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: microk8s_addon
short_description: Enable and disable MicroK8s addons idempotently
version_added: 0.1.0
description:
  - Reads the addon state from C(microk8s status --format yaml) once, then runs C(microk8s enable) only
    for desired addons that are disabled and C(microk8s disable) only for those that must be disabled.
  - One call reconciles the whole list, in the given order.
  - MicroK8s ignores new arguments for an addon that is already enabled (it prints
    C(Addon core/X is already enabled) and exits 0). This module remembers the arguments it enabled
    each addon with in O(args_record) and reports an enabled addon whose desired arguments differ
    (O(on_args_drift) decides what happens).
  - Must run on a control-plane node; on a worker MicroK8s answers
    C(This MicroK8s deployment is acting as a node in a cluster.) and the module fails saying so.
author:
  - TokenLabs engineering (@tokenlabs)
requirements:
  - MicroK8s (snap) on the target
  - PyYAML on the target (python3-yaml, preinstalled on Ubuntu)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  addons:
    description:
      - Desired addons.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Addon name, optionally with its repository (V(core/dns)).
        type: str
        required: true
      state:
        description:
          - Desired state.
        type: str
        choices: [enabled, disabled]
        default: enabled
      args:
        description:
          - Arguments passed after the addon name to C(microk8s enable), for example an address range for
            V(metallb).
        type: list
        elements: str
        default: []
  on_args_drift:
    description:
      - What to do when an enabled addon was enabled with other arguments than O(addons[].args).
      - V(warn) reports it in RV(drift) and as a warning and changes nothing.
      - V(reenable) disables and enables the addon with the new arguments (disruptive for that addon).
      - V(fail) fails before anything is changed.
    type: str
    choices: [warn, reenable, fail]
    default: warn
  args_record:
    description:
      - JSON file on the target in which the module records the arguments each addon was enabled with.
    type: path
    default: /var/snap/microk8s/common/tokenlabs-addon-args.json
  binary:
    description:
      - The C(microk8s) command; searched in E(PATH) and C(/snap/bin) unless it is a path.
    type: str
    default: microk8s
  wait_ready_timeout:
    description:
      - When greater than 0, the status call waits up to this many seconds for MicroK8s to become ready.
    type: int
    default: 0
notes:
  - Arguments of addons enabled outside this module cannot be verified; they are listed in RV(unverified).
"""

EXAMPLES = r"""
- name: Enable the platform addons on the first control-plane node
  tokenlabs.inference.microk8s_addon:
    addons:
      - name: dns
      - name: hostpath-storage
      - name: helm3
      - name: metallb
        args: ["10.64.140.43-10.64.140.49"]
      - name: dashboard
        state: disabled
"""

RETURN = r"""
enabled:
  description: Addons enabled by this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [metallb]
disabled:
  description: Addons disabled by this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
drift:
  description: Enabled addons whose recorded arguments differ from the desired ones.
  returned: always
  type: list
  elements: dict
  sample: [{name: metallb, recorded_args: ["10.0.0.1-10.0.0.9"], desired_args: ["10.0.0.1-10.0.0.20"]}]
unverified:
  description: Enabled addons with desired arguments that were enabled outside this module.
  returned: always
  type: list
  elements: str
addons:
  description: State of every addon MicroK8s lists, before this run.
  returned: always
  type: dict
  sample: {dns: enabled, metallb: disabled}
commands:
  description: The microk8s commands that were run (without the binary).
  returned: always
  type: list
  elements: str
  sample: ["status --format yaml", "enable metallb 10.64.140.43-10.64.140.49"]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s import (
    BINARY_DIRS,
    CMD_DISABLE,
    CMD_ENABLE,
    CMD_STATUS,
    DEFAULT_ARGS_RECORD,
    HAS_YAML,
    YAML_IMPORT_ERROR,
    MicroK8sError,
    classify_output,
    describe_failure,
    describe_unavailable,
    microk8s_runner,
    normalise_addons,
    parse_status,
    plan_addons,
    split_addon_name,
)


def read_record(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError):
        return {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def write_record(module, path, record):
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


class AddonReconciler(object):
    def __init__(self, module):
        self.module = module
        params = module.params
        binary = params["binary"]
        if "/" not in binary:
            binary = module.get_bin_path(binary, required=True, opt_dirs=BINARY_DIRS)
        self.runner = microk8s_runner(module, binary)
        self.result = {"changed": False, "enabled": [], "disabled": [], "drift": [], "unverified": [],
                       "addons": {}, "commands": self.runner.history}

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read_status(self):
        res = self.runner.run(CMD_STATUS, wait_ready=self.module.params["wait_ready_timeout"])
        output = res.output
        if res.rc != 0 or not res.out.strip():
            kind = classify_output(output)
            if kind == "cluster_locked":
                self.fail("this node is a worker in a MicroK8s cluster: %s Manage addons on a control-plane "
                          "node (the first host of microk8s_controllers)." % output.splitlines()[0].strip())
            if kind == "not_running":
                self.fail("MicroK8s is not running (`microk8s status` rc=%s): %s. Start it with `microk8s start` "
                          "or inspect it with `microk8s inspect`." % (res.rc, output.strip()))
            self.fail(describe_failure(res.argv, res.rc, res.out, res.err))
        status = parse_status(res.out)
        if not status["running"]:
            self.fail("MicroK8s is not running: %s" % (status["message"] or res.out.strip()))
        return status

    def run(self):
        params = self.module.params
        desired = normalise_addons(params["addons"])
        record_path = params["args_record"]
        status = self.read_status()
        self.result["addons"] = dict((name, info["status"]) for name, info in sorted(status["addons"].items()))
        recorded = read_record(record_path)
        plan = plan_addons(desired, status, recorded)
        if plan["unavailable"]:
            self.fail(describe_unavailable(plan["unavailable"], status))
        self.result["drift"] = plan["drift"]
        self.result["unverified"] = plan["unverified"]

        drift_policy = params["on_args_drift"]
        to_reenable = []
        for item in plan["drift"]:
            text = ("addon %s is enabled with arguments %s but %s are desired; MicroK8s ignores new arguments "
                    "for an enabled addon" % (item["name"], item["recorded_args"], item["desired_args"]))
            if drift_policy == "fail":
                self.fail(text + ". Set on_args_drift=reenable to disable and re-enable it, or change it by hand.")
            elif drift_policy == "warn":
                self.module.warn(text + " (nothing changed; on_args_drift=reenable re-enables it).")
            else:
                to_reenable.append(item["name"])
        for name in plan["unverified"]:
            self.module.warn("addon %s was enabled outside tokenlabs.inference.microk8s_addon; its arguments "
                             "cannot be verified against the desired ones" % name)

        desired_by_short = dict((split_addon_name(i["name"])[1], i) for i in desired)
        actions = []  # (verb, item) in order
        for item in desired:
            short = split_addon_name(item["name"])[1]
            if item in plan["disable"]:
                actions.append(("disable", item))
            elif short in to_reenable:
                actions.append(("disable", item))
                actions.append(("enable", desired_by_short[short]))
            elif item in plan["enable"]:
                actions.append(("enable", item))

        after = dict(self.result["addons"])
        for verb, item in actions:
            after[split_addon_name(item["name"])[1]] = verb + "d"
        if self.module._diff:
            self.result["diff"] = {"before": self.result["addons"], "after": after}
        self.result["changed"] = bool(actions)
        planned_enabled = [split_addon_name(i["name"])[1] for v, i in actions if v == "enable"]
        planned_disabled = [split_addon_name(i["name"])[1] for v, i in actions if v == "disable"
                            and split_addon_name(i["name"])[1] not in to_reenable]
        if self.module.check_mode or not actions:
            self.result["enabled"] = planned_enabled
            self.result["disabled"] = planned_disabled
            return self.result

        for verb, item in actions:
            short = split_addon_name(item["name"])[1]
            if verb == "enable":
                res = self.runner.run(CMD_ENABLE, addon=item["name"], addon_args=item["args"])
            else:
                res = self.runner.run(CMD_DISABLE, addon=item["name"])
            if res.rc != 0:
                self.fail_partial(verb, item, res)
            if verb == "enable":
                recorded[short] = item["args"]
                if short not in self.result["enabled"]:
                    self.result["enabled"].append(short)
            else:
                recorded.pop(short, None)
                if short not in to_reenable:
                    self.result["disabled"].append(short)
            write_record(self.module, record_path, recorded)
        return self.result

    def fail_partial(self, verb, item, res):
        detail = describe_failure(res.argv, res.rc, res.out, res.err,
                                  what="`microk8s %s %s`" % (verb, " ".join([item["name"]] + item["args"])))
        if classify_output(res.output) == "addon_not_found":
            detail += " (the addon is not in any repository enabled on this node)"
        done = ["%s enabled" % n for n in self.result["enabled"]] + ["%s disabled" % n for n in self.result["disabled"]]
        detail += ". Applied before the failure: %s; nothing after it was attempted." % (", ".join(done) or "nothing")
        self.result["changed"] = bool(done)
        self.fail(detail)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            addons=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                state=dict(type="str", choices=["enabled", "disabled"], default="enabled"),
                args=dict(type="list", elements="str", default=[]),
            )),
            on_args_drift=dict(type="str", choices=["warn", "reenable", "fail"], default="warn"),
            args_record=dict(type="path", default=DEFAULT_ARGS_RECORD),
            binary=dict(type="str", default="microk8s"),
            wait_ready_timeout=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    try:
        result = AddonReconciler(module).run()
    except MicroK8sError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
