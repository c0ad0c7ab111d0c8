"""The report files: CSV with one row per tenant, JSON, Markdown, and a PNG when matplotlib is there."""

import csv
import io
import json

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import render
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.report import COLUMNS

ROW = {"tenant": "acme", "tier": "pro", "requests": 2, "input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
       "throttled_requests": 1, "days_active": 1, "peak_tokens_per_minute": 15, "tier_tokens_per_minute": None,
       "peak_percent_of_quota": None, "fee": "1.00", "token_cost": "0.00", "cost": "1.00", "currency": "USD"}
RECORD = {"period": {"from": "2026-11-01", "to": "2026-11-30", "days": 30, "label": "2026-11"}, "currency": "USD",
          "tenants": [ROW], "totals": {"requests": 2, "input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
                                       "throttled_requests": 1, "cost": "1.00"},
          "tokens_per_day": {"2026-11-01": 15, "2026-11-02": 0}, "sources": "test"}


def test_csv_has_the_columns_and_one_row_per_tenant():
    rows = list(csv.DictReader(io.StringIO(render.to_csv([ROW]))))
    assert list(rows[0]) == list(COLUMNS) and rows[0]["tenant"] == "acme" and rows[0]["peak_percent_of_quota"] == ""


def test_json_and_markdown():
    assert json.loads(render.to_json(RECORD)) == RECORD
    text = render.to_markdown(RECORD)
    assert text.startswith("# Usage 2026-11 (2026-11-01 to 2026-11-30, UTC)")
    assert "| acme | pro | 2 | 10 | 5 | 15 | 1 | 1 | 15 | 1.00 |" in text


def test_chart_is_a_png(tmp_path):
    if not render.HAS_MATPLOTLIB:
        pytest.skip("matplotlib is not installed here")
    render.draw(RECORD, str(tmp_path / "u.png"))
    assert (tmp_path / "u.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
