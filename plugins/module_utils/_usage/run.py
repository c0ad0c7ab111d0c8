# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The run of the usage_report module: check the input, read Prometheus, write the report files.

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from decimal import Decimal

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import prices as pricing
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import render, report
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.source import (
    USAGE_SOURCE_ARG_SPEC, check_source, prometheus_of, today_utc)
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.prometheus import PrometheusError

ARG_SPEC = dict(USAGE_SOURCE_ARG_SPEC, **{
    "tenants": {"type": "list", "elements": "str", "default": []},
    "known_tenants": {"type": "list", "elements": "str", "default": []},
    "tiers": {"type": "dict", "required": True},
    "prices": {"type": "dict", "required": True},
    "currency": {"type": "str", "default": "USD"},
    "output_dir": {"type": "path", "required": True},
    "formats": {"type": "list", "elements": "str", "default": list(render.FORMATS), "choices": list(render.FORMATS)},
})
SOURCES = ("tokens and requests: Envoy AI Gateway gen_ai_client_token_usage (input/output, labels tenant, tier); "
           "throttled: Limitador limited_calls (TelemetryPolicy labels tenant, tier); daily increase at UTC midnight")


def _check(params, today):
    period, errors = check_source(params, today)
    for name in params["tenants"]:
        if not validation.is_dns_label(name):
            errors.append("tenants: %r is not a tenant name (a DNS-1123 label)" % (name,))
    price_list, problems = pricing.check_prices(params["prices"], params["tiers"])
    errors += problems
    unknown = sorted(set(params["formats"]) - set(render.FORMATS))
    if unknown:
        errors.append("formats: %s not allowed; choose from %s" % (", ".join(unknown), ", ".join(render.FORMATS)))
    if "png" in params["formats"] and not render.HAS_MATPLOTLIB:
        errors.append("formats: png needs matplotlib on the host running the module (the job virtualenv has it); "
                      "install it or leave png out")
    return period, price_list, errors


def build(params, prometheus, today):
    """``(record, errors)``: the whole report as one dict, or the reasons there is none."""
    period, price_list, errors = _check(params, today)
    if errors:
        return None, errors
    try:
        prometheus.ready()
        usage = report.collect(prometheus, period, params["tenants"] or None)
    except PrometheusError as exc:
        return None, [str(exc)]
    unknown = sorted(set(params["tenants"]) - set(usage) - set(params["known_tenants"]))
    if unknown:
        return None, ["tenants: %s unknown: no such tenant now (known_tenants) and no usage in %s..%s"
                      % (", ".join(unknown), period.first, period.last)]
    for name in params["tenants"]:
        usage.setdefault(name, {"days": {}, "peak": 0})
    if not usage:
        where = (period.first, period.last, params["prometheus_url"])
        return None, ["no usage data in %s..%s at %s: no tenant made a request (is the period right, and does "
                      "Prometheus scrape the AI Gateway and Limitador?)" % where]
    rows = report.rows(usage, period, params["tiers"], price_list, params["currency"])
    totals = dict((k, sum(r[k] for r in rows)) for k in ("requests", "input_tokens", "output_tokens", "total_tokens",
                                                         "throttled_requests"))
    totals["cost"] = str(sum(Decimal(r["cost"]) for r in rows))
    return {"period": period.as_dict(), "currency": params["currency"], "tenants": rows, "totals": totals,
            "tokens_per_day": report.per_day(usage, period), "sources": SOURCES}, []


def write(record, output_dir, formats):
    """The report files (``usage-<period>.<format>``); returns ``{format: path}``."""
    if not os.path.isdir(output_dir):
        os.makedirs(output_dir, 0o755)
    files = {}
    base = os.path.join(output_dir, "usage-%s" % record["period"]["label"])
    for fmt in formats:
        path = "%s.%s" % (base, fmt)
        if fmt == "png":
            render.draw(record, path)
        else:
            text = {"csv": render.to_csv, "json": render.to_json, "md": render.to_markdown}[fmt](
                record["tenants"] if fmt == "csv" else record)
            with open(path, "w") as handle:
                handle.write(text)
        files[fmt] = path
    return files


def run(module, today=None):
    params = module.params
    record, errors = build(params, prometheus_of(params), today or today_utc())
    if errors:
        module.fail_json(msg="Usage report not written: " + "; ".join(errors), errors=errors)
    files = {}
    if not module.check_mode:
        try:
            files = write(record, params["output_dir"], params["formats"])
        except (OSError, IOError) as exc:
            module.fail_json(msg="Usage report not written to %s: %s" % (params["output_dir"], exc))
    totals = record["totals"]
    module.exit_json(changed=bool(files), files=files, period=record["period"], tenants=record["tenants"],
                     totals=totals, summary="%s: %d tenant(s), %d token(s), %d throttled, %s %s"
                     % (record["period"]["label"], len(record["tenants"]), totals["total_tokens"],
                        totals["throttled_requests"], totals["cost"], record["currency"]))
