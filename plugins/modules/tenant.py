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
    (C(tlabs_sk_) + 256 bits) and delivered only to O(api_key_file) or, with O(return_key=true), in the result.
  - Changing the tier patches only the C(kuadrant.io/groups) annotation; rotating patches only C(data.api_key) and
    the fingerprint annotation, keeping every label and annotation.
  - With O(grace_period) the previous key keeps working until the period ends, as a second Secret
    C(tenant-<name>.retired-<fingerprint>) with the same tier and user id (the quota stays shared). Any later run
    for this tenant removes retired keys whose period is over.
  - Uses the same reconcile code as M(tokenlabs.inference.tenants); use that module for a whole tenant list.
  - "Ownership: a tenant this module creates or changes is marked C(tokenlabs.io/owner=runbook), so that the
    inventory (M(tokenlabs.inference.tenants), C(site.yml)) never changes, re-keys or prunes it. A tenant without
    an owner is adopted. Every rotation raises the annotation C(tokenlabs.io/key-generation)."
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
    details: Shows the tenant's public view (tier, user id, fingerprint, metadata), never the key.
  platform:
    platforms: posix
    support: full
    details: Runs where the task runs; with C(connection=local) that is the controller, so O(api_key_file) is a
      controller path.
options:
  name:
    description:
      - Tenant name, a DNS-1123 label. The Secret is called C(tenant-<name>).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the tenant; V(absent) revokes it (deletes its Secret and retired keys).
    type: str
    choices: [present, absent]
    default: present
  tiers:
    description:
      - The valid tiers, as the tier table C(tokenlabs_tiers) (a dict keyed by tier name) or a list of names.
      - Required with O(state=present).
    type: raw
  tier:
    description:
      - Tier of the tenant, one of O(tiers). Required to create a tenant; omitted keeps the current tier.
    type: str
  user_id:
    description:
      - Identity used as the quota counter key, a DNS-1123 label unique among tenants.
      - Defaults to O(name) for a new tenant; omitted keeps the current value of an existing tenant.
    type: str
  display_name:
    description:
      - Human-readable name, stored as annotation. Omitted keeps the current value; an empty string removes it.
    type: str
  contact:
    description:
      - Contact of the tenant, stored as annotation. Omitted keeps the current value; an empty string removes it.
    type: str
  expires_at:
    description:
      - Expiry of the tenant as an RFC 3339 timestamp with a timezone (for example V(2026-12-31T23:59:59Z)),
        stored as annotation C(tokenlabs.io/expires-at) for listing and audit. Must lie in the future when set or
        changed. An empty string removes it.
    type: str
  api_key:
    description:
      - The key to install instead of a generated one, at least 32 characters of letters, digits and C(. _ ~ -),
        not a placeholder, not the key of another tenant.
      - For an existing tenant a different O(api_key) replaces the current key (a rotation).
    type: str
  rotate:
    description:
      - Replace the key with a new one (generated, or O(api_key)). Every run with V(true) rotates again.
    type: bool
    default: false
  grace_period:
    description:
      - With O(rotate=true), how long the previous key keeps working, for example V(30m), V(24h), V(7d), V(1h30m).
    type: str
  take_over:
    description:
      - Change a tenant that the inventory owns (annotation C(tokenlabs.io/owner=inventory), declared in
        C(tokenlabs_tenants)). Without it the module refuses any change to such a tenant -- tier, key, expiry,
        revoke -- with a message saying where it is declared; with it the owner becomes C(runbook). Remove the
        tenant from C(tokenlabs_tenants) too, or the next C(site.yml) run reports it as owned by the runbook.
    type: bool
    default: false
  must_exist:
    description:
      - Fail instead of creating the tenant when it does not exist (used by the change-tier and rotate runbooks).
    type: bool
    default: false
  api_key_file:
    description:
      - Where to write a newly generated or rotated key, a path on the host the module runs on (the controller
        with C(connection=local)). Created with mode C(0600) (parent directories C(0700)) only after the
        Secret was written; an existing file is replaced atomically.
      - A new key needs O(api_key_file) or O(return_key=true), otherwise the module fails before writing anything.
    type: path
  return_key:
    description:
      - Return a newly generated key in RV(api_key). Off by default so job logs stay clean; when on, register
        the result with C(no_log=true).
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
outcome:
  description: What happened to the tenant.
  returned: always
  type: str
  choices: [created, updated, deleted, unchanged]
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
  description: Path the new key was written to.
  returned: when a new key was generated and O(api_key_file) was given (not in check mode)
  type: str
api_key:
  description: The newly generated key.
  returned: only with O(return_key=true) when a key was generated (not in check mode)
  type: str
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
      description: Time spent in the module.
      type: float
    peak_rss_kb:
      description: Peak resident memory of the module process in KiB.
      type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils import _tenant_ownership as ownership
from ansible_collections.tokenlabs.inference.plugins.module_utils import tenant_model as tm
from ansible_collections.tokenlabs.inference.plugins.module_utils.k8s_api import (
    ApiError, auth_argument_spec, connect)
from ansible_collections.tokenlabs.inference.plugins.module_utils.tenant_reconcile import (
    Reconciler, check_key_destination, refresh_warning)


def argument_spec():
    return auth_argument_spec(dict(
        tm.TENANT_SECRETS_ARG_SPEC,
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        tiers=dict(type="raw"),
        tier=dict(type="str"),
        user_id=dict(type="str"),
        display_name=dict(type="str"),
        contact=dict(type="str"),
        expires_at=dict(type="str"),
        api_key=dict(type="str", no_log=True),
        rotate=dict(type="bool", default=False),
        grace_period=dict(type="str"),
        take_over=dict(type="bool", default=False),
        must_exist=dict(type="bool", default=False),
        api_key_file=dict(type="path"),
        return_key=dict(type="bool", default=False),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "present", ("tiers",))])
    p = module.params
    errors = []
    try:
        tiers = tm.normalize_tiers(p["tiers"]) if p["state"] == "present" else None
    except tm.TenantError as err:
        module.fail_json(msg=str(err))
    if p["grace_period"] and not p["rotate"]:
        errors.append("grace_period %r only applies together with rotate=true" % p["grace_period"])
    item = dict((k, p[k]) for k in ("name", "state", "tier", "user_id", "display_name", "contact",
                                    "expires_at", "api_key", "rotate", "grace_period", "take_over"))
    item["create"] = not p["must_exist"]
    spec, static_errors = tm.validate_item(item, tiers, tm.utcnow(), where="tenant")
    errors.extend(static_errors)
    if spec is not None:
        spec.owner = ownership.RUNBOOK
    problem = check_key_destination(p["api_key_file"])
    if problem:
        errors.append("api_key_file: " + problem)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)

    try:
        api = connect(module)
        reconciler = Reconciler(api, p["namespace"], p["selector"])
        live = reconciler.load()
        cross = ownership.ownership_errors([spec], live, ownership.RUNBOOK) + tm.check_cross_tenant([spec], live)
        if cross:
            module.fail_json(msg="; ".join(cross), errors=cross)
        plan, plan_errors = tm.build_plan([spec], live, p["namespace"], p["selector"], reconciler.now)
        if plan_errors:
            module.fail_json(msg="; ".join(plan_errors), errors=plan_errors)
        tenant_plan = plan.tenants[0]
        if tenant_plan.key_generated:
            if not p["api_key_file"] and not p["return_key"]:
                module.fail_json(msg="tenant %r needs a new key, but it has nowhere to go: set api_key_file (a 0600 "
                                     "file on the controller) or return_key=true; nothing was changed" % p["name"])
            if not p["return_key"]:
                module.no_log_values.add(tenant_plan.new_key)
        key_path_for = (lambda tp: p["api_key_file"]) if p["api_key_file"] else None
        result = reconciler.apply(plan, [spec], key_path_for=key_path_for)
    except ApiError as err:
        module.fail_json(msg=str(err))

    stats = reconciler.stats()
    if result["failures"]:
        module.fail_json(msg="tenant %r: %s" % (p["name"], result["failures"][0]["error"]),
                         changed=stats["writes"] > 0, stats=stats)
    final = result["applied"][0] if result["applied"] else tenant_plan
    action = final.kind if final.actions else "unchanged"
    out = dict(changed=bool(final.actions), outcome=action, changes=final.changes,
               tenant=final.after if action != "deleted" else None, authorino_refresh=result["authorino_refresh"],
               stats=stats)
    if out["tenant"]:
        out["fingerprint"] = out["tenant"].get("fingerprint")
    if final.key_generated and not module.check_mode:
        if p["api_key_file"]:
            out["api_key_file"] = p["api_key_file"]
        if p["return_key"]:
            out["api_key"] = final.new_key
    if module._diff:
        out["diff"] = {"before": final.before or {}, "after": out["tenant"] or {}}
    if not p["return_key"]:
        out = tm.redact_generated_keys(out)
    if refresh_warning(result["authorino_refresh"]):
        module.warn(refresh_warning(result["authorino_refresh"]))
    if plan.expired:
        module.warn("tenant %r expired at %s; revoke it with state=absent" % (p["name"], out["tenant"]["expires_at"]))
    module.exit_json(**out)


if __name__ == "__main__":
    main()
