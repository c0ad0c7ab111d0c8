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
from datetime import date, datetime, timezone
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
    kind: str = "counter"                          # the OpenMetrics type of its family

    def __post_init__(self):
        if self.family.startswith("gen_ai_"):
            self.kind = "histogram"

    @property
    def key(self) -> tuple:
        return (self.name, self.line_labels())

    def line_labels(self) -> str:
        return ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))


@dataclass
class UsageData:
    first_day: date
    days: int
    tiers: dict                 # tenant -> tier
    series: list
    truth: dict                 # tenant -> {"days": {iso day: {requests, input, output, throttled}}, "peak": n}
    engine_truth: dict          # model -> {tokens, requests, gateway_requests, gateway_tokens}

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
                    lines.append(f"# TYPE {family} {series.kind}")
                labels = series.line_labels()
                lines.extend(f"{series.name}{{{labels}}} {v} {t}" for t, v in samples)
            path = directory / f"usage-{n:03d}.om"
            path.write_text("\n".join(lines + ["# EOF", ""]))
            files.append(path)
        return files


def generate(first_day: date, days: int, tenants: int = 300, seed: int = 7, restart_at: int | None = None,
             revoked: dict | None = None, idle: tuple = (), bypass: dict | None = None,
             no_usage: dict | None = None) -> UsageData:
    """``tenants`` tenants ``t-0001`` ... (tiers in turn), active on about two days in three; ``revoked``:
    ``{tenant: last active day index}``; ``idle``: tenants that never make a request.

    Per model, the engines' counters (vLLM's ``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``,
    ``vllm:request_success_total``, label ``model_name``) and the gateway's request counter
    (``gen_ai_server_request_duration_seconds_count``, label ``gen_ai_request_model``) count every request. Planted
    gaps, ``{model: fraction of its requests}``: ``bypass`` -- sent to the engine directly, never seen by the
    gateway; ``no_usage`` -- through the gateway as a stream without usage, so no tokens are counted there. Neither
    is in the tenants' truth (the gateway did not count them); ``engine_truth`` has what each model served."""
    rng = random.Random(seed)
    revoked, bypass, no_usage = revoked or {}, bypass or {}, no_usage or {}
    start = midnight(first_day)
    names = [f"t-{i:04d}" for i in range(1, tenants + 1)]
    tiers = {name: TIERS[i % len(TIERS)] for i, name in enumerate(names)}
    all_series, truth, model_events = [], {}, {model: [] for model in MODELS}
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
        record = {"days": {}, "peak": 0}
        events = []
        for d in range(days):
            if name in idle or (name in revoked and d > revoked[name]) or rng.random() > 0.67:
                continue
            for minute in sorted(rng.sample(range(1, 1440), rng.randint(1, 6))):
                requests = rng.randint(1, 4)
                at = start + d * DAY + minute * MINUTE
                tokens_in = sum(rng.randint(20, 2000) for _request in range(requests))
                tokens_out = sum(rng.randint(10, 800) for _request in range(requests))
                limited = rng.choice((0, 0, 0, 0, 1, 2))
                via = "gateway"
                if model in bypass and rng.random() < bypass[model]:
                    via = "bypass"
                elif model in no_usage and rng.random() < no_usage[model]:
                    via = "no_usage"
                model_events[model].append((at, requests, tokens_in, tokens_out, via))
                if via != "gateway":
                    continue
                increments = {throttled.key: limited}
                for kind, tokens in (("input", tokens_in), ("output", tokens_out)):
                    increments[token_series[kind][0].key] = tokens
                    increments[token_series[kind][1].key] = requests
                    increments[token_series[kind][2].key] = requests
                events.append((at, increments))
                day = datetime.fromtimestamp(at, tz=timezone.utc).date().isoformat()
                numbers = record["days"].setdefault(day, {"requests": 0, "input": 0, "output": 0, "throttled": 0})
                for key, value in (("requests", requests), ("input", tokens_in), ("output", tokens_out),
                                   ("throttled", limited)):
                    numbers[key] += value
                record["peak"] = max(record["peak"], tokens_in + tokens_out)
        _replay(events, mine, start, days, restart_at)
        all_series += [s for s in mine if s.samples]
        if record["days"]:
            truth[name] = record
    engine_truth = {}
    for model, served in model_events.items():
        engine = {"prompt": Series("vllm:prompt_tokens", "vllm:prompt_tokens_total", {"model_name": model}),
                  "generation": Series("vllm:generation_tokens", "vllm:generation_tokens_total", {"model_name": model}),
                  "requests": Series("vllm:request_success", "vllm:request_success_total",
                                     {"model_name": model, "finished_reason": "stop"}),
                  "gateway": Series("gen_ai_server_request_duration_seconds",
                                    "gen_ai_server_request_duration_seconds_count",
                                    {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai",
                                     "gen_ai_request_model": model, "gen_ai_original_model": model})}
        events = [(at, {engine["prompt"].key: tin, engine["generation"].key: tout, engine["requests"].key: requests,
                        engine["gateway"].key: 0 if via == "bypass" else requests})
                  for at, requests, tin, tout, via in sorted(served)]
        _replay(events, list(engine.values()), start, days, restart_at)
        all_series += [s for s in engine.values() if s.samples]
        all_series += _engine_load(model, sorted(served), rng, start, days, restart_at)
        engine_truth[model] = {
            "tokens": sum(tin + tout for _at, _r, tin, tout, _via in served),
            "requests": sum(r for _at, r, _tin, _tout, _via in served),
            "gateway_requests": sum(r for _at, r, _tin, _tout, via in served if via != "bypass"),
            "gateway_tokens": sum(tin + tout for _at, _r, tin, tout, via in served if via == "gateway")}
    return UsageData(first_day, days, tiers, all_series, truth, engine_truth)


# The engine's latency histograms (vLLM's bucket bounds are finer; a few suffice for quantiles) and load gauges.
LATENCY_BOUNDS = {"vllm:time_to_first_token_seconds": (0.1, 0.25, 0.5, 1.0, 2.5),
                  "vllm:inter_token_latency_seconds": (0.01, 0.025, 0.05, 0.1, 0.25)}
LATENCY_RANGES = {"vllm:time_to_first_token_seconds": (0.05, 2.0), "vllm:inter_token_latency_seconds": (0.005, 0.2)}
LOAD_GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")


def _engine_load(model, served, rng, start, days, restart_at):
    """A model's latency histograms (one TTFT and one inter-token observation per request) and its load gauges
    (running / waiting requests, KV-cache fraction: set at each busy minute, back to zero the minute after) -- what
    the platform dashboard reads; not part of any truth."""
    labels = {"model_name": model}
    histograms, events = [], []
    for family, bounds in LATENCY_BOUNDS.items():
        buckets = [Series(family, f"{family}_bucket", dict(labels, le=str(bound)), kind="histogram")
                   for bound in bounds]
        buckets.append(Series(family, f"{family}_bucket", dict(labels, le="+Inf"), kind="histogram"))
        histograms.append((family, bounds, buckets, Series(family, f"{family}_sum", labels, kind="histogram"),
                           Series(family, f"{family}_count", labels, kind="histogram")))
    gauges = {name: Series(name, name, labels, kind="gauge") for name in LOAD_GAUGES}
    for at, requests, _tin, _tout, _via in served:
        increments = {}
        for family, bounds, buckets, total, count in histograms:
            low, high = LATENCY_RANGES[family]
            for _request in range(requests):
                seconds = round(rng.uniform(low, high), 3)
                for bound, bucket in zip(bounds + (float("inf"),), buckets):
                    if seconds <= bound:
                        increments[bucket.key] = increments.get(bucket.key, 0) + 1
                increments[total.key] = round(increments.get(total.key, 0) + seconds, 3)
                increments[count.key] = increments.get(count.key, 0) + 1
        events.append((at, increments))
        for name, value in (("vllm:num_requests_running", requests), ("vllm:num_requests_waiting", rng.randint(0, 3)),
                            ("vllm:kv_cache_usage_perc", round(rng.uniform(0.05, 0.9), 3))):
            _sample(gauges[name], at - MINUTE)
            gauges[name].value = value
            _sample(gauges[name], at)
            gauges[name].value = 0
            _sample(gauges[name], at + MINUTE)
    counters = [one for group in histograms for one in group[2] + [group[3], group[4]]]
    _replay(events, counters, start, days, restart_at)
    for counter in counters:
        counter.samples = [(t, round(v, 3)) for t, v in counter.samples]
    return [one for one in counters + list(gauges.values()) if one.samples]


def _replay(events, series, start, days, restart_at):
    """Counters through ``events`` (``[(time, {series key: increment})]``, in time order): the changing samples,
    the unchanged one a minute before each change, every midnight once a series exists, a restart (all to 0)."""
    by_key = {s.key: s for s in series}
    born = False
    timeline = sorted([(start + n * DAY, 1, None) for n in range(days + 1)] + [(at, 2, inc) for at, inc in events]
                      + ([(restart_at, 0, None)] if restart_at else []), key=lambda item: (item[0], item[1]))
    for at, what, increments in timeline:
        if what == 0:
            for one in series:
                one.value = 0
        elif what == 1:
            if born:
                for one in series:
                    _sample(one, at)
        else:
            born = True
            for one in series:
                _sample(one, at - MINUTE)
            for key, increment in increments.items():
                by_key[key].value += increment
            for one in series:
                _sample(one, at)


def _sample(series: Series, at: int) -> None:
    if series.samples and series.samples[-1][0] >= at:
        if series.samples[-1][0] == at:
            series.samples[-1] = (at, series.value)
        return
    series.samples.append((at, series.value))
