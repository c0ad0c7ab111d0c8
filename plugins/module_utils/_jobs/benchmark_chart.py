# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The benchmark's PNG chart: throughput and latency against concurrency, one line per model and shape.

Private to this collection (not an API for other collections; it may change
without notice). Needs matplotlib (the benchmark virtualenv has it); drawn
with the Agg backend, no display needed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    HAS_MATPLOTLIB = True
    MATPLOTLIB_VERSION = matplotlib.__version__
except ImportError:
    HAS_MATPLOTLIB = False
    MATPLOTLIB_VERSION = None

PANELS = (
    ("decode_tokens_per_s", None, "decode tok/s (all requests)"),
    ("ttft_ms", "p50", "time to first token p50 (ms)"),
    ("itl_ms", "p50", "inter-token latency p50 (ms)"),
)


def _series(record):
    for model in record["models"]:
        shapes = {}
        for level in model.get("levels", []):
            shapes.setdefault((level["prompt_tokens"], level["output_tokens"]), []).append(level)
        for (prompt, output), levels in sorted(shapes.items()):
            label = "%s (in %d / out %d)" % (model["name"], prompt, output)
            yield label, sorted(levels, key=lambda lv: lv["concurrency"])


def _value(level, figure, key):
    value = level.get(figure)
    if key and isinstance(value, dict):
        return value.get(key)
    return value


def draw(record, path):
    """Write the chart of ``record`` to ``path`` (PNG)."""
    figure, axes = pyplot.subplots(1, len(PANELS), figsize=(6 * len(PANELS), 4.5))
    ticks = sorted(set(lv["concurrency"] for m in record["models"] for lv in m.get("levels", [])))
    for axis, (name, key, title) in zip(axes, PANELS):
        for label, levels in _series(record):
            points = [(lv["concurrency"], _value(lv, name, key)) for lv in levels if _value(lv, name, key) is not None]
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        axis.set_title(title)
        axis.set_xlabel("concurrency")
        axis.set_xscale("log", base=2)
        if ticks:
            axis.set_xticks(ticks)
            axis.set_xticklabels([str(t) for t in ticks])
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize="small")
    figure.suptitle("Benchmark %s" % record["run_id"])
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)
