# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The usage report's numbers: read per tenant and day from Prometheus (:mod:`.metrics`), then one row per tenant.

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone
from decimal import Decimal

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage import metrics, prices as pricing
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.period import DAY_SECONDS

KINDS = ("requests", "input", "output", "throttled")
COLUMNS = ("tenant", "tier", "requests", "input_tokens", "output_tokens", "total_tokens", "throttled_requests",
           "days_active", "peak_tokens_per_minute", "tier_tokens_per_minute", "peak_percent_of_quota",
           "fee", "token_cost", "cost", "currency")


def _day(unix_time):
    """The day a value evaluated at ``unix_time`` (the following midnight) belongs to."""
    return datetime.fromtimestamp(unix_time - DAY_SECONDS, tz=timezone.utc).date().isoformat()


def collect(prometheus, period, tenants=None):
    """``{tenant: {"days": {day: {kind: n, "tier": t}}, "peak": n}}`` for the period (tenants with any series)."""
    usage = {}
    for kind in KINDS:
        for labels, values in prometheus.range(metrics.daily(kind, tenants), period.start + DAY_SECONDS,
                                               period.end, DAY_SECONDS):
            tenant, tier = labels.get(metrics.TENANT_LABEL), labels.get(metrics.TIER_LABEL, "")
            days = usage.setdefault(tenant, {"days": {}, "peak": 0})["days"]
            for at, value in values:
                amount = int(round(value))
                if amount:
                    day = days.setdefault(_day(at), {"tiers": {}})
                    day["tiers"].setdefault(tier, dict.fromkeys(KINDS, 0))[kind] += amount
    for labels, value in prometheus.instant(metrics.peak_per_minute(period.end - period.start, tenants), period.end):
        tenant = labels.get(metrics.TENANT_LABEL)
        if tenant in usage:
            usage[tenant]["peak"] = max(0, int(round(value)))
    return usage


def rows(usage, period, tiers, price_list, currency):
    """One row per tenant (by total tokens, then name): numbers, the tier's quota and the cost (see :mod:`.prices`).

    A tenant's tier is the one of its last active day; tokens are charged at the tier they were used in, the monthly
    fee at that last tier."""
    result = []
    for tenant, data in usage.items():
        totals = dict.fromkeys(KINDS, 0)
        token_cost = Decimal(0)
        by_tier, last_tier, active = {}, "", 0
        for day in sorted(data["days"]):
            day_tiers = data["days"][day]["tiers"]
            if any(v["requests"] or v["throttled"] for v in day_tiers.values()):
                active += 1
            for tier, numbers in day_tiers.items():
                acc = by_tier.setdefault(tier, dict.fromkeys(KINDS, 0))
                for kind in KINDS:
                    acc[kind] += numbers[kind]
                    totals[kind] += numbers[kind]
                last_tier = tier or last_tier
        for tier, numbers in by_tier.items():
            if tier in price_list:
                token_cost += pricing.cost(price_list[tier], 0, 0, numbers["input"], numbers["output"])["tokens"]
        fee = pricing.cost(price_list[last_tier], period.month_fraction(), 0, 0, 0)["fee"] \
            if last_tier in price_list else Decimal("0.00")
        quota = (tiers.get(last_tier) or {}).get("tokens_per_minute")
        result.append({
            "tenant": tenant, "tier": last_tier, "requests": totals["requests"], "input_tokens": totals["input"],
            "output_tokens": totals["output"], "total_tokens": totals["input"] + totals["output"],
            "throttled_requests": totals["throttled"], "days_active": active,
            "peak_tokens_per_minute": data["peak"], "tier_tokens_per_minute": quota,
            "peak_percent_of_quota": round(100.0 * data["peak"] / quota, 1) if quota else None,
            "fee": str(fee), "token_cost": str(token_cost), "cost": str(fee + token_cost), "currency": currency})
    result.sort(key=lambda row: (-row["total_tokens"], row["tenant"]))
    return result


def per_day(usage, period):
    """``{day: total tokens}`` over all tenants, every day of the period (0 when idle)."""
    totals = dict((day.isoformat(), 0) for day in period.days)
    for data in usage.values():
        for day, numbers in data["days"].items():
            if day in totals:
                totals[day] += sum(v["input"] + v["output"] for v in numbers["tiers"].values())
    return totals
