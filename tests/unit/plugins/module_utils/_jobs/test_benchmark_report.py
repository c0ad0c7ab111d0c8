"""Records, the comparison with an earlier record, and the Markdown summary."""

import json

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import benchmark_report as report
from ansible_collections.tokenlabs.inference.plugins.module_utils import _files as json_files


def record(run_id, decode, prefill=3000.0, models=("m",)):
    return {"format": 1, "run_id": run_id, "started": "s", "finished": "f", "gateway_url": "http://gw",
            "client": {"httpx": "0.28.1"}, "compared_with": None, "regressions": [],
            "settings": {"rounds": 2, "warmup_requests": 1, "extra_body": {}, "regression_threshold": 10},
            "cost_model": {"currency": "USD", "hardware_price": 3999, "amortisation_years": 3, "utilisation": 1,
                           "power_draw_watts": 200, "electricity_price_per_kwh": 0.1},
            "cost_per_hour": {"hardware": 0.15217, "electricity": 0.02, "total": 0.17217},
            "models": [{"id": m, "name": m, "levels": [
                {"prompt_tokens": 512, "output_tokens": 128, "concurrency": 4, "decode_tokens_per_s": decode,
                 "prefill_tokens_per_s": prefill, "prompt_tokens_mean": 510.0, "failed_requests": 0,
                 "cost_per_million_input_tokens": 0.0149, "cost_per_million_output_tokens": 0.0919,
                 "ttft_ms": {"p50": 100.0, "p99": 150.0}, "itl_ms": {"p50": 20.0, "p99": 25.0}}]} for m in models]}


@pytest.mark.parametrize("after,regressed", [(520.0, False), (470.0, False), (460.0, True)])
def test_decode_regression_beyond_the_threshold(after, regressed):
    found = report.compare(record("2", after), record("1", 520.0), 10)
    assert bool(found) is regressed
    if regressed:
        assert found[0]["figure"] == "decode_tokens_per_s" and found[0]["change_percent"] == pytest.approx(-11.5)


def test_levels_and_models_missing_from_the_earlier_record_are_not_compared():
    assert report.compare(record("2", 10.0, models=("new",)), record("1", 520.0), 10) == []


def test_earlier_records_are_the_older_run_ids(tmp_path):
    for run_id in ("20261201T000000Z", "20261202T000000Z", "20261203T000000Z"):
        json_files.write_json(report.record_path(str(tmp_path), run_id, "json"), record(run_id, 1.0))
    found = report.earlier_records(str(tmp_path), "20261203T000000Z")
    assert [p.rsplit("-", 1)[1] for p in found] == ["20261201T000000Z.json", "20261202T000000Z.json"]
    assert report.load_record(found[0])["run_id"] == "20261201T000000Z"
    (tmp_path / "benchmark-x.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(ValueError, match="is not a benchmark record"):
        report.load_record(str(tmp_path / "benchmark-x.json"))


def test_markdown_shows_the_cost_arithmetic_table_and_regressions():
    rec = record("2", 460.0)
    rec["compared_with"] = "/r/benchmark-1.json"
    rec["regressions"] = report.compare(rec, record("1", 520.0), 10)
    rec["models"][0]["headline"] = rec["models"][0]["levels"][0]
    text = report.markdown(rec)
    assert "= 0.15217 + 0.02000 = **0.17217 USD/h**" in text
    assert "| 512 (510.0) | 128 | 4 | n/a | 100.0 / 150.0 | 20.0 / 25.0 | 3000.0 | 460.0 | 0.0149 USD | 0.0919 USD | 0 |" \
        in text
    assert "**1 regression(s)** beyond 10 %" in text and "| m | decode_tokens_per_s | 512 | 128 | 4 | 520.0 | 460.0" in text
    lines = report.summary_lines(rec, {"record": "r.json", "summary": "r.md", "chart": "r.png"})
    assert lines[0].startswith("m: 460.0 decode tok/s at concurrency 4") and "1 regression(s)" in lines[-1]
