"""Per tenant and day from the daily series; one row per tenant with tier, quota, days active and cost."""

from datetime import date

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import prices, report
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.period import Period

from .fake_prometheus import FakePrometheus

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 3))
DAY1, DAY2, DAY3 = PERIOD.start + 86400, PERIOD.start + 2 * 86400, PERIOD.start + 3 * 86400
TIERS = {"pro": {"tokens_per_minute": 50000}, "free": {"tokens_per_minute": 5000}}
PRICES = prices.check_prices({"pro": {"monthly_fee": 30, "input_per_million": 1, "output_per_million": 2},
                              "free": {}}, TIERS)[0]


def prometheus():
    acme, beta = {"tenant": "acme", "tier": "pro"}, {"tenant": "beta", "tier": "free"}
    return FakePrometheus(daily={
        "usage_count": [(acme, [(DAY1, 40.0), (DAY3, 2.0)]), (beta, [(DAY2, 1.0)])],
        'usage_sum{tenant!="",gen_ai_token_type="input"': [
            (acme, [(DAY1, 1000000.0), (DAY2, 0.0), (DAY3, 500000.0)]), (beta, [(DAY2, 10.0)])],
        'usage_sum{tenant!="",gen_ai_token_type="output"': [
            (acme, [(DAY1, 250000.0), (DAY3, 250000.0)]), (beta, [(DAY2, 5.0)])],
        "limited_calls": [(beta, [(DAY1, 3.0)])],
    }, peaks=[({"tenant": "acme"}, 20000.0), ({"tenant": "beta"}, 15.0), ({"tenant": "gone"}, 7.0)])


def test_collect_puts_each_day_value_on_the_day_before_the_midnight_it_was_read_at():
    usage = report.collect(prometheus(), PERIOD)
    assert usage["acme"]["days"]["2026-11-01"]["tiers"]["pro"] == {"requests": 40, "input": 1000000, "output": 250000,
                                                                   "throttled": 0}
    assert "2026-11-02" not in usage["acme"]["days"] and usage["acme"]["peak"] == 20000
    assert usage["beta"]["days"]["2026-11-01"]["tiers"]["free"]["throttled"] == 3 and "gone" not in usage


def test_rows_add_up_rank_by_tokens_and_price_the_tier():
    usage = report.collect(prometheus(), PERIOD)
    acme, beta = report.rows(usage, PERIOD, TIERS, PRICES, "EUR")
    assert acme == {"tenant": "acme", "tier": "pro", "requests": 42, "input_tokens": 1500000, "output_tokens": 500000,
                    "total_tokens": 2000000, "throttled_requests": 0, "days_active": 2, "peak_tokens_per_minute": 20000,
                    "tier_tokens_per_minute": 50000, "peak_percent_of_quota": 40.0, "fee": "3.00",
                    "token_cost": "2.50", "cost": "5.50", "currency": "EUR"}
    assert (beta["days_active"], beta["throttled_requests"], beta["cost"]) == (2, 3, "0.00")
    assert report.per_day(usage, PERIOD) == {"2026-11-01": 1250000, "2026-11-02": 15, "2026-11-03": 750000}
