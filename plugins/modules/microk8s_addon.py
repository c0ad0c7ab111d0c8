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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.addons import (
    DEFAULT_ARGS_RECORD, AddonReconciler)
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.runner import (
    HAS_YAML, YAML_IMPORT_ERROR, MicroK8sError)


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
