#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: microk8s_join_token
short_description: Register a single-purpose MicroK8s join token on a control-plane node
version_added: 0.1.0
description:
  - Runs C(microk8s add-node --token TOKEN --token-ttl TTL --format json) on a control-plane node so that
    exactly one other node can join with O(token), and returns the address to join on, picked on
    O(join_network).
  - The token is supplied by the caller (generate one per joining node, at least 32 characters, and keep it
    in a C(no_log) variable). It never appears in the module's output, warnings or errors.
  - Call it only for a node that is not a member yet (the tokenlabs.inference.microk8s role checks the
    node list and C(clustered.lock) first); every call registers a new token, so it always reports a change.
author:
  - TokenLabs engineering (@tokenlabs)
requirements:
  - MicroK8s (snap) on the target
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode no token is registered and RV(join_address) is not returned.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  token:
    description:
      - The join token to register, at least 32 letters, digits, C(-) or C(_).
    type: str
    required: true
  token_ttl:
    description:
      - Seconds the token stays valid. V(-1) makes it valid until it is used once (and forever if never used).
    type: int
    default: 300
  join_network:
    description:
      - Network (CIDR) on which the joining node reaches this node, for example the DGX Spark QSFP link.
        The join address is the one MicroK8s offers on that network; unset uses the first address offered.
    type: str
  binary:
    description:
      - The C(microk8s) command; searched in E(PATH) and C(/snap/bin) unless it is a path.
    type: str
    default: microk8s
"""

EXAMPLES = r"""
- name: Register a join token for this node on the first control-plane node
  tokenlabs.inference.microk8s_join_token:
    token: "{{ microk8s_join_token }}"
    join_network: 10.10.10.0/24
  delegate_to: "{{ groups['microk8s_controllers'][0] }}"
  register: microk8s_token_result
  no_log: true
"""

RETURN = r"""
join_address:
  description: Address (host:port of the cluster agent) the joining node should use.
  returned: success, not in check mode
  type: str
  sample: 10.10.10.1:25000
addresses:
  description: All addresses MicroK8s offered.
  returned: success, not in check mode
  type: list
  elements: str
  sample: [192.168.1.75:25000, 10.10.10.1:25000]
check:
  description: Fingerprint of the cluster certificate that the joining node verifies (not secret).
  returned: success, not in check mode
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.cluster import (
    parse_add_node, select_join_address, validate_token)
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.runner import (
    BINARY_DIRS, CMD_ADD_NODE, MicroK8sError, classify_output, describe_failure, microk8s_runner, redact)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            token=dict(type="str", required=True, no_log=True),
            token_ttl=dict(type="int", default=300, no_log=False),
            join_network=dict(type="str"),
            binary=dict(type="str", default="microk8s"),
        ),
        supports_check_mode=True,
    )
    token = module.params["token"]
    secrets = [token]
    try:
        validate_token(token)
        if module.params["token_ttl"] == 0 or module.params["token_ttl"] < -1:
            raise MicroK8sError("token_ttl: %s is not allowed (seconds > 0, or -1 for single use)"
                                % module.params["token_ttl"])
        if module.check_mode:
            module.exit_json(changed=True, msg="a join token would be registered")
        binary = module.params["binary"]
        if "/" not in binary:
            binary = module.get_bin_path(binary, required=True, opt_dirs=BINARY_DIRS)
        runner = microk8s_runner(module, binary, secrets=secrets)
        res = runner.run(CMD_ADD_NODE, token=token, token_ttl=module.params["token_ttl"])
        if res.rc != 0:
            hint = ""
            if classify_output(res.output) == "cluster_locked":
                hint = " This node is a worker; register tokens on a control-plane node."
            raise MicroK8sError(describe_failure(res.argv, res.rc, res.out, res.err, secrets,
                                                 what="`microk8s add-node`") + hint)
        info = parse_add_node(res.out)
        address = select_join_address(info["addresses"], module.params["join_network"])
    except MicroK8sError as exc:
        module.fail_json(msg=redact(str(exc), secrets))
    module.exit_json(changed=True, join_address=address, addresses=info["addresses"], check=info["check"])


if __name__ == "__main__":
    main()
