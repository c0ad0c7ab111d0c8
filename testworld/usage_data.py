"""A generated month (or any days) of per-tenant usage, as the platform's metrics record it, with its exact truth.

The series carry exactly the names and labels upstream exports (``docs/dev/usage-metrics.md`` cites the source):

- Envoy AI Gateway v1.0.0, ``gen_ai_client_token_usage`` (histogram: ``_sum``, ``_count``, ``_bucket{le="+Inf"}``)
  per ``gen_ai_token_type`` ``input`` / ``output``, with ``gen_ai_operation_name``, ``gen_ai_provider_name``,
  ``gen_ai_original_model``, ``gen_ai_request_model``, ``gen_ai_response_model`` and the request-header labels
  ``tenant`` / ``tier`` (``metricsRequestHeaderAttributes``); one observation per response.
- Limitador, ``limited_calls`` (a counter without ``_total``) with ``limitador_namespace="<route ns>/<route>"`` and
  the TelemetryPolicy's labels ``tenant`` / ``tier``.

Each tenant makes requests in a few minutes of each day it is active; a minute's tokens and 429s are counted at
that minute's scrape. Samples are what a one-minute scrape records, written where the value changes, with the
unchanged sample one minute before each change and at every midnight (UTC) -- the queries of the usage report
(``increase`` over a day, one-minute differences) read the same values from these as from a dense scrape, and
the files stay small. ``restart_at``: every counter starts again from zero at that time (a restarted gateway and
Limitador), as Prometheus sees a process restart. ``truth`` has per tenant and day: requests, input, output,
throttled, and the tenant's largest one-minute token count.

    data = generate(first_day, days, tenants=300, seed=7)
    files = data.write_openmetrics(directory)       # one file per day, for promtool (testworld.prometheus)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROUTE = "token-labs/tokenlabs-llm"
TIERS = ("free", "pro", "enterprise")
MODELS = ("Qwen/Qwen3-8B", "nvidia/Llama-3.1-Nemotron-Nano-8B-v1")
MINUTE, DAY = 60, 86400


def midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


@dataclass
class Series:
    family: str
    name: str
    labels: dict
    samples: list = field(default_factory=list)   # [(unix time, value)], in time order
    value: int = 0

    def line_labels(self) -> str:
        return ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))


@dataclass
class UsageData:
    first_day: date
    days: int
    tiers: dict                 # tenant -> tier
    series: list
    truth: dict                 # tenant -> {"days": {iso day: {requests, input, output, throttled}}, "peak": n}

    def write_openmetrics(self, directory: Path) -> list[Path]:
        """One OpenMetrics file per day (samples from that midnight up to the next), plus the closing midnight."""
        directory.mkdir(parents=True, exist_ok=True)
        start = midnight(self.first_day)
        files = []
        for n in range(self.days + 1):
            low, high = start + n * DAY, start + (n + 1) * DAY
            lines, family = [], None
            for series in sorted(self.series, key=lambda s: (s.family, s.name, s.line_labels())):
                samples = [(t, v) for t, v in series.samples if low <= t < high]
                if not samples:
                    continue
                if series.family != family:
                    family = series.family
                    lines.append(f"# TYPE {family} {'counter' if family == 'limited_calls' else 'histogram'}")
                labels = series.line_labels()
                lines.extend(f"{series.name}{{{labels}}} {v} {t}" for t, v in samples)
            path = directory / f"usage-{n:03d}.om"
            path.write_text("\n".join(lines + ["# EOF", ""]))
            files.append(path)
        return files


def generate(first_day: date, days: int, tenants: int = 300, seed: int = 7, restart_at: int | None = None,
             revoked: dict | None = None, idle: tuple = ()) -> UsageData:
    """``tenants`` tenants ``t-0001`` ... (tiers in turn), active on about two days in three; ``revoked``:
    ``{tenant: last active day index}``; ``idle``: tenants that never make a request."""
    rng = random.Random(seed)
    revoked = revoked or {}
    start = midnight(first_day)
    names = [f"t-{i:04d}" for i in range(1, tenants + 1)]
    tiers = {name: TIERS[i % len(TIERS)] for i, name in enumerate(names)}
    all_series, truth = [], {}
    for i, name in enumerate(names):
        tier, model = tiers[name], MODELS[i % len(MODELS)]
        common = {"tenant": name, "tier": tier}
        aigw = dict(common, gen_ai_operation_name="chat", gen_ai_provider_name="openai",
                    gen_ai_original_model=model, gen_ai_request_model=model, gen_ai_response_model=model)
        token_series = {}
        for kind in ("input", "output"):
            labels = dict(aigw, gen_ai_token_type=kind)
            token_series[kind] = (Series("gen_ai_client_token_usage", "gen_ai_client_token_usage_sum", labels),
                                  Series("gen_ai_client_token_usage", "gen_ai_client_token_usage_count", labels),
                                  Series("gen_ai_client_token_usage", "gen_ai_client_token_usage_bucket",
                                         dict(labels, le="+Inf")))
        throttled = Series("limited_calls", "limited_calls", dict(common, limitador_namespace=ROUTE))
        mine = [s for group in token_series.values() for s in group] + [throttled]
        # per minute of activity: (time, requests, input, output, 429s)
        events = []
        for d in range(days):
            if name in idle or (name in revoked and d > revoked[name]) or rng.random() > 0.67:
                continue
            for minute in sorted(rng.sample(range(1, 1440), rng.randint(1, 6))):
                requests = rng.randint(1, 4)
                events.append((start + d * DAY + minute * MINUTE, requests,
                               sum(rng.randint(20, 2000) for _request in range(requests)),
                               sum(rng.randint(10, 800) for _request in range(requests)),
                               rng.choice((0, 0, 0, 0, 1, 2))))
        record = truth.setdefault(name, {"days": {}, "peak": 0})
        _play(events, token_series, throttled, mine, record, start, days, restart_at)
        all_series += [s for s in mine if s.samples]
        if not record["days"]:
            del truth[name]
    return UsageData(first_day, days, tiers, all_series, truth)


def _play(events, token_series, throttled, mine, record, start, days, restart_at):
    """Counters through the events: the changing samples, the minute before each, every midnight, a restart."""
    born = False
    boundaries = [start + n * DAY for n in range(days + 1)]
    timeline = sorted([(t, "midnight", None) for t in boundaries] + [(t, "event", e) for e in events for t in [e[0]]]
                      + ([(restart_at, "restart", None)] if restart_at else []), key=lambda x: (x[0], x[1] != "restart"))
    for at, what, event in timeline:
        if what == "restart":
            for series in mine:
                series.value = 0
            continue
        if what == "midnight":
            if born:
                for series in mine:
                    _sample(series, at)
            continue
        _t, requests, tokens_in, tokens_out, limited = event
        born = True
        for series in mine:
            _sample(series, at - MINUTE)
        for kind, tokens in (("input", tokens_in), ("output", tokens_out)):
            total, count, bucket = token_series[kind]
            total.value += tokens
            count.value += requests
            bucket.value += requests
        throttled.value += limited
        for series in mine:
            _sample(series, at)
        day = datetime.fromtimestamp(at, tz=timezone.utc).date().isoformat()
        numbers = record["days"].setdefault(day, {"requests": 0, "input": 0, "output": 0, "throttled": 0})
        numbers["requests"] += requests
        numbers["input"] += tokens_in
        numbers["output"] += tokens_out
        numbers["throttled"] += limited
        record["peak"] = max(record["peak"], tokens_in + tokens_out)


def _sample(series: Series, at: int) -> None:
    if series.samples and series.samples[-1][0] >= at:
        if series.samples[-1][0] == at:
            series.samples[-1] = (at, series.value)
        return
    series.samples.append((at, series.value))


def day_list(first_day: date, days: int) -> list[str]:
    return [(first_day + timedelta(days=n)).isoformat() for n in range(days)]
