# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The Grafana dashboards the monitoring role ships as ConfigMaps for Grafana's dashboard sidecar.

Private to this collection (not an API for other collections; it may change
without notice). No I/O (tests/unit/plugins/module_utils/_monitoring/test_dashboards.py; every query is run
against a real Prometheus in tests/integration/test_usage_report.py).

- **Platform** (``token-labs-platform``): per model -- generated and prompt tokens/s, time to first token and
  inter-token latency (p50/p95), KV-cache usage, running and waiting requests, from the engines' own metrics
  (vLLM ``vllm:*``, SGLang ``sglang:*``, label ``model_name``); per tier -- requests/s and tokens/s (the AI
  Gateway's ``gen_ai_client_token_usage``) and 429s/s (Limitador's ``limited_calls``), labelled ``tier`` at the
  source (``docs/usage.md``); the top tenants by tokens in the dashboard's range.
- **Tenant** (``token-labs-tenant``, variable ``tenant``): one tenant's tokens/min by type, its 429s, and per
  window of the tier table its requests and tokens in that window against the quota of its tier (the quota line
  is the tier table's limit, shown for the tier the tenant's series carry).

Metric names: ``docs/dev/usage-metrics.md`` (upstream sources).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import metrics as usage_metrics

# Grafana's dashboard sidecar (grafana chart values: sidecar.dashboards.label / labelValue; kube-prometheus-stack
# sets "1") picks up ConfigMaps carrying this label. The folder: the annotation operators commonly configure as
# sidecar.dashboards.folderAnnotation, and the one the k8s-sidecar reads when none is configured (a directory
# under its folder, a Grafana folder with provider.foldersFromFilesStructure).
SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_LABEL_VALUE = "1"
FOLDER_ANNOTATIONS = ("grafana_folder", "k8s-sidecar-target-directory")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39

# Engine metrics: (vLLM, SGLang) names of the same number, both labelled model_name.
GENERATION_TOKENS = ("vllm:generation_tokens_total", "sglang:generation_tokens_total")
PROMPT_TOKENS = ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total")
TTFT = ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds")
ITL = ("vllm:inter_token_latency_seconds", "sglang:inter_token_latency_seconds")
KV_CACHE = ("vllm:kv_cache_usage_perc", "sglang:token_usage")
RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs")
WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs")
MODEL_LABEL = "model_name"
MODEL_FILTER = '{%s=~"$model"}' % MODEL_LABEL
TENANT_FILTER = 'tenant="$tenant"'

PLATFORM_UID = "token-labs-platform"
TENANT_UID = "token-labs-tenant"


def _either(template, names):
    """One query per engine, joined with ``or``: the series of whichever engine serves the model."""
    return " or ".join(template % name for name in names)


def _panel(title, targets, unit, x, y, width=12, height=8, kind="timeseries", description=None):
    panel = {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": width, "h": height},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [dict(target, refId=chr(ord("A") + index), datasource=DATASOURCE)
                    for index, target in enumerate(targets)],
    }
    if description:
        panel["description"] = description
    return panel


def _target(expr, legend):
    return {"expr": expr, "legendFormat": legend}


def _quantiles(names, by):
    targets = []
    for quantile in ("0.5", "0.95"):
        expr = _either("histogram_quantile(%s, sum by (%s, le) (rate(%%s_bucket%s[$__rate_interval])))"
                       % (quantile, by, MODEL_FILTER), names)
        targets.append(_target(expr, "{{%s}} p%s" % (by, quantile[2:].ljust(2, "0"))))
    return targets


def _datasource_variable():
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}


def _query_variable(name, label, query, multi):
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": "%s-values" % name}, "definition": query, "refresh": 2,
            "sort": 1, "multi": multi, "includeAll": multi, "current": {}}


def _dashboard(uid, title, variables, panels, description):
    for index, panel in enumerate(panels, start=1):
        panel["id"] = index
    return {"uid": uid, "title": title, "description": description, "tags": ["token-labs"],
            "schemaVersion": SCHEMA_VERSION, "editable": False, "refresh": "1m",
            "time": {"from": "now-6h", "to": "now"}, "timezone": "utc",
            "templating": {"list": variables}, "panels": panels}


def platform_dashboard():
    """Per model (engine metrics) and per tier (gateway and Limitador metrics)."""
    model = MODEL_LABEL
    tokens = usage_metrics.TOKENS
    responses = usage_metrics.RESPONSES
    per_tier_requests = 'sum by (tier) (rate(%s{gen_ai_token_type="input",tier!=""}[$__rate_interval]))' % responses
    per_tier_refused = 'sum by (tier) (rate(%s{tier!=""}[$__rate_interval]))' % usage_metrics.THROTTLED
    panels = [
        _panel("Generated tokens/s per model", [
            _target(_either("sum by (%s) (rate(%%s%s[$__rate_interval]))" % (model, MODEL_FILTER), GENERATION_TOKENS),
                    "{{%s}} generated" % model),
            _target(_either("sum by (%s) (rate(%%s%s[$__rate_interval]))" % (model, MODEL_FILTER), PROMPT_TOKENS),
                    "{{%s}} prompt" % model)], "short", 0, 0),
        _panel("Time to first token", _quantiles(TTFT, model), "s", 12, 0),
        _panel("Inter-token latency", _quantiles(ITL, model), "s", 0, 8),
        _panel("KV-cache usage", [
            _target(_either("max by (%s) (%%s%s)" % (model, MODEL_FILTER), KV_CACHE), "{{%s}} fullest replica" % model),
            _target(_either("avg by (%s) (%%s%s)" % (model, MODEL_FILTER), KV_CACHE), "{{%s}} mean" % model)],
            "percentunit", 12, 8),
        _panel("Requests running and waiting", [
            _target(_either("sum by (%s) (%%s%s)" % (model, MODEL_FILTER), RUNNING), "{{%s}} running" % model),
            _target(_either("sum by (%s) (%%s%s)" % (model, MODEL_FILTER), WAITING), "{{%s}} waiting" % model)],
            "short", 0, 16),
        _panel("Requests/s per tier", [_target(per_tier_requests, "{{tier}}")], "reqps", 12, 16,
               description="Responses with token usage, as the AI Gateway counts them (label tier from the key)."),
        _panel("Tokens/s per tier", [
            _target('sum by (tier, gen_ai_token_type) (rate(%s{tier!=""}[$__rate_interval]))' % tokens,
                    "{{tier}} {{gen_ai_token_type}}")], "short", 0, 24),
        _panel("429s/s per tier", [_target(per_tier_refused, "{{tier}}")], "reqps", 12, 24,
               description="Requests Limitador refused (request or token limits)."),
        _panel("Top tenants by tokens", [
            _target('topk(10, sum by (tenant, tier) (increase(%s{tenant!=""}[$__range])))' % tokens,
                    "{{tenant}} ({{tier}})")], "short", 0, 32, width=24, kind="bargauge"),
    ]
    variables = [_datasource_variable(),
                 _query_variable("model", "Model", "label_values(%s, %s)" % (RUNNING[0], model), True)]
    return _dashboard(PLATFORM_UID, "Token Labs platform", variables, panels,
                      "Per model: throughput, latency, KV cache, queue. Per tier: requests, tokens, 429s.")


def _quota(kind, window_ms, tiers):
    """The tier table's limit for this kind and window, for the tier the tenant's series carry."""
    metric = usage_metrics.TOKENS if kind == "tokens" else usage_metrics.RESPONSES
    parts = []
    for tier in sorted(tiers):
        for rate_window, limit in tiers[tier][kind]:
            if rate_window == window_ms:
                parts.append('max by (tier) (%s{%s,tier="%s"}) * 0 + %d' % (metric, TENANT_FILTER, tier, limit))
    return " or ".join(parts)


def tenant_dashboard(tiers):
    """One tenant against its quota; ``tiers`` is a validated tier table (:func:`_tiers.table.validate_tiers`)."""
    tokens = usage_metrics.TOKENS
    responses = usage_metrics.RESPONSES
    panels = [
        _panel("Tokens/min", [
            _target('sum by (gen_ai_token_type) (rate(%s{%s}[$__rate_interval])) * 60' % (tokens, TENANT_FILTER),
                    "{{gen_ai_token_type}}")], "short", 0, 0),
        _panel("429s/min", [
            _target('sum(rate(%s{%s}[$__rate_interval])) * 60' % (usage_metrics.THROTTLED, TENANT_FILTER),
                    "refused")], "short", 12, 0),
    ]
    y = 8
    for kind, metric, what in (("tokens", tokens, "Tokens"), ("requests", responses, "Requests")):
        windows = sorted(set(window for tier in tiers.values() for window, _limit in tier[kind]))
        for index, window_ms in enumerate(windows):
            window = tier_table.format_window(window_ms)
            selector = TENANT_FILTER if kind == "tokens" else TENANT_FILTER + ',gen_ai_token_type="input"'
            used = 'sum(increase(%s{%s}[%s]))' % (metric, selector, window)
            panels.append(_panel("%s per %s against the quota" % (what, tier_table.describe_window(window_ms)), [
                _target(used, "used in the last %s" % window),
                _target(_quota(kind, window_ms, tiers), "quota ({{tier}})")], "short", 12 * (index % 2), y))
            if index % 2:
                y += 8
        if len(windows) % 2:
            y += 8
    panels.append(_panel("Tokens in the range", [
        _target('sum by (gen_ai_token_type) (increase(%s{%s}[$__range]))' % (tokens, TENANT_FILTER),
                "{{gen_ai_token_type}}")], "short", 0, y, width=24, kind="stat"))
    variables = [_datasource_variable(),
                 _query_variable("tenant", "Tenant", "label_values(%s, tenant)" % tokens, False)]
    return _dashboard(TENANT_UID, "Token Labs tenant", variables, panels,
                      "One tenant's usage against the quota of its tier (the tier table's limits).")


def dashboards(tiers):
    """``{file name: dashboard}`` for a validated tier table."""
    return {"token-labs-platform.json": platform_dashboard(),
            "token-labs-tenant.json": tenant_dashboard(tiers)}


def config_maps(tiers, namespace, labels=None, folder="Token Labs"):
    """One ConfigMap per dashboard, labelled for Grafana's sidecar."""
    objects = []
    for filename, dashboard in sorted(dashboards(tiers).items()):
        metadata = {"name": dashboard["uid"], "namespace": namespace,
                    "labels": dict(labels or {}, **{SIDECAR_LABEL: SIDECAR_LABEL_VALUE,
                                                    "app.kubernetes.io/part-of": "token-labs"}),
                    "annotations": dict((annotation, folder) for annotation in FOLDER_ANNOTATIONS)}
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                        "data": {filename: json.dumps(dashboard, indent=1, sort_keys=True)}})
    return objects


def queries(dashboard):
    """Every PromQL expression of a dashboard: panel targets and query variables, as ``(title, expr)``."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found.append((panel["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append(("variable %s" % variable["name"], variable["definition"]))
    return found
