#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tenant_info
short_description: List tenants without their keys
version_added: 0.1.0
description:
  - Lists the tenant Secrets of the Kuadrant namespace (one LIST by label) with tier, user id, creation time,
    key fingerprint, expiry and the state of a pending key rotation. Never returns a key.
  - Secrets that carry the tenant labels but were not created by this collection are listed with
    C(managed=false).
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.tenant_secrets
  - tokenlabs.inference.k8s_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; it only lists Secrets.
  diff_mode:
    support: none
    details: Read-only; there is nothing to diff.
  platform:
    platforms: posix
    support: full
options:
  name:
    description:
      - Only these tenants.
    type: list
    elements: str
  tier:
    description:
      - Only tenants in these tiers.
    type: list
    elements: str
  ending_within:
    description:
      - A duration (C(14d), C(36h)). Also return in RV(ending) the listed tenants whose expiry, and the previous keys
        whose rotation grace period, ends within it from now.
    type: str
seealso:
  - module: tokenlabs.inference.tenant
  - module: tokenlabs.inference.tenants
"""

EXAMPLES = r"""
- name: List all tenants of the pro tier
  tokenlabs.inference.tenant_info:
    tier: [pro]
  register: pro_tenants

- name: Show one tenant
  tokenlabs.inference.tenant_info:
    name: [acme]
  register: acme
"""

RETURN = r"""
tenants:
  description: The tenants, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Tenant name.
      type: str
    secret:
      description: Name of the Secret holding the key.
      type: str
    tier:
      description: Tier (annotation C(kuadrant.io/groups)).
      type: str
    user_id:
      description: Quota counter key (annotation C(secret.kuadrant.io/user-id)).
      type: str
    created_at:
      description: Creation time (RFC 3339).
      type: str
    fingerprint:
      description: C(sha256:) and the first 16 hex digits of the key's SHA-256.
      type: str
    display_name:
      description: Display name, if set.
      type: str
    contact:
      description: Contact, if set.
      type: str
    expires_at:
      description: Expiry, if set.
      type: str
    expired:
      description: Whether C(expires_at) lies in the past.
      type: bool
    managed:
      description: Whether this collection manages the Secret.
      type: bool
    owner:
      description:
        - Who manages the tenant, from the annotation C(tokenlabs.io/owner) - V(inventory) (C(tokenlabs_tenants),
          M(tokenlabs.inference.tenants)), V(runbook) (C(tenant.yml), AWX tenant jobs, M(tokenlabs.inference.tenant))
          or null (not adopted yet).
      type: str
    key_generation:
      description: The key generation (annotation C(tokenlabs.io/key-generation); the first key is 1).
      type: int
    rotation:
      description: State of a key rotation with a grace period.
      type: dict
      contains:
        pending:
          description: Whether a previous key still works.
          type: bool
        retired_keys:
          description: Previous keys (secret, fingerprint, retires_at, expired).
          type: list
          elements: dict
  sample:
    - name: acme
      secret: tenant-acme
      tier: pro
      user_id: acme
      created_at: "2026-01-05T10:00:00Z"
      fingerprint: "sha256:3f1c0b9e4d2a7c55"
      display_name: ACME Corp
      contact: ops@acme.example
      expires_at: null
      expired: false
      managed: true
      owner: runbook
      key_generation: 2
      rotation: {pending: true, retired_keys: [{secret: tenant-acme.retired-9a0b1c2d3e4f,
                 fingerprint: "sha256:9a0b1c2d3e4f5a6b", retires_at: "2026-01-06T10:00:00Z", expired: false}]}
ending:
  description:
    - With O(ending_within), soonest first, what stops working within it - C(tenant) (name), C(kind)
      (V(tenant expires) or V(rotation grace ends)), C(secret), C(fingerprint), C(at) (RFC 3339), C(days_left) and
      C(line) (all of it as one line of text).
      Keys already expired are not listed here.
  returned: when O(ending_within) is given
  type: list
  elements: dict
  sample:
    - {tenant: acme, kind: tenant expires, secret: tenant-acme, fingerprint: "sha256:3f1c0b9e4d2a7c55",
       at: "2026-12-10T00:00:00Z", days_left: 5.8,
       line: "acme: tenant expires 2026-12-10T00:00:00Z (in 5.8 days; tenant-acme, sha256:3f1c0b9e4d2a7c55)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import expiry, options
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import (
    ApiError, auth_argument_spec, connect)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.reconcile import list_tenant_secrets


def main():
    module = AnsibleModule(
        argument_spec=auth_argument_spec(dict(
            options.argument_spec(options.TENANT_SECRETS_ARG_SPEC),
            name=dict(type="list", elements="str"),
            tier=dict(type="list", elements="str"),
            ending_within=dict(type="str"),
        )),
        supports_check_mode=True)
    p = module.params
    window = None
    if p["ending_within"]:
        window = validation.parse_duration_seconds(p["ending_within"])
        if window is None:
            module.fail_json(msg="ending_within: %r is not allowed; use %s"
                                 % (p["ending_within"], validation.DURATION_FORMAT))
    try:
        api = connect(module)
        live = tenant_secret.LiveIndex(list_tenant_secrets(api, p["kuadrant_namespace"], p["tenant_selector"]))
    except ApiError as err:
        module.fail_json(msg=str(err))
    now = validation.utcnow()
    tenants = []
    for name in live.all_tenants():
        if p["name"] and name not in p["name"]:
            continue
        view = tenant_secret.describe_tenant(live, name, now)
        if p["tier"] and view["tier"] not in p["tier"]:
            continue
        tenants.append(view)
    if window is None:
        module.exit_json(changed=False, tenants=tenants)
    module.exit_json(changed=False, tenants=tenants, ending=expiry.ending_soon(tenants, now, window))


if __name__ == "__main__":
    main()
