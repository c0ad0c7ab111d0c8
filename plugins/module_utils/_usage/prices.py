# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The per-tier price list and the cost arithmetic of the usage report.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.

A tier's price: ``monthly_fee`` (charged per month, prorated by day for a partial month), ``input_per_million``
and ``output_per_million`` (per 1,000,000 tokens, when the gateway splits a tenant's tokens) and
``total_per_million`` (per 1,000,000 tokens of the total the quota counts, used when there is no split). Amounts
are decimal, in ``currency``; each amount (fee, tokens of one tier) is rounded half-up to cents once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PRICE_FIELDS = ("monthly_fee", "input_per_million", "output_per_million", "total_per_million")
MILLION = Decimal(1000000)
CENT = Decimal("0.01")


def check_prices(prices, tiers):
    """``({tier: {field: Decimal}}, errors)``: every tier of the tier table needs a price; each field a number >= 0."""
    errors, checked = [], {}
    if not isinstance(prices, dict):
        return {}, ["prices: %r is not a mapping of tier -> price fields (%s)" % (prices, ", ".join(PRICE_FIELDS))]
    for tier in sorted(set(tiers) - set(prices)):
        errors.append("prices: tier %r has no price; give it %s (0 for free)" % (tier, ", ".join(PRICE_FIELDS)))
    for tier, price in sorted(prices.items()):
        if not isinstance(price, dict):
            errors.append("prices.%s: %r is not a mapping of %s" % (tier, price, ", ".join(PRICE_FIELDS)))
            continue
        for field in sorted(set(price) - set(PRICE_FIELDS)):
            errors.append("prices.%s.%s: unknown field; allowed: %s" % (tier, field, ", ".join(PRICE_FIELDS)))
        checked[tier] = {}
        for field in PRICE_FIELDS:
            value = price.get(field, 0)
            try:
                amount = Decimal(str(value)) if not isinstance(value, bool) else None
            except InvalidOperation:
                amount = None
            if amount is None or not amount.is_finite() or amount < 0:
                errors.append("prices.%s.%s: %r is not allowed; use an amount >= 0" % (tier, field, value))
                continue
            checked[tier][field] = amount
    return checked, errors


def cost(price, month_fraction, total_tokens, input_tokens=None, output_tokens=None):
    """``month_fraction``: an int or a ``fractions.Fraction`` (exact).
    ``{"fee", "tokens", "total"}`` in cents (Decimal, two places) for one tenant and tier."""
    fraction = Decimal(getattr(month_fraction, "numerator", month_fraction)) / \
        Decimal(getattr(month_fraction, "denominator", 1))
    fee = price["monthly_fee"] * fraction
    if input_tokens is not None and output_tokens is not None:
        tokens = (Decimal(input_tokens) * price["input_per_million"]
                  + Decimal(output_tokens) * price["output_per_million"]) / MILLION
    else:
        tokens = Decimal(total_tokens) * price["total_per_million"] / MILLION
    return {"fee": fee.quantize(CENT, ROUND_HALF_UP), "tokens": tokens.quantize(CENT, ROUND_HALF_UP),
            "total": (fee + tokens).quantize(CENT, ROUND_HALF_UP)}
