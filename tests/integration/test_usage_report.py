"""usage_report.yml against a real Prometheus (Debian's package) whose TSDB promtool filled with a generated November
of 200 tenants (:mod:`testworld.usage_data`: the AI Gateway's and Limitador's metric names and labels, a restart of
both on the 10th, a tenant revoked on the 12th, one that never made a request): the report's numbers equal the
generated truth exactly, per tenant and day, with the cost arithmetic; bad input and empty periods write nothing.
The monitoring role's Grafana dashboards' queries run against the same Prometheus."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.filter.monitoring import grafana_dashboards
from ansible_collections.tokenlabs.inference.plugins.module_utils._monitoring.dashboards import queries
from testworld.prometheus import PrometheusServer, backfill
from testworld.usage_data import generate, midnight

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("TOKENLABS_CACHE", Path.home() / ".cache" / "tokenlabs")) / "job-venvs"
RESTART = int(datetime(2026, 11, 10, 12, 0, 30, tzinfo=timezone.utc).timestamp())
REVOKED, IDLE = "t-0005", "t-0007"
BYPASSED, STREAMED = "Qwen/Qwen3-8B", "nvidia/Llama-3.1-Nemotron-Nano-8B-v1"   # planted metering gaps
DEFAULTS = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("usage")
    data = generate(date(2026, 11, 1), 30, tenants=200, restart_at=RESTART, revoked={REVOKED: 11}, idle=(IDLE,),
                    bypass={BYPASSED: 0.05}, no_usage={STREAMED: 0.05})
    backfill(data.write_openmetrics(root / "openmetrics"), root / "prometheus" / "tsdb")
    server = PrometheusServer(root / "prometheus")
    yield data, server, root
    server.stop()


def report(world, *extra, formats=("csv", "json", "md")):
    _data, server, root = world
    out = root / "out"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    variables = {"tokenlabs_prometheus_url": server.url, "tokenlabs_usage_report_dir": str(out),
                 "tokenlabs_usage_report_formats": list(formats), "tokenlabs_job_venv_dir": str(VENVS)}
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "usage_report.yml", "-e",
                           json.dumps(variables), *extra], cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    return proc, out


def expected_cost(tier, tokens_in, tokens_out):
    price = DEFAULTS["tokenlabs_tier_prices"][tier]
    fee = Decimal(str(price["monthly_fee"])).quantize(CENT, ROUND_HALF_UP)
    tokens = ((Decimal(tokens_in) * Decimal(str(price["input_per_million"]))
               + Decimal(tokens_out) * Decimal(str(price["output_per_million"]))) / 1000000).quantize(CENT, ROUND_HALF_UP)
    return fee, tokens


def test_november_matches_the_generated_usage_exactly(world):
    data = world[0]
    proc, out = report(world, "-e", "usage_month=2026-11", formats=("csv", "json", "md", "png"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["tenant"]: r for r in csv.DictReader((out / "usage-2026-11.csv").open())}
    assert set(rows) == set(data.truth) and REVOKED in rows and IDLE not in rows
    for tenant, truth in data.truth.items():
        row, days = rows[tenant], truth["days"].values()
        tokens_in, tokens_out = sum(d["input"] for d in days), sum(d["output"] for d in days)
        assert (int(row["requests"]), int(row["input_tokens"]), int(row["output_tokens"]), int(row["total_tokens"]),
                int(row["throttled_requests"]), int(row["days_active"]), int(row["peak_tokens_per_minute"])) == (
            sum(d["requests"] for d in days), tokens_in, tokens_out, tokens_in + tokens_out,
            sum(d["throttled"] for d in days), len(truth["days"]), truth["peak"]), tenant
        tier = data.tiers[tenant]
        fee, tokens = expected_cost(tier, tokens_in, tokens_out)
        assert (row["tier"], Decimal(row["fee"]), Decimal(row["token_cost"]), Decimal(row["cost"])) == (
            tier, fee, tokens, fee + tokens), tenant
        quota = DEFAULTS["tokenlabs_tiers"][tier]["tokens_per_minute"]
        assert float(row["peak_percent_of_quota"]) == round(100.0 * truth["peak"] / quota, 1)
    record = json.loads((out / "usage-2026-11.json").read_text())
    per_day = {}
    for truth in data.truth.values():
        for day, numbers in truth["days"].items():
            per_day[day] = per_day.get(day, 0) + numbers["input"] + numbers["output"]
    assert {d: v for d, v in record["tokens_per_day"].items() if v} == per_day
    assert (out / "usage-2026-11.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "usage-2026-11.md").read_text().startswith("# Usage 2026-11 (2026-11-01 to 2026-11-30, UTC)")


def test_a_range_and_one_tenant(world):
    data = world[0]
    tenant = next(t for t, truth in sorted(data.truth.items()) if "2026-11-10" in truth["days"])
    proc, out = report(world, "-e", "usage_first_day=2026-11-09", "-e", "usage_last_day=2026-11-11",
                       "-e", json.dumps({"usage_tenants": [tenant]}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.DictReader((out / "usage-2026-11-09_2026-11-11.csv").open()))
    days = [v for d, v in data.truth[tenant]["days"].items() if "2026-11-09" <= d <= "2026-11-11"]
    assert [r["tenant"] for r in rows] == [tenant]
    assert int(rows[0]["input_tokens"]) == sum(d["input"] for d in days)   # across the restart on the 10th


@pytest.mark.parametrize("extra, message", [
    (["-e", "usage_first_day=2026-11-20", "-e", "usage_last_day=2026-11-10"],
     "first_day: 2026-11-20 is after last_day 2026-11-10; the range must run forward"),
    (["-e", '{"usage_tenants": ["nobody"]}', "-e", "usage_month=2026-11"],
     "tenants: nobody unknown: no such tenant now (known_tenants) and no usage in 2026-11-01..2026-11-30"),
    (["-e", "usage_month=2026-10"], "no usage data in 2026-10-01..2026-10-31"),
    (["-e", "usage_month=2026-11", "-e", "tokenlabs_prometheus_url=http://127.0.0.1:9"],
     "Prometheus at http://127.0.0.1:9 did not answer"),
])
def test_bad_input_and_empty_periods_write_nothing(world, extra, message):
    _data, _server, root = world
    before = sorted(p.name for p in (root / "out").glob("*")) if (root / "out").exists() else []
    proc, out = report(world, *extra)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout
    assert (sorted(p.name for p in out.glob("*")) if out.exists() else []) == before


def test_the_metering_check_finds_both_planted_gaps_with_their_causes(world):
    data = world[0]
    proc, _out = report(world, "-e", "usage_month=2026-11", "-e", "tokenlabs_metering_fail_on_gap=true")
    assert proc.returncode != 0 and "Metering gap: 2026-11: 2 model(s), 2 gap(s) beyond 2.0 %" in proc.stdout, proc.stdout
    bypassed, streamed = data.engine_truth[BYPASSED], data.engine_truth[STREAMED]
    assert "%s: %s %% (traffic bypassing the gateway: the engines served %d request(s)" % (
        BYPASSED, round(100.0 * (bypassed["tokens"] - bypassed["gateway_tokens"]) / bypassed["tokens"], 2),
        bypassed["requests"] - bypassed["gateway_requests"]) in proc.stdout
    assert "%s: %s %% (streams without usage: the gateway passed the requests but counted %d token(s) fewer" % (
        STREAMED, round(100.0 * (streamed["tokens"] - streamed["gateway_tokens"]) / streamed["tokens"], 2),
        streamed["tokens"] - streamed["gateway_tokens"]) in proc.stdout


def prometheus_get(server, path, **params):
    url = "%s%s?%s" % (server.url, path, urllib.parse.urlencode(params, doseq=True))
    with urllib.request.urlopen(url, timeout=60) as response:   # a 400 (bad PromQL) raises, naming the query
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def test_every_dashboard_query_is_valid_promql_that_returns_series(world):
    """The dashboards the monitoring role ships (default tier table), each panel query and each variable over the
    generated November: Grafana's variables become what suits one-minute data written at its change points
    (``$__rate_interval`` 1h, ``$__range`` 30d); the tenant is the one with the most tokens."""
    data, server, _root = world
    tenant = max(data.truth, key=lambda t: sum(d["input"] + d["output"] for d in data.truth[t]["days"].values()))
    values = {"$__rate_interval": "1h", "$__range": "30d", "$model": ".*", "$tenant": tenant}
    start, end = midnight(date(2026, 11, 1)), midnight(date(2026, 12, 1))
    checked = 0
    for config_map in grafana_dashboards(DEFAULTS["tokenlabs_tiers"], "token-labs"):
        (dashboard,) = [json.loads(text) for text in config_map["data"].values()]
        for title, expr in queries(dashboard):
            variable = re.fullmatch(r"label_values\((.+), (\w+)\)", expr)
            if variable:
                found = prometheus_get(server, "/api/v1/label/%s/values" % variable[2],
                                       **{"match[]": variable[1], "start": start, "end": end})
                assert found, (dashboard["uid"], title, expr)
                assert tenant in found or variable[2] != "tenant"
            else:
                for name, value in values.items():
                    expr = expr.replace(name, value)
                result = prometheus_get(server, "/api/v1/query_range", query=expr, start=start, end=end, step=3600)
                assert result["result"], (dashboard["uid"], title, expr)
                if " * 0 + " in expr:   # a quota line: the limit of the tenant's own tier, and only that
                    limit = re.search(r'tier="%s"}\) \* 0 \+ (\d+)' % data.tiers[tenant], expr)[1]
                    assert {s["metric"]["tier"] for s in result["result"]} == {data.tiers[tenant]}
                    assert {v for s in result["result"] for _t, v in s["values"]} == {limit}, (title, expr)
            checked += 1
    assert checked >= 25
