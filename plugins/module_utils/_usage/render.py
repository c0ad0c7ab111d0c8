# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The usage report's files: CSV (one row per tenant, for a billing system), JSON, a Markdown summary, a PNG chart.

Private to this collection (not an API for other collections; it may change
without notice). The chart needs matplotlib (the job virtualenv has it), drawn with the Agg backend.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io
import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.report import COLUMNS

try:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    HAS_MATPLOTLIB = True
except ImportError:
    HAS_MATPLOTLIB = False

FORMATS = ("csv", "json", "md", "png")
TOP = 10


def to_csv(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(dict((k, "" if row[k] is None else row[k]) for k in COLUMNS))
    return out.getvalue()


def to_json(record):
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def to_markdown(record):
    rows, period = record["tenants"], record["period"]
    total = record["totals"]
    lines = ["# Usage %s (%s to %s, UTC)" % (period["label"], period["from"], period["to"]), "",
             "%d tenant(s), %d request(s), %d token(s) (%d input, %d output), %d throttled; %s %s billed."
             % (len(rows), total["requests"], total["total_tokens"], total["input_tokens"], total["output_tokens"],
                total["throttled_requests"], total["cost"], record["currency"]), "",
             "| tenant | tier | requests | input | output | total | throttled | days | peak tok/min (% of quota) | cost |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        peak = "%d" % row["peak_tokens_per_minute"]
        if row["peak_percent_of_quota"] is not None:
            peak += " (%s %%)" % row["peak_percent_of_quota"]
        lines.append("| %s | %s | %d | %d | %d | %d | %d | %d | %s | %s |"
                     % (row["tenant"], row["tier"] or "-", row["requests"], row["input_tokens"], row["output_tokens"],
                        row["total_tokens"], row["throttled_requests"], row["days_active"], peak, row["cost"]))
    lines += ["", "Sources: %s" % record["sources"], ""]
    return "\n".join(lines)


def draw(record, path):
    """Top tenants by tokens and all tenants' tokens per day, side by side (PNG)."""
    figure, (top, daily) = pyplot.subplots(1, 2, figsize=(13, 4.5))
    rows = record["tenants"][:TOP]
    top.barh([r["tenant"] for r in reversed(rows)], [r["total_tokens"] for r in reversed(rows)])
    top.set_title("top %d tenants, tokens" % len(rows))
    days = sorted(record["tokens_per_day"])
    daily.bar(range(len(days)), [record["tokens_per_day"][d] for d in days])
    daily.set_xticks(range(len(days)))
    daily.set_xticklabels([d[5:] for d in days], rotation=90, fontsize="x-small")
    daily.set_title("tokens per day, all tenants")
    figure.suptitle("Usage %s" % record["period"]["label"])
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)
