#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: microk8s_join
short_description: Join this node to a MicroK8s cluster, once
version_added: 0.1.0
description:
  - Runs C(microk8s join ADDRESS/TOKEN/CHECK [--worker]) unless this node already belongs to a cluster.
  - A node belongs to a cluster when C(clustered.lock) exists (a worker) or dqlite's C(cluster.yaml) lists more
    than one member (a control-plane node). If the control plane answers C(already known to dqlite), the node
    is a member and nothing changed.
  - The token is never shown in output, warnings or errors.
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
    support: none
  platform:
    platforms: posix
options:
  address:
    description:
      - Cluster agent address of a control-plane node (host:port), as returned by
        M(tokenlabs.inference.microk8s_join_token).
    type: str
    required: true
  token:
    description:
      - The join token registered for this node.
    type: str
    required: true
  check:
    description:
      - Fingerprint of the cluster certificate (RV(tokenlabs.inference.microk8s_join_token#module:check)); the
        join verifies it when given.
    type: str
  worker:
    description:
      - Join as a worker (no control-plane services, no dqlite).
    type: bool
    default: false
  snap_data:
    description:
      - MicroK8s data directory (C($SNAP_DATA)) where C(var/lock/clustered.lock) and dqlite's
        C(var/kubernetes/backend/cluster.yaml) live.
    type: path
    default: /var/snap/microk8s/current
  binary:
    description:
      - The C(microk8s) command; searched in E(PATH) and C(/snap/bin) unless it is a path.
    type: str
    default: microk8s
"""

EXAMPLES = r"""
- name: Join the GPU worker
  tokenlabs.inference.microk8s_join:
    address: "{{ microk8s_token_result.join_address }}"
    check: "{{ microk8s_token_result.check }}"
    token: "{{ microk8s_join_token }}"
    worker: true
  no_log: true
"""

RETURN = r"""
member:
  description: How membership was established.
  returned: always
  type: str
  sample: joined
  choices: [joined, clustered_lock, dqlite_members, already_known, would_join]
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.cluster import (
    CLUSTER_LOCK_PATH, DEFAULT_SNAP_DATA, DQLITE_CLUSTER_PATH, join_url, parse_dqlite_members, validate_token)
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.runner import (
    BINARY_DIRS, CMD_JOIN, HAS_YAML, MicroK8sError, YAML_IMPORT_ERROR, classify_output, describe_failure,
    microk8s_runner, redact)


def current_membership(snap_data):
    """'clustered_lock', 'dqlite_members' or None."""
    if os.path.exists(os.path.join(snap_data, CLUSTER_LOCK_PATH)):
        return "clustered_lock"
    path = os.path.join(snap_data, DQLITE_CLUSTER_PATH)
    if os.path.exists(path):
        with open(path) as handle:
            if len(parse_dqlite_members(handle.read())) > 1:
                return "dqlite_members"
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=True),
            check=dict(type="str"),
            worker=dict(type="bool", default=False),
            snap_data=dict(type="path", default=DEFAULT_SNAP_DATA),
            binary=dict(type="str", default="microk8s"),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    params = module.params
    token = params["token"]
    secrets = [token]
    try:
        member = current_membership(params["snap_data"])
        if member:
            module.exit_json(changed=False, member=member, msg="this node already belongs to a cluster")
        validate_token(token)
        if not params["address"] or "/" in params["address"]:
            raise MicroK8sError("address: %r must be host:port of the cluster agent (without token)"
                                % redact(params["address"], secrets))
        if module.check_mode:
            module.exit_json(changed=True, member="would_join")
        binary = params["binary"]
        if "/" not in binary:
            binary = module.get_bin_path(binary, required=True, opt_dirs=BINARY_DIRS)
        runner = microk8s_runner(module, binary, secrets=secrets)
        res = runner.run(CMD_JOIN, url=join_url(params["address"], token, params["check"]),
                         worker=params["worker"])
        if res.rc != 0:
            if classify_output(res.output) == "already_known":
                module.exit_json(changed=False, member="already_known",
                                 msg="the control plane already knows this node (already known to dqlite)")
            raise MicroK8sError(describe_failure(res.argv, res.rc, res.out, res.err, secrets,
                                                 what="`microk8s join %s/<token>%s`"
                                                 % (params["address"], " --worker" if params["worker"] else "")))
    except MicroK8sError as exc:
        module.fail_json(msg=redact(str(exc), secrets))
    module.exit_json(changed=True, member="joined")


if __name__ == "__main__":
    main()
