# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The capacity plan: how far the sold token quotas oversubscribe what the benchmark measured the models can serve.

Private to this collection (not an API for other collections; it may change
without notice).

- sold: the sum over tenants of their tier's ``tokens_per_minute`` (what every tenant may send at once);
- a model's capacity: the best level of the newest benchmark record (the benchmark job's JSON), input plus output
  tokens per second of the whole level (``input_tokens_per_s`` + ``decode_tokens_per_s``) times 60 -- the tokens a
  TokenRateLimitPolicy counts (``usage.total_tokens``);
- a node's capacity: its models' (the record's ``node``); the platform's: all models'.
The oversubscription factor is sold / capacity: for the platform, per node, and per model as if every tenant sent
to that model (a quota is not per model). Past ``warn_factor`` a warning; past ``limit_factor`` (when set) a failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_report as report
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError, auth_argument_spec, connect
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract, options as tenant_options
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.secret import LiveIndex, secret_meta

ARG_SPEC = auth_argument_spec(tenant_options.argument_spec(tenant_options.TENANT_SECRETS_ARG_SPEC, {
    "tiers": {"type": "dict", "required": True},
    "tenant_tiers": {"type": "list", "elements": "str"},
    "results_dir": {"type": "path"},
    "record": {"type": "path"},
    "warn_factor": {"type": "float", "default": 2.0},
    "limit_factor": {"type": "float"},
}))
LIST_PAGE = 500


def tenant_tiers_of(secrets):
    """The tier (annotation ``kuadrant.io/groups``) of every tenant among the tenant Secrets (retired keys left out)."""
    index = LiveIndex(secrets)
    return [str((secret_meta(index.main.get(t) or index.other.get(t)).get("annotations") or {})
                .get(contract.GROUPS_ANNOTATION)) for t in index.all_tenants()]


def newest_record(results_dir):
    found = sorted(glob.glob(os.path.join(results_dir, report.RECORD_PREFIX + "*.json")))
    return found[-1] if found else None


def model_capacity(model):
    """Tokens per minute at the model's best level (input + output), or None when nothing was measured."""
    best = None
    for level in model.get("levels") or []:
        total = (level.get("input_tokens_per_s") or 0) + (level.get("decode_tokens_per_s") or 0)
        if total and (best is None or total > best):
            best = total
    return int(round(best * 60)) if best else None


def _factor(sold, capacity):
    return round(float(sold) / capacity, 2) if capacity else None


def plan(tiers, tenant_tiers, record):
    """The plan as a dict (sold, per model, per node, platform); ``record`` may be None (no benchmark yet)."""
    per_tier = dict((tier, tenant_tiers.count(tier)) for tier in sorted(set(tenant_tiers) & set(tiers)))
    sold = sum(count * int((tiers.get(tier) or {}).get("tokens_per_minute") or 0) for tier, count in per_tier.items())
    models, nodes = [], {}
    for model in (record or {}).get("models") or []:
        capacity = model_capacity(model)
        models.append({"name": model.get("name"), "id": model.get("id"), "node": model.get("node"),
                       "capacity_tokens_per_minute": capacity,
                       "oversubscription_if_all_here": _factor(sold, capacity)})
        if capacity:
            nodes.setdefault(model.get("node") or "-", []).append((model.get("name"), capacity))
    node_rows = []
    for node, entries in sorted(nodes.items()):
        node_capacity = sum(c for _n, c in entries)
        node_rows.append({"node": node, "models": [n for n, _c in entries], "capacity_tokens_per_minute": node_capacity,
                          "oversubscription_if_all_here": _factor(sold, node_capacity)})
    capacity = sum(row["capacity_tokens_per_minute"] for row in node_rows)
    return {"tenants_per_tier": per_tier, "sold_tokens_per_minute": sold,
            "tenants_without_a_known_tier": len([t for t in tenant_tiers if t not in tiers]), "models": models, "nodes": node_rows,
            "capacity_tokens_per_minute": capacity or None,
            "oversubscription": _factor(sold, capacity)}


def run(module):
    params = module.params
    errors = []
    for field in ("warn_factor", "limit_factor"):
        if params[field] is not None and params[field] <= 0:
            errors.append("%s: %r is not allowed; use a factor > 0 (sold tokens/min over measured capacity)"
                          % (field, params[field]))
    if errors:
        module.fail_json(msg="Capacity plan not made: " + "; ".join(errors), errors=errors)
    tenant_tiers = params["tenant_tiers"]
    if tenant_tiers is None:
        try:
            api = connect(module)
            tenant_tiers = tenant_tiers_of(api.list(
                contract.secrets_path(params["kuadrant_namespace"]), metadata_only=True, limit=LIST_PAGE,
                label_selector=contract.tenant_label_selector(params["tenant_selector"])))
        except ApiError as exc:
            module.fail_json(msg="Capacity plan not made: the tenants cannot be read: %s" % exc)
    path = params["record"] or (newest_record(params["results_dir"]) if params["results_dir"] else None)
    record = None
    if path:
        try:
            record = report.load_record(path)
        except (OSError, ValueError) as exc:
            module.fail_json(msg="record: %s cannot be read: %s" % (path, exc))
    result = plan(params["tiers"], tenant_tiers, record)
    result["record"] = path
    factor = result["oversubscription"]
    if factor is None:
        summary = ("sold %d tokens/min (%d tenant(s)); no benchmark record%s, so no measured capacity: run "
                   "benchmark.yml" % (result["sold_tokens_per_minute"], len(tenant_tiers),
                                      " in %s" % params["results_dir"] if params["results_dir"] else ""))
    else:
        summary = ("sold %d tokens/min (%d tenant(s)) on a measured %d tokens/min (%s): oversubscribed %sx"
                   % (result["sold_tokens_per_minute"], len(tenant_tiers), result["capacity_tokens_per_minute"],
                      os.path.basename(path), factor))
    result["summary"] = summary
    if factor is not None and params["limit_factor"] is not None and factor > params["limit_factor"]:
        limit = params["limit_factor"]
        module.fail_json(msg="Capacity plan: %s, above the limit %sx (tokenlabs_capacity_limit_factor); lower the "
                             "tiers' tokens_per_minute, add capacity, or raise the limit" % (summary, limit), **result)
    if factor is not None and factor > params["warn_factor"]:
        module.warn("Capacity plan: %s, above %sx (tokenlabs_capacity_warn_factor)" % (summary, params["warn_factor"]))
    module.exit_json(changed=False, **result)
