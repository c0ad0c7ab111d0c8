# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The period a usage report covers: whole UTC days, a calendar month by default.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import re
from fractions import Fraction
from datetime import date, datetime, timedelta, timezone

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
DAY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
DAY_SECONDS = 86400


class Period(object):
    """``first`` .. ``last`` (dates, both included), UTC midnight to midnight."""

    def __init__(self, first, last):
        self.first, self.last = first, last

    @property
    def days(self):
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def start(self):
        """Unix time of the first day's 00:00 UTC."""
        return int(datetime(self.first.year, self.first.month, self.first.day, tzinfo=timezone.utc).timestamp())

    @property
    def end(self):
        """Unix time of 00:00 UTC after the last day (exclusive)."""
        return self.start + len(self.days) * DAY_SECONDS

    @property
    def label(self):
        if self.first.day == 1 and self.last == _month_end(self.first):
            return self.first.strftime("%Y-%m")
        return "%s_%s" % (self.first.isoformat(), self.last.isoformat())

    def month_fraction(self):
        """The fraction of a month the period covers, exactly: each day counts 1/<days in its month>."""
        return sum((Fraction(1, calendar.monthrange(day.year, day.month)[1]) for day in self.days), Fraction(0))

    def as_dict(self):
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "days": len(self.days),
                "label": self.label}


def _month_end(day):
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def _parse_day(field, value, errors):
    match = DAY_RE.match(value or "")
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    errors.append("%s: %r is not a date; use YYYY-MM-DD (UTC), e.g. 2026-11-01" % (field, value))
    return None


def parse_period(month, first, last, today):
    """``(Period or None, errors)``. ``month`` (YYYY-MM) or ``first``/``last`` (YYYY-MM-DD, both included; ``last``
    defaults to ``today``); none of them: the previous calendar month. Nothing after ``today``."""
    errors = []
    if month and (first or last):
        errors.append("month: %r cannot be combined with first_day/last_day (%r/%r); give a month or a range"
                      % (month, first, last))
        return None, errors
    if month:
        match = MONTH_RE.match(month)
        if not match or not 1 <= int(match.group(2)) <= 12:
            errors.append("month: %r is not a month; use YYYY-MM, e.g. 2026-11" % (month,))
            return None, errors
        begin = date(int(match.group(1)), int(match.group(2)), 1)
        period = Period(begin, _month_end(begin))
    elif first or last:
        if not first:
            errors.append("first_day: missing; a range needs its first day (YYYY-MM-DD), last_day is %r" % (last,))
            return None, errors
        begin = _parse_day("first_day", first, errors)
        end = _parse_day("last_day", last, errors) if last else today
        if errors:
            return None, errors
        if begin > end:
            errors.append("first_day: %s is after last_day %s; the range must run forward" % (begin, end))
            return None, errors
        period = Period(begin, end)
    else:
        previous = today.replace(day=1) - timedelta(days=1)
        period = Period(previous.replace(day=1), previous)
    if period.first > today:
        errors.append("the period %s..%s starts after today (%s, UTC); nothing can have been used yet"
                      % (period.first, period.last, today))
        return None, errors
    if period.last > today:
        period = Period(period.first, today)
    return period, errors
