#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tenants
short_description: Reconcile the whole tenant list in one call
version_added: 0.1.0
description:
  - Brings the tenant Secrets of the Kuadrant namespace in line with a desired list (usually C(tokenlabs_tenants)
    from inventory) in one module run. The Secret shape is described in M(tokenlabs.inference.tenant).
  - One LIST by label, then only the writes that are needed (creates, merge patches of exactly the fields that
    differ, deletes), sent concurrently; a 409 Conflict re-reads that tenant and retries. An unchanged list
    sends no write at all.
  - All input is validated before anything is written (unknown tiers, names and user ids that are not DNS-1123
    labels, user ids used twice, weak or duplicate keys, past or malformed expiry times, unknown fields).
  - If some tenants fail (admission webhook, conflicting object, permissions), the others are still applied;
    the module fails and RV(failures) names each failed tenant with the reason. A rerun converges.
  - Keys are never returned unless O(return_keys=true); generated keys go to C(<key_dir>/<name>.key) (mode 0600).
  - The role C(tokenlabs.inference.tenants) runs this module with the inventory's C(tokenlabs_tenants).
  - "Ownership: every tenant this module creates or adopts is marked C(tokenlabs.io/owner=inventory). A listed
    tenant without an owner (for example made with C(kubectl)) is adopted, keeping its key. A listed tenant the
    runbook owns (C(tokenlabs.io/owner=runbook), M(tokenlabs.inference.tenant)) is refused with a message naming it,
    unless its entry sets O(tenants[].take_over=true); the runbook likewise refuses to change inventory tenants."
  - Authorino ignores an update of a tenant Secret that keeps its key (a tier or expiry change). After changing
    existing tenants the module touches the annotation C(tokenlabs.io/tenants-revision) of each AuthConfig in
    O(namespace) that authenticates them, so Authorino re-reads the tenants without refusing any key in
    between (RV(authorino_refresh)); this needs get/list/patch on C(authconfigs.authorino.kuadrant.io) there.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.tenant_fields.tenants
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
    details: Shows the public view of each changed tenant (tier, user id, fingerprint, metadata), never a key.
  platform:
    platforms: posix
    support: full
    details: Runs where the task runs; with C(connection=local) that is the controller, so O(key_dir) is a
      controller path.
options:
  tenants:
    description:
      - The desired tenants, each with the fields below (the same fields as the options of
        M(tokenlabs.inference.tenant)).
    type: list
    elements: dict
    default: []
  prune:
    description:
      - Delete the tenants the inventory owns (annotation C(tokenlabs.io/owner=inventory)) that are not in
        O(tenants). Tenants onboarded with the runbook, and Secrets without an owner, are never pruned.
    type: bool
    default: false
  prune_max_share:
    description:
      - Refuse (before writing anything) to prune more than this share of the managed tenants.
    type: float
    default: 0.5
  prune_override:
    description:
      - Prune even when more than O(prune_max_share) of the managed tenants would be deleted.
    type: bool
    default: false
  concurrency:
    description:
      - Number of writes in flight at once.
    type: int
    default: 16
seealso:
  - module: tokenlabs.inference.tenant
  - module: tokenlabs.inference.tenant_info
"""

EXAMPLES = r"""
- name: Reconcile the tenants of the inventory
  tokenlabs.inference.tenants:
    tenants: "{{ tokenlabs_tenants }}"
    tiers: "{{ tokenlabs_tiers }}"
    kuadrant_namespace: "{{ tokenlabs_kuadrant_namespace }}"
    tenant_selector: "{{ tokenlabs_tenant_selector }}"
    key_dir: "{{ playbook_dir }}/../.cache/tenant-keys"

- name: Reconcile and delete tenants that are no longer listed
  tokenlabs.inference.tenants:
    tenants:
      - name: acme
        tier: pro
        display_name: ACME Corp
      - name: globex
        tier: free
        api_key: "{{ vault_globex_key }}"
    tiers: [free, pro, enterprise]
    prune: true
    key_dir: /secure/tenant-keys
"""

RETURN = r"""
created:
  description: Tenants created.
  returned: always
  type: list
  elements: str
updated:
  description: Tenants whose Secret was patched (tier, user id, metadata, key, retired keys).
  returned: always
  type: list
  elements: str
deleted:
  description: Tenants revoked (state absent or pruned).
  returned: always
  type: list
  elements: str
unchanged:
  description: Tenants that needed no write.
  returned: always
  type: list
  elements: str
failures:
  description: Tenants that could not be applied, each with the reason; the rest were applied.
  returned: always
  type: list
  elements: dict
  sample: [{name: globex, error: "POST /api/v1/namespaces/kuadrant-system/secrets failed (422 ...): ..."}]
expired:
  description: Tenants whose C(expires_at) lies in the past (still present; revoke them).
  returned: always
  type: list
  elements: str
changes:
  description: Per changed tenant, a human-readable list of changes (no key material).
  returned: always
  type: dict
key_files:
  description: Per tenant with a generated key, the file it was written to.
  returned: when O(key_dir) is set and keys were generated (not in check mode)
  type: dict
handovers:
  description: Per tenant with a generated key, the hand-over Secret (C(namespace/name)) it waits in.
  returned: always (empty without O(handover_namespace))
  type: dict
expired_handovers:
  description: Hand-over Secrets removed because their O(handover_ttl) was over.
  returned: always
  type: list
  elements: str
recovered_key_files:
  description:
    - Tenants whose key file an interrupted earlier run had staged but not put in place (killed between writing the
      Secret and renaming the file); this run put it in place, as it holds the live key. Also in RV(key_files).
  returned: always
  type: list
  elements: str
api_keys:
  description: Per tenant, the newly generated key.
  returned: only with O(return_keys=true) when keys were generated (not in check mode)
  type: dict
authorino_refresh:
  description:
    - When existing tenant Secrets were changed, the AuthConfigs that were touched so that Authorino re-reads
      the tenants (it ignores Secret updates that keep the key, such as a tier or expiry change), and why that
      was skipped, if it was. Null when nothing needed it (no update, or check mode).
  returned: always
  type: dict
  contains:
    authconfigs:
      description: Names of the AuthConfigs touched.
      type: list
      elements: str
    skipped:
      description: Why no (or not every) AuthConfig was touched, or null.
      type: str
stats:
  description: Counters of the run.
  returned: always
  type: dict
  contains:
    listed:
      description: Tenant Secrets found by the label LIST.
      type: int
    writes:
      description: Writes sent (dry runs excluded).
      type: int
    seconds:
      description: Time spent in the module after argument validation.
      type: float
    peak_rss_kb:
      description: Peak resident memory of the module process in KiB.
      type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import module as tenant_module
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import options
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import auth_argument_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract


def argument_spec():
    return auth_argument_spec(options.argument_spec(
        options.TENANT_SECRETS_ARG_SPEC, options.TENANT_RUN_ARG_SPEC, {
            "tenants": {"type": "list", "elements": "dict", "default": [],
                        "options": options.argument_spec(options.TENANT_FIELDS_ARG_SPEC)},
            "prune": {"type": "bool", "default": False},
            "prune_max_share": {"type": "float", "default": 0.5},
            "prune_override": {"type": "bool", "default": False},
            "concurrency": {"type": "int", "default": 16},
        }))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    run = tenant_module.TenantRun(module, p["tenants"], contract.INVENTORY, prune=p["prune"],
                                  prune_max_share=p["prune_max_share"], prune_override=p["prune_override"],
                                  concurrency=p["concurrency"])
    out, _applied = run.execute()
    run.finish(out)


if __name__ == "__main__":
    main()
