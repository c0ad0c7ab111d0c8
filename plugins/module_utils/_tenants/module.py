# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The one run function and option spec behind the ``tenant`` and ``tenants`` modules.

Private to this collection (not an API for other collections; it may change
without notice).

``tenant`` (the runbook) turns its parameters into a one-item list; ``tenants``
(the inventory) passes its list. Both then go through :class:`TenantRun`: validate
everything, connect, load the live tenants with one LIST, check ownership and
cross-tenant rules, plan, make sure every new key has somewhere to go, apply,
and build the result (never a key unless asked for). The options: options.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import handover as tenant_handover
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import ownership
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import tiers as tenant_tiers
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError, connect
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.reconcile import (
    Reconciler, check_key_destination, refresh_warning)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

# Above this many generated keys, no_log_values are not registered (see TenantRun.plan).
NO_LOG_VALUES_MAX = 1000


def _key_destination_errors(key_dir, key_file):
    errors = []
    if key_dir and os.path.exists(key_dir) and not os.path.isdir(key_dir):
        errors.append("key_dir %s exists and is not a directory" % key_dir)
    elif key_dir:
        problem = check_key_destination(os.path.join(key_dir, "probe.key"))
        if problem:
            errors.append("key_dir: " + problem)
    problem = check_key_destination(key_file)
    if problem:
        errors.append("api_key_file: " + problem)
    return errors


def _owner_errors(specs, owner):
    errors = []
    for spec in specs:
        spec.owner = owner
        if spec.rotate and owner == contract.INVENTORY:
            errors.append("tenant %r: rotate=true would rotate the key again on every run; raise key_generation "
                          "by one instead (the key is rotated once, with the optional grace_period)" % spec.name)
        if spec.grace_period not in (None, "") and not spec.rotate and spec.key_generation is None:
            errors.append("tenant %r: grace_period %r only applies together with %s"
                          % (spec.name, spec.grace_period,
                             "key_generation" if owner == contract.INVENTORY else "rotate=true"))
    return errors


class TenantRun(object):
    """One run of a tenant module: ``items`` (tenant dicts), ``owner`` (inventory or runbook)."""

    def __init__(self, module, items, owner, key_file=None, prune=False, prune_max_share=0.5, prune_override=False,
                 concurrency=16):
        self.module = module
        self.params = module.params
        self.items = items
        self.owner = owner
        self.key_file = key_file
        self.prune = prune
        self.prune_max_share = prune_max_share
        self.prune_override = prune_override
        self.concurrency = concurrency
        self.now = validation.utcnow()
        self.plan_tenants = []
        self.tiers = None
        self.handover_seconds = None

    def fail(self, prefix, errors, **extra):
        self.module.fail_json(msg=prefix + "; ".join(errors), errors=errors, **extra)

    def key_path_for(self, tenant_plan):
        if self.key_file:
            return self.key_file
        return os.path.join(self.params["key_dir"], tenant_plan.name + ".key")

    def validate(self):
        """Every check that needs no cluster; fails the module before connecting."""
        p = self.params
        try:
            tiers = tenant_spec.normalize_tiers(p["tiers"])
        except tenant_spec.TenantError as err:
            self.module.fail_json(msg=str(err), errors=[str(err)])
        self.tiers = tiers
        specs, errors = tenant_spec.validate_items(self.items, tiers)
        errors.extend(_owner_errors(specs, self.owner))
        if not 0 <= self.prune_max_share <= 1:
            errors.append("prune_max_share %r must be between 0 and 1" % self.prune_max_share)
        if self.concurrency < 1:
            errors.append("concurrency %r must be at least 1" % self.concurrency)
        errors.extend(_key_destination_errors(p["key_dir"], self.key_file))
        self.handover_seconds = validation.parse_duration_seconds(p["handover_ttl"])
        if self.handover_seconds is None:
            errors.append("handover_ttl %r is not a duration; use a number with a unit s, m, h, d or w, e.g. 24h"
                          % p["handover_ttl"])
        if p["handover_namespace"] is not None:
            problem = validation.dns_label_problem("handover_namespace", p["handover_namespace"])
            if problem:
                errors.append(problem)
        if errors:
            self.fail("invalid tenants, nothing was changed: ", errors)
        return specs

    def check_tiers(self, api, specs):
        """The deployed AuthPolicy's tiers against the given ones and the tenants' tiers (see tiers)."""
        if not any(s.state == "present" for s in specs):
            return
        p = self.params
        deployed, why_not = tenant_tiers.deployed_tiers(api, p["auth_policy_namespace"], p["auth_policy_name"])
        where = "AuthPolicy %s/%s" % (p["auth_policy_namespace"], p["auth_policy_name"])
        tiers, errors, warnings = tenant_tiers.resolve_tiers(self.tiers, deployed, why_not, where,
                                                             self.module.check_mode)
        for warning in warnings:
            self.module.warn(warning)
        if tiers is not None:
            errors.extend(tenant_spec.tier_errors(specs, tiers))
        if errors:
            self.fail("invalid tenants, nothing was changed: ", errors)

    def plan(self, reconciler, specs):
        """Load the live tenants and plan; fails naming every problem before anything is written."""
        live = reconciler.load()
        pruned = planning.prune_candidates(specs, live) if self.prune else []
        errors = ownership.ownership_errors(specs, live, self.owner)
        errors.extend(planning.check_cross_tenant(specs, live, pruned))
        problem = planning.prune_problem(pruned, live, self.prune_max_share, self.prune_override)
        if problem:
            errors.append(problem)
        plan, plan_errors = planning.build_plan(specs, live, reconciler.namespace, reconciler.selector, self.now,
                                                prune=self.prune)
        errors.extend(plan_errors)
        generated = [tp for tp in plan.tenants if tp.key_generated]
        if generated and not (self.key_file or self.params["key_dir"] or self.params["return_keys"]
                              or self.params["handover_namespace"]):
            errors.append("%d tenant(s) need a new key (%s) but it has nowhere to go: set key_dir or api_key_file "
                          "(0600 files on the controller), handover_namespace, or return_keys=true; nothing was "
                          "changed"
                          % (len(generated), ", ".join(tp.name for tp in generated[:20])))
        if errors:
            self.fail("invalid tenants, nothing was changed: ", errors, stats=reconciler.stats())
        if not self.params["return_keys"] and len(generated) <= NO_LOG_VALUES_MAX:
            # Defence in depth only: keys are never put into the result. Ansible scans every output
            # string for every no_log value, which costs seconds for thousands of keys, so large runs
            # rely on redact_generated_keys() (one pass) instead.
            for tenant_plan in generated:
                self.module.no_log_values.add(tenant_plan.new_key)
        return plan

    def execute(self):
        """Validate, plan, apply; returns (result dict, plan, applied TenantPlans). Fails the module on errors."""
        specs = self.validate()
        p = self.params
        try:
            api = connect(self.module, workers=self.concurrency)
            self.check_tiers(api, specs)
            reconciler = Reconciler(api, p["kuadrant_namespace"], p["tenant_selector"], now=self.now,
                                    workers=self.concurrency)
            plan = self.plan(reconciler, specs)
            deliver = self.key_file or p["key_dir"]
            if p["handover_namespace"]:
                reconciler.handover = tenant_handover.Handover(api, p["handover_namespace"], self.handover_seconds,
                                                               p["kuadrant_namespace"], self.now)
            result = reconciler.apply(plan, specs, key_path_for=self.key_path_for if deliver else None)
            result["expired_handovers"] = (reconciler.handover.remove_expired()
                                           if reconciler.handover and not self.module.check_mode else [])
        except ApiError as err:
            self.module.fail_json(msg=str(err))
        return self.shape(result, plan, reconciler.stats())

    def shape(self, result, plan, stats):
        check_mode = self.module.check_mode
        applied = result.pop("applied")
        diff = result.pop("diff")
        out = dict(result, expired=sorted(plan.expired), stats=stats,
                   changed=stats["writes"] > 0 or (check_mode and any(tp.actions for tp in applied)))
        if check_mode or not (self.key_file or self.params["key_dir"]):
            out.pop("key_files")
        if self.params["return_keys"] and not check_mode:
            out["api_keys"] = dict((tp.name, tp.new_key) for tp in applied if tp.key_generated)
        if self.module._diff:
            changed = set(out["created"] + out["updated"] + out["deleted"])
            out["diff"] = {"before": dict((n, v) for n, v in diff["before"].items() if n in changed and v),
                           "after": dict((n, v) for n, v in diff["after"].items() if n in changed and v)}
        for name in out["recovered_key_files"]:
            self.module.warn("the key file of tenant %r was completed from an interrupted earlier run (its Secret had "
                             "the key, the file was still staged): %s" % (name, out["key_files"][name]))
        warning = refresh_warning(out["authorino_refresh"])
        if warning:
            self.module.warn(warning)
        for name in plan.expired:
            self.module.warn("tenant %r has expired (expires_at in the past); revoke it (state=absent) or extend "
                             "expires_at" % name)
        self.plan_tenants = plan.tenants
        return out, applied

    def finish(self, out):
        """Redact, and exit (or fail naming every failed tenant and what was applied)."""
        if not self.params["return_keys"]:
            out = tenant_keys.redact_generated_keys(out)
        if out["failures"]:
            out["msg"] = ("%d tenant(s) failed, the others were applied (created %d, updated %d, deleted %d): %s"
                          % (len(out["failures"]), len(out["created"]), len(out["updated"]), len(out["deleted"]),
                             "; ".join("%s: %s" % (f["name"], f["error"]) for f in out["failures"])))
            self.module.fail_json(**out)
        self.module.exit_json(**out)


def single_tenant_view(out, applied, planned, name, key_file, check_mode):
    """The ``tenant`` module's extra result fields for its one tenant.

    ``applied`` holds the tenant's final plan when it had writes; ``planned`` every plan (an unchanged
    tenant is only there).
    """
    final = applied[0] if applied else None
    if final is None and not out["failures"]:
        final = next((tp for tp in planned if tp.name == name), None)
    if final is None:
        return {"outcome": "failed", "changes": [], "tenant": None}
    outcome = final.kind if final.actions else "unchanged"
    view = {"outcome": outcome, "changes": final.changes,
            "tenant": final.after if outcome != "deleted" else None}
    if view["tenant"]:
        view["fingerprint"] = view["tenant"].get("fingerprint")
    if final.key_generated and not check_mode:
        if key_file or "key_files" in out:
            view["api_key_file"] = (out.get("key_files") or {}).get(name, key_file)
        if "api_keys" in out:
            view["api_key"] = out["api_keys"].get(name)
    if out.get("handovers", {}).get(name):
        view["handover"] = out["handovers"][name]
    if "diff" in out:
        view["diff"] = {"before": final.before or {}, "after": view["tenant"] or {}}
    return view
