#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tenant
short_description: Onboard, change, rotate or revoke one tenant API key
version_added: 0.1.0
description:
  - Manages one tenant of the TokenLabs platform. A tenant is a Secret named C(tenant-<name>) in the
    Kuadrant namespace that Authorino authenticates. It carries the label
    C(authorino.kuadrant.io/managed-by=authorino), the selector labels of the AuthPolicy (O(selector)), the
    annotations C(kuadrant.io/groups) (the tier) and C(secret.kuadrant.io/user-id) (the quota counter key),
    the key in C(data.api_key), and audit annotations C(tokenlabs.io/key-fingerprint),
    C(tokenlabs.io/created-at), C(tokenlabs.io/tenant) and optionally C(tokenlabs.io/display-name),
    C(tokenlabs.io/contact), C(tokenlabs.io/expires-at).
  - The key never appears in the module result, diff or messages; the fingerprint (a SHA-256 prefix) identifies it.
  - A new key (onboarding without O(api_key), or O(rotate=true)) is generated with Python's C(secrets) module
    (C(tlabs_sk_) + 256 bits) and delivered only to O(api_key_file) / O(key_dir) or, with O(return_keys=true), in
    the result.
  - Changing the tier patches only the C(kuadrant.io/groups) annotation; rotating patches only C(data.api_key) and
    the fingerprint annotation, keeping every label and annotation.
  - With O(grace_period) the previous key keeps working until the period ends, as a second Secret
    C(tenant-<name>.retired-<fingerprint>) with the same tier and user id (the quota stays shared). Any later run
    for this tenant removes retired keys whose period is over.
  - The same run as M(tokenlabs.inference.tenants) with a one-tenant list, the same tenant fields and checks; use
    that module for a whole tenant list.
  - "Ownership: a tenant this module creates or changes is marked C(tokenlabs.io/owner=runbook), so that the
    inventory (M(tokenlabs.inference.tenants), C(site.yml)) never changes, re-keys or prunes it. A tenant without
    an owner is adopted. Every rotation raises the annotation C(tokenlabs.io/key-generation)."
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.tenant_fields
  - tokenlabs.inference.tenant_run
  - tokenlabs.inference.tenant_secrets
  - tokenlabs.inference.k8s_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Every write is sent as an API-server dry run; no key file is written.
  diff_mode:
    support: full
    details: Shows the tenant's public view (tier, user id, fingerprint, metadata), never the key.
  platform:
    platforms: posix
    support: full
    details: Runs where the task runs; with C(connection=local) that is the controller, so O(api_key_file) is a
      controller path.
options:
  api_key_file:
    description:
      - Where to write a newly generated or rotated key, a file path on the host the module runs on (the controller
        with C(connection=local)). Created with mode C(0600) (parent directories C(0700)) only after the Secret was
        written; an existing file is replaced atomically. Instead of O(key_dir) (which writes C(<key_dir>/<name>.key)).
    type: path
  must_exist:
    description:
      - Fail instead of creating the tenant when it does not exist (used by the change-tier and rotate runbooks).
    type: bool
    default: false
notes:
  - Authorino picks up new and deleted tenant Secrets and key changes through its Secret watch. It ignores an
    update that keeps the key (a tier or expiry change), so after changing an existing tenant the module touches
    the annotation C(tokenlabs.io/tenants-revision) of each AuthConfig in O(namespace) that authenticates these
    tenants; Authorino then re-reads them without refusing the key in between (RV(authorino_refresh)). This needs
    get/list/patch on C(authconfigs.authorino.kuadrant.io) there.
  - The expiry is metadata; revoke expired tenants with O(state=absent) (M(tokenlabs.inference.tenant_info)
    reports C(expired)).
seealso:
  - module: tokenlabs.inference.tenants
  - module: tokenlabs.inference.tenant_info
"""

EXAMPLES = r"""
- name: Onboard a tenant, key written to a 0600 file on the controller
  tokenlabs.inference.tenant:
    name: acme
    tier: pro
    tiers: "{{ tokenlabs_tiers }}"
    display_name: ACME Corp
    contact: ops@acme.example
    api_key_file: "{{ playbook_dir }}/../.cache/tenant-keys/acme.key"

- name: Move the tenant to another tier (only the groups annotation changes)
  tokenlabs.inference.tenant:
    name: acme
    tier: enterprise
    tiers: "{{ tokenlabs_tiers }}"
    must_exist: true

- name: Rotate the key, the previous key keeps working for a day
  tokenlabs.inference.tenant:
    name: acme
    rotate: true
    grace_period: 24h
    tiers: "{{ tokenlabs_tiers }}"
    must_exist: true
    api_key_file: /secure/keys/acme.key

- name: Revoke the tenant
  tokenlabs.inference.tenant:
    name: acme
    state: absent
"""

RETURN = r"""
tenant:
  description: Public view of the tenant after the run (null once revoked). Never contains the key.
  returned: always
  type: dict
  sample:
    name: acme
    secret: tenant-acme
    tier: pro
    user_id: acme
    fingerprint: "sha256:3f1c0b9e4d2a7c55"
    created_at: "2026-01-05T10:00:00Z"
    display_name: ACME Corp
    contact: ops@acme.example
    expires_at: null
    expired: false
    managed: true
    owner: runbook
    key_generation: 1
outcome:
  description: What happened to the tenant (V(failed) when its writes failed).
  returned: always
  type: str
  choices: [created, updated, deleted, unchanged, failed]
changes:
  description: Human-readable list of the changes (no key material).
  returned: always
  type: list
  elements: str
  sample: ["tier free -> pro"]
fingerprint:
  description: Fingerprint of the tenant's current key.
  returned: when the tenant exists after the run
  type: str
api_key_file:
  description: File the new key was written to.
  returned: when a new key was generated and O(api_key_file) or O(key_dir) was given (not in check mode)
  type: str
handover:
  description: The hand-over Secret (C(namespace/name)) the new key waits in for an operator.
  returned: when a key was generated with O(handover_namespace) (not in check mode)
  type: str
api_key:
  description: The newly generated key.
  returned: only with O(return_keys=true) when a key was generated (not in check mode)
  type: str
api_keys:
  description: The newly generated key by tenant name (the same key as RV(api_key)).
  returned: only with O(return_keys=true) when a key was generated (not in check mode)
  type: dict
authorino_refresh:
  description: The AuthConfigs touched so that Authorino re-reads the tenant; see M(tokenlabs.inference.tenants).
  returned: always
  type: dict
stats:
  description: Counters of the run (C(listed), C(writes), C(seconds), C(peak_rss_kb)); see M(tokenlabs.inference.tenants).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import module as tenant_module
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import options
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import auth_argument_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract


def argument_spec():
    return auth_argument_spec(options.argument_spec(
        options.TENANT_SECRETS_ARG_SPEC, options.TENANT_FIELDS_ARG_SPEC, options.TENANT_RUN_ARG_SPEC,
        {"api_key_file": {"type": "path"}, "must_exist": {"type": "bool", "default": False}}))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           mutually_exclusive=[("api_key_file", "key_dir")])
    p = module.params
    item = dict((field, p[field]) for field in options.TENANT_FIELDS_ARG_SPEC)
    item["create"] = not p["must_exist"]
    run = tenant_module.TenantRun(module, [item], contract.RUNBOOK, key_file=p["api_key_file"])
    out, applied = run.execute()
    out.update(tenant_module.single_tenant_view(out, applied, run.plan_tenants, p["name"], p["api_key_file"],
                                                module.check_mode))
    run.finish(out)


if __name__ == "__main__":
    main()
