"""Shared value checks: DNS labels, RFC 3339 times, durations."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation


@pytest.mark.parametrize("value,ok", [("acme", True), ("a", True), ("a-1", True), ("A", False), ("-a", False),
                                      ("a-", False), ("a.b", False), ("a_b", False), ("a" * 63, True),
                                      ("a" * 64, False), ("", False)])
def test_dns_labels(value, ok):
    assert validation.is_dns_label(value) is ok


@pytest.mark.parametrize("value,expected", [
    ("2026-12-31T23:59:59Z", "2026-12-31T23:59:59Z"),
    ("2026-12-31t23:59:59z", "2026-12-31T23:59:59Z"),
    ("2026-12-31T23:59:59.5+02:00", "2026-12-31T21:59:59Z"),
    ("2026-12-31 23:59:59+00:00", "2026-12-31T23:59:59Z"),
    ("2026-12-31", None), ("2026-12-31T23:59:59", None), ("2026-13-01T00:00:00Z", None), ("tomorrow", None),
])
def test_rfc3339(value, expected):
    parsed = validation.parse_rfc3339(value)
    assert (validation.format_time(parsed) if parsed else None) == expected


@pytest.mark.parametrize("value,seconds", [("30m", 1800), ("24h", 86400), ("7d", 604800), ("1h30m", 5400),
                                           ("2w", 1209600), ("90", 90), (60, 60), ("0m", None), ("3x", None),
                                           ("", None), ("h", None), (True, None), (-5, None)])
def test_durations(value, seconds):
    assert validation.parse_duration_seconds(value) == seconds


@pytest.mark.parametrize("given,expected", [("4", 4), (" 12 ", 12), ("-1", -1), ("2.5", 2.5), ("four", "four"),
                                            (7, 7), (None, None), ([1], [1])])
def test_numbers_given_as_text(given, expected):
    assert validation.from_text(given) == expected
