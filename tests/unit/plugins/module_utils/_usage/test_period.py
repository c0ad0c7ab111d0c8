"""The report period: a month by default (the previous one), any range of whole UTC days, never in the future."""

from datetime import date
from fractions import Fraction

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.period import Period, parse_period

TODAY = date(2026, 12, 4)


def test_default_is_the_previous_month():
    period, errors = parse_period(None, None, None, TODAY)
    assert errors == [] and (period.first, period.last, period.label) == (date(2026, 11, 1), date(2026, 11, 30), "2026-11")
    assert period.end - period.start == 30 * 86400 and period.month_fraction() == 1.0


def test_a_month_still_running_ends_today_and_a_range_is_labelled_by_its_days():
    period = parse_period("2026-12", None, None, TODAY)[0]
    assert (period.first, period.last, period.label) == (date(2026, 12, 1), TODAY, "2026-12-01_2026-12-04")
    period = parse_period(None, "2026-11-15", "2026-11-30", TODAY)[0]
    assert len(period.days) == 16 and period.month_fraction() == Fraction(16, 30)


def test_bad_periods_name_the_field_the_value_and_the_form():
    assert parse_period("2026-13", None, None, TODAY)[1] == ["month: '2026-13' is not a month; use YYYY-MM, e.g. 2026-11"]
    assert "first_day: 2026-11-20 is after last_day 2026-11-10" in parse_period(None, "2026-11-20", "2026-11-10", TODAY)[1][0]
    assert parse_period(None, "2026-02-30", None, TODAY)[1][0].startswith("first_day: '2026-02-30' is not a date")
    assert parse_period("2026-11", "2026-11-01", None, TODAY)[1][0].startswith("month: '2026-11' cannot be combined")
    assert "starts after today" in parse_period("2027-01", None, None, TODAY)[1][0]
    assert parse_period(None, None, "2026-11-10", TODAY)[1][0].startswith("first_day: missing")


def test_period_as_dict():
    assert Period(date(2026, 11, 1), date(2026, 11, 2)).as_dict() == {
        "from": "2026-11-01", "to": "2026-11-02", "days": 2, "label": "2026-11-01_2026-11-02"}
