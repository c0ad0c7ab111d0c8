# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Apply the tier policies rendered by tier_model to a cluster (used by the tier_policies module).

Order of a run: check the APIs (Kuadrant and Gateway API CRDs) and the target,
read the live policies and the tenant Secrets (metadata only), refuse to drop
a tier that tenants use, then server-side apply only the policies whose live
spec differs.  Reads are cheap; an unchanged table sends no write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils import tier_model
from ansible_collections.tokenlabs.inference.plugins.module_utils.k8s_api import ApiError


class PolicyApplyError(Exception):
    """A run failed; ``policies`` says what was applied before the failure."""

    def __init__(self, message, policies=None, changed=False):
        self.policies = policies or []
        self.changed = changed
        super(PolicyApplyError, self).__init__(message)


def _entry(kind, name, namespace, action):
    return {"kind": kind, "name": name, "namespace": namespace, "action": action}


def check_apis(api):
    discovery = {}
    for path, _resources, _message in tier_model.REQUIRED_APIS:
        discovery[path] = api.get(path, missing_ok=True)
    problems = tier_model.missing_apis(discovery)
    if problems:
        raise PolicyApplyError("cannot apply the tier policies: " + "; ".join(problems) + ". Nothing was applied.")


def check_target(api, kind, name, namespace):
    if api.get(tier_model.target_path(kind, namespace, name), missing_ok=True) is None:
        step = "the gateway role of playbooks/site.yml creates it" if kind == "Gateway" else \
            "create the route first (or set target_kind/target_name)"
        raise PolicyApplyError("target %s %s/%s does not exist; %s. Nothing was applied."
                               % (kind, namespace, name, step))


def _apply_one(api, desired):
    """Server-side apply ``desired``; replace the spec if other managers left extra fields."""
    kind = desired["kind"]
    meta = desired["metadata"]
    path = tier_model.policy_path(kind, meta["namespace"], meta["name"])
    applied = api.apply(path, desired)
    if applied and applied.get("spec") != desired["spec"]:
        # Fields owned by another field manager (e.g. a hand-applied copy of the
        # reference policies) survive server-side apply; replace the spec so the
        # policy is exactly what the table says.
        replacement = dict(applied)
        replacement["spec"] = desired["spec"]
        applied = api.request("PUT", path, body=replacement)
    return applied


def reconcile_policies(api, table, target_kind, target_name, namespace, kuadrant_namespace,
                       tenant_selector, token_paths, names):
    desired_all = tier_model.render_policies(table, target_kind, target_name, namespace, tenant_selector,
                                             token_paths=token_paths, names=names)
    tiers = sorted(table)
    check_apis(api)
    check_target(api, target_kind, target_name, namespace)

    live = {}
    for kind in tier_model.APPLY_ORDER:
        live[kind] = api.get(tier_model.policy_path(kind, namespace, names[kind]), missing_ok=True)

    tenants = api.list("/api/v1/namespaces/%s/secrets" % kuadrant_namespace,
                       label_selector=tier_model.label_selector_string(tenant_selector), metadata_only=True)
    blocked, warnings = tier_model.check_tenant_tiers(
        tenants, tiers, tier_model.previous_tiers(live["AuthPolicy"]))
    if blocked:
        raise PolicyApplyError(tier_model.describe_blocked(blocked, kuadrant_namespace) + " Nothing was applied.")

    policies = []
    changed = False
    before = {}
    after = {}
    for kind in tier_model.APPLY_ORDER:
        desired = desired_all[kind]
        label = "%s/%s" % (kind, names[kind])
        if tier_model.live_matches(desired, live[kind]):
            policies.append(_entry(kind, names[kind], namespace, "unchanged"))
            continue
        try:
            _apply_one(api, desired)
        except ApiError as exc:
            done = ", ".join("%s %s" % (p["kind"], p["action"]) for p in policies) or "nothing"
            pending = [k for k in tier_model.APPLY_ORDER if k not in [p["kind"] for p in policies]]
            policies.append(_entry(kind, names[kind], namespace, "failed"))
            raise PolicyApplyError(
                "applying %s failed: %s. Already done: %s; not applied: %s. Re-run after fixing the cause."
                % (label, exc, done, ", ".join(pending)), policies=policies, changed=changed)
        changed = True
        action = "updated" if live[kind] else "created"
        policies.append(_entry(kind, names[kind], namespace, action))
        before[label] = (live[kind] or {}).get("spec")
        after[label] = desired["spec"]
    result = {"changed": changed, "tiers": tiers, "policies": policies, "warnings": warnings}
    if changed:
        result["diff"] = {"before": before, "after": after}
    return result


def remove_policies(api, namespace, names):
    policies = []
    changed = False
    before = {}
    # Authentication goes last: keys stay required until the limits are gone.
    for kind in tier_model.APPLY_ORDER:
        path = tier_model.policy_path(kind, namespace, names[kind])
        live = api.get(path, missing_ok=True)  # also None when the CRD is not installed
        if live is None:
            policies.append(_entry(kind, names[kind], namespace, "absent"))
            continue
        try:
            api.delete(path)
        except ApiError as exc:
            raise PolicyApplyError("deleting %s/%s failed: %s" % (kind, names[kind], exc),
                                   policies=policies, changed=changed)
        changed = True
        policies.append(_entry(kind, names[kind], namespace, "deleted"))
        before["%s/%s" % (kind, names[kind])] = live.get("spec")
    result = {"changed": changed, "policies": policies, "warnings": []}
    if changed:
        result["diff"] = {"before": before, "after": dict((k, None) for k in before)}
    return result
