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
      - The desired tenants.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Tenant name, a DNS-1123 label; the Secret is C(tenant-<name>).
        type: str
        required: true
      state:
        description: V(absent) revokes the tenant even without O(prune).
        type: str
        choices: [present, absent]
        default: present
      tier:
        description: Tier, one of O(tiers). Required for a new tenant; omitted keeps the current tier.
        type: str
      user_id:
        description: Quota counter key, a unique DNS-1123 label; defaults to the name for a new tenant.
        type: str
      display_name:
        description: Human-readable name; omitted keeps the current value, an empty string removes it.
        type: str
      contact:
        description: Contact; omitted keeps the current value, an empty string removes it.
        type: str
      expires_at:
        description: RFC 3339 expiry (in the future when set or changed); an empty string removes it.
        type: str
      api_key:
        description:
          - Key to install (keep it in Ansible Vault). At least 32 characters of letters, digits and C(. _ ~ -),
            not the key of another tenant. A different key than the current one replaces it.
        type: str
      rotate:
        description:
          - Not allowed here (V(true) would rotate on every run); use O(tenants[].key_generation). The runbook
            (M(tokenlabs.inference.tenant)) rotates with O(tokenlabs.inference.tenant#module:rotate).
        type: bool
        default: false
      key_generation:
        description:
          - Declarative rotation. The live key generation is stored in the annotation
            C(tokenlabs.io/key-generation) (the first key is 1). A value above it rotates the key once, with
            O(tenants[].grace_period); the same value changes nothing; a lower value is an error.
        type: int
      grace_period:
        description:
          - With a raised O(tenants[].key_generation), how long the previous key keeps working (V(30m), V(24h),
            V(7d)).
        type: str
      take_over:
        description:
          - Manage this tenant from the inventory although the runbook owns it (annotation
            C(tokenlabs.io/owner=runbook)). Without it such a tenant is an error that names it; with it the owner
            becomes C(inventory). Remove the flag after the run that took it over.
        type: bool
        default: false
  tiers:
    description:
      - The valid tiers, as the tier table C(tokenlabs_tiers) (a dict keyed by tier name) or a list of names.
    type: raw
    required: true
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
  key_dir:
    description:
      - Directory (on the controller with C(connection=local)) for generated keys, one file C(<name>.key) with
        mode C(0600) per new or rotated key, written only after its Secret was written. Created with mode C(0700).
      - Generated keys need O(key_dir) or O(return_keys=true), otherwise the module fails before writing anything.
    type: path
  return_keys:
    description:
      - Return generated keys in RV(api_keys). Off by default so job logs stay clean; when on, register the
        result with C(no_log=true).
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
    namespace: "{{ tokenlabs_kuadrant_namespace }}"
    selector: "{{ tokenlabs_tenant_selector }}"
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

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils import _tenant_ownership as ownership
from ansible_collections.tokenlabs.inference.plugins.module_utils import tenant_model as tm
from ansible_collections.tokenlabs.inference.plugins.module_utils.k8s_api import (
    ApiError, auth_argument_spec, connect)
from ansible_collections.tokenlabs.inference.plugins.module_utils.tenant_reconcile import (
    Reconciler, check_key_destination, refresh_warning)

NO_LOG_VALUES_MAX = 1000

TENANT_SUBOPTIONS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    tier=dict(type="str"),
    user_id=dict(type="str"),
    display_name=dict(type="str"),
    contact=dict(type="str"),
    expires_at=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    rotate=dict(type="bool", default=False),
    key_generation=dict(type="int", no_log=False),
    grace_period=dict(type="str"),
    take_over=dict(type="bool", default=False),
)


def argument_spec():
    return auth_argument_spec(dict(
        tm.TENANT_SECRETS_ARG_SPEC,
        tenants=dict(type="list", elements="dict", default=[], options=TENANT_SUBOPTIONS),
        tiers=dict(type="raw", required=True),
        prune=dict(type="bool", default=False),
        prune_max_share=dict(type="float", default=0.5),
        prune_override=dict(type="bool", default=False),
        key_dir=dict(type="path"),
        return_keys=dict(type="bool", default=False),
        concurrency=dict(type="int", default=16),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    try:
        tiers = tm.normalize_tiers(p["tiers"])
    except tm.TenantError as err:
        module.fail_json(msg=str(err))
    now = tm.utcnow()
    specs, errors = tm.validate_items(p["tenants"], tiers, now)
    for spec in specs:
        spec.owner = ownership.INVENTORY
        if spec.rotate:
            errors.append("tenant %r: rotate=true would rotate the key again on every run; raise key_generation "
                          "by one instead (the key is rotated once, with the optional grace_period)" % spec.name)
        if spec.grace_seconds and spec.key_generation is None:
            errors.append("tenant %r: grace_period %r only applies together with key_generation"
                          % (spec.name, spec.grace_period))
    if not 0 <= p["prune_max_share"] <= 1:
        errors.append("prune_max_share %r must be between 0 and 1" % p["prune_max_share"])
    if p["concurrency"] < 1:
        errors.append("concurrency %r must be at least 1" % p["concurrency"])
    if p["key_dir"] and os.path.exists(p["key_dir"]) and not os.path.isdir(p["key_dir"]):
        errors.append("key_dir %s exists and is not a directory" % p["key_dir"])
    elif p["key_dir"]:
        problem = check_key_destination(os.path.join(p["key_dir"], "probe.key"))
        if problem:
            errors.append("key_dir: " + problem)
    if errors:
        module.fail_json(msg="invalid tenants: " + "; ".join(errors), errors=errors)

    try:
        api = connect(module, workers=p["concurrency"])
        reconciler = Reconciler(api, p["namespace"], p["selector"], now=now, workers=p["concurrency"])
        live = reconciler.load()
        pruned = tm.prune_candidates(specs, live) if p["prune"] else []
        errors = ownership.ownership_errors(specs, live, ownership.INVENTORY)
        errors.extend(tm.check_cross_tenant(specs, live, pruned))
        problem = tm.prune_problem(pruned, live, p["prune_max_share"], p["prune_override"])
        if problem:
            errors.append(problem)
        plan, plan_errors = tm.build_plan(specs, live, p["namespace"], p["selector"], now, prune=p["prune"])
        errors.extend(plan_errors)
        generated = [tp for tp in plan.tenants if tp.key_generated]
        if generated and not p["key_dir"] and not p["return_keys"]:
            errors.append("%d tenant(s) need a new key (%s) but it has nowhere to go: set key_dir (0600 files on "
                          "the controller) or return_keys=true"
                          % (len(generated), ", ".join(tp.name for tp in generated[:20])))
        if errors:
            module.fail_json(msg="invalid tenants, nothing was changed: " + "; ".join(errors), errors=errors,
                             stats=reconciler.stats())
        if not p["return_keys"] and len(generated) <= NO_LOG_VALUES_MAX:
            # Defence in depth only: keys are never put into the result. Ansible scans every output
            # string for every no_log value, which costs seconds for thousands of keys, so large runs
            # rely on redact_generated_keys() (one pass) below instead.
            for tp in generated:
                module.no_log_values.add(tp.new_key)
        key_path_for = None
        if p["key_dir"]:
            key_dir = p["key_dir"]

            def key_path_for(tenant_plan):
                return os.path.join(key_dir, tenant_plan.name + ".key")
        result = reconciler.apply(plan, specs, key_path_for=key_path_for)
    except ApiError as err:
        module.fail_json(msg=str(err))

    stats = reconciler.stats()
    applied = result.pop("applied")
    diff = result.pop("diff")
    out = dict(result, changed=stats["writes"] > 0 or (module.check_mode and any(tp.actions for tp in applied)),
               expired=sorted(plan.expired), stats=stats)
    if module.check_mode or not p["key_dir"]:
        out.pop("key_files")
    if p["return_keys"] and not module.check_mode:
        out["api_keys"] = dict((tp.name, tp.new_key) for tp in applied if tp.key_generated)
    if module._diff:
        changed = set(out["created"] + out["updated"] + out["deleted"])
        out["diff"] = {"before": dict((n, v) for n, v in diff["before"].items() if n in changed and v),
                       "after": dict((n, v) for n, v in diff["after"].items() if n in changed and v)}
    if refresh_warning(result["authorino_refresh"]):
        module.warn(refresh_warning(result["authorino_refresh"]))
    for name in plan.expired:
        module.warn("tenant %r has expired (expires_at in the past); revoke it or extend expires_at" % name)
    if not p["return_keys"]:
        out = tm.redact_generated_keys(out)
    if out["failures"]:
        out["msg"] = ("%d tenant(s) failed, the others were applied (created %d, updated %d, deleted %d): %s"
                      % (len(out["failures"]), len(out["created"]), len(out["updated"]), len(out["deleted"]),
                         "; ".join("%s: %s" % (f["name"], f["error"]) for f in out["failures"])))
        module.fail_json(**out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
