# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Apply the tier policies rendered by tier_model to a cluster (used by the tier_policies module).

Private to this collection (not an API for other collections; it may change
without notice).

Order of a run: check the APIs (Kuadrant and Gateway API CRDs) and the target,
read the live policies and the tenant Secrets (metadata only), refuse to drop
a tier that tenants use, then server-side apply only the policies whose live
spec differs.  Reads are cheap; an unchanged table sends no write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract


class PolicyApplyError(Exception):
    """A run failed; ``policies`` says what was applied before the failure."""

    def __init__(self, message, policies=None, changed=False):
        self.policies = policies or []
        self.changed = changed
        super(PolicyApplyError, self).__init__(message)


def _entry(kind, name, namespace, action):
    return {"kind": kind, "name": name, "namespace": namespace, "action": action}


def missing_api_problems(api):
    """Problems with the Kuadrant and Gateway API CRDs the policies need ([] when all are served)."""
    discovery = {}
    for path, _resources, _message in policy_render.REQUIRED_APIS:
        discovery[path] = api.get(path, missing_ok=True)
    return policy_render.missing_apis(discovery)


def check_apis(api):
    problems = missing_api_problems(api)
    if problems:
        raise PolicyApplyError("cannot apply the tier policies: " + "; ".join(problems) + ". Nothing was applied.")


def missing_target_problem(api, kind, name, namespace):
    """Why the policy target is missing, or None when it exists."""
    if api.get(policy_render.target_path(kind, namespace, name), missing_ok=True) is None:
        step = "the gateway role of playbooks/site.yml creates it" if kind == "Gateway" else \
            "create the route first (or set target_kind/target_name)"
        return "target %s %s/%s does not exist; %s" % (kind, namespace, name, step)
    return None


def check_target(api, kind, name, namespace):
    problem = missing_target_problem(api, kind, name, namespace)
    if problem:
        raise PolicyApplyError(problem + ". Nothing was applied.")


def _apply_one(api, desired):
    """Server-side apply ``desired``; replace the spec if other managers left extra fields."""
    kind = desired["kind"]
    meta = desired["metadata"]
    path = policy_render.policy_path(kind, meta["namespace"], meta["name"])
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
                       tenant_selector, token_paths, names, check_mode=False):
    """Apply the policies of ``table``.

    In check mode a cluster without the CRDs or the target (an empty cluster,
    where earlier roles of playbooks/site.yml would create them) is not an
    error: the policies that differ are reported as they would be applied,
    without a dry run, and a warning names what is missing.
    """
    desired_all = policy_render.render_policies(table, target_kind, target_name, namespace, tenant_selector,
                                                token_paths=token_paths, names=names)
    tiers = sorted(table)
    missing = []
    if check_mode:
        missing = missing_api_problems(api)
        target_problem = missing_target_problem(api, target_kind, target_name, namespace)
        if target_problem:
            missing.append(target_problem)
    else:
        check_apis(api)
        check_target(api, target_kind, target_name, namespace)

    live = {}
    for kind in tier_table.APPLY_ORDER:
        live[kind] = api.get(policy_render.policy_path(kind, namespace, names[kind]), missing_ok=True)

    tenants = api.list("/api/v1/namespaces/%s/secrets" % kuadrant_namespace,
                       label_selector=contract.tenant_label_selector(tenant_selector), metadata_only=True)
    blocked, warnings = policy_render.check_tenant_tiers(
        tenants, tiers, contract.policy_tiers(live["AuthPolicy"]))
    if blocked:
        raise PolicyApplyError(policy_render.describe_blocked(blocked, kuadrant_namespace) + " Nothing was applied.")
    if missing:
        warnings = list(warnings) + [
            "check mode: " + "; ".join(missing) + ". An earlier role of playbooks/site.yml (crds, kuadrant, "
            "gateway) creates what is missing in a real run, so the policies are reported as they would be "
            "applied, without a server-side dry run."]

    policies = []
    changed = False
    before = {}
    after = {}
    for kind in tier_table.APPLY_ORDER:
        desired = desired_all[kind]
        label = "%s/%s" % (kind, names[kind])
        if policy_render.live_matches(desired, live[kind]):
            policies.append(_entry(kind, names[kind], namespace, "unchanged"))
            continue
        try:
            if not missing:
                _apply_one(api, desired)
        except ApiError as exc:
            done = ", ".join("%s %s" % (p["kind"], p["action"]) for p in policies) or "nothing"
            pending = [k for k in tier_table.APPLY_ORDER if k not in [p["kind"] for p in policies]]
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
    for kind in tier_table.APPLY_ORDER:
        path = policy_render.policy_path(kind, namespace, names[kind])
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
