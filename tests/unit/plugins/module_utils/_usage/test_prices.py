"""The price list: every tier priced, amounts >= 0; cost in cents, half up, fee prorated by day."""

from decimal import Decimal
from fractions import Fraction

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import prices

PRICES = {"free": {"monthly_fee": 0}, "pro": {"monthly_fee": "49", "input_per_million": 0.2, "output_per_million": 0.6,
                                              "total_per_million": 0.4}}


def test_prices_are_checked_against_the_tiers():
    checked, errors = prices.check_prices(PRICES, {"free": {}, "pro": {}})
    assert errors == [] and checked["pro"]["output_per_million"] == Decimal("0.6") and checked["free"]["input_per_million"] == 0
    errors = prices.check_prices({"pro": {"monthly_fee": -1, "per_token": 1}}, {"free": {}, "pro": {}})[1]
    assert "prices: tier 'free' has no price; give it monthly_fee, input_per_million, output_per_million, " \
           "total_per_million (0 for free)" in errors
    assert "prices.pro.monthly_fee: -1 is not allowed; use an amount >= 0" in errors
    assert any(e.startswith("prices.pro.per_token: unknown field") for e in errors)
    assert prices.check_prices({"pro": {"monthly_fee": "x"}}, {})[1] == ["prices.pro.monthly_fee: 'x' is not allowed; use an amount >= 0"]


def test_cost_splits_input_and_output_or_uses_the_total():
    price = prices.check_prices(PRICES, {})[0]["pro"]
    expected = {"fee": Decimal("24.50"), "tokens": Decimal("1.70"), "total": Decimal("26.20")}
    assert prices.cost(price, Fraction(1, 2), 0, 1000000, 2500000) == expected
    assert prices.cost(price, 1, 1250000)["tokens"] == Decimal("0.50")
    assert prices.cost(price, 0, 0, 12500, 0)["tokens"] == Decimal("0.00")   # 0.0025 rounds half up to 0.00
    assert prices.cost(price, 0, 0, 25000, 0)["tokens"] == Decimal("0.01")   # 0.005 -> 0.01
