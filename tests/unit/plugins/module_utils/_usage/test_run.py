"""The usage_report run: input checked before Prometheus is asked, unknown tenants and empty periods refused,
files written only outside check mode."""

from datetime import date

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import run

from .fake_prometheus import FakePrometheus
from .test_report import PERIOD, TIERS, prometheus

TODAY = date(2026, 12, 4)


def params(**overrides):
    base = {"prometheus_url": "http://127.0.0.1:9090", "prometheus_token": None, "validate_certs": True, "timeout": 60,
            "month": None, "first_day": PERIOD.first.isoformat(), "last_day": PERIOD.last.isoformat(), "tenants": [],
            "known_tenants": [], "tiers": TIERS, "prices": {"pro": {"monthly_fee": 30}, "free": {}},
            "currency": "USD", "output_dir": "/nonexistent", "formats": ["csv", "json", "md"]}
    base.update(overrides)
    return base


def test_bad_input_is_refused_before_prometheus_is_asked():
    fake = FakePrometheus()
    record, errors = run.build(params(month="11/2026", first_day=None, last_day=None, tenants=["Not_A_Name"],
                                      prices={"pro": {}}, prometheus_url="prometheus:9090"), fake, TODAY)
    assert record is None and fake.queries == []
    assert errors == ["month: '11/2026' is not a month; use YYYY-MM, e.g. 2026-11",
                      "prometheus_url: 'prometheus:9090' is not an http(s) URL",
                      "tenants: 'Not_A_Name' is not a tenant name (a DNS-1123 label)",
                      "prices: tier 'free' has no price; give it monthly_fee, input_per_million, output_per_million, "
                      "total_per_million (0 for free)"]


def test_unknown_tenant_no_data_and_a_silent_prometheus_are_errors():
    assert run.build(params(tenants=["nobody"]), prometheus(), TODAY)[1] == [
        "tenants: nobody unknown: no such tenant now (known_tenants) and no usage in 2026-11-01..2026-11-03"]
    assert run.build(params(), FakePrometheus(), TODAY)[1][0].startswith("no usage data in 2026-11-01..2026-11-03")
    assert "did not answer" in run.build(params(), FakePrometheus(down=True), TODAY)[1][0]


def test_a_known_tenant_without_usage_gets_a_row_of_zeros():
    record, errors = run.build(params(tenants=["acme", "idle"], known_tenants=["idle"]), prometheus(), TODAY)
    assert errors == [] and [r["tenant"] for r in record["tenants"]] == ["acme", "idle"]
    assert record["tenants"][1]["total_tokens"] == 0 and record["totals"]["total_tokens"] == 2000000


def test_files_are_written_per_format(tmp_path):
    record = run.build(params(), prometheus(), TODAY)[0]
    files = run.write(record, str(tmp_path / "out"), ["csv", "md"])
    assert sorted(files) == ["csv", "md"] and files["csv"].endswith("usage-2026-11-01_2026-11-03.csv")
    assert (tmp_path / "out" / "usage-2026-11-01_2026-11-03.md").read_text().startswith("# Usage")
