# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The value checks every input of the collection shares: DNS names, RFC 3339 times, durations.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from datetime import datetime, timezone

# RFC 1123 label (Kubernetes names of namespaces, Services, labels values of this shape ...).
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63
# RFC 1123 subdomain (most Kubernetes object names).
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# What Gateway API and Kuadrant CRDs accept as a duration (HTTPRoute timeouts, rate windows).
GATEWAY_DURATION_RE = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")

RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

SECOND_MS = 1000
UNIT_MS = {"ms": 1, "s": SECOND_MS, "m": 60 * SECOND_MS, "h": 3600 * SECOND_MS, "d": 86400 * SECOND_MS,
           "w": 604800 * SECOND_MS}
_DURATION_TOKEN_RE = re.compile(r"(\d+)(ms|w|d|h|m|s)")
_DURATION_FULL_RE = re.compile(r"^(\d+(ms|w|d|h|m|s))+$")
DURATION_FORMAT = "a duration such as 1m, 12h, 1d, 90s or 1h30m (units w, d, h, m, s, ms)"


def is_dns_label(value, max_length=DNS_LABEL_MAX):
    return isinstance(value, str) and len(value) <= max_length and bool(DNS_LABEL_RE.match(value))


def dns_label_problem(field, value, max_length=DNS_LABEL_MAX):
    """Why ``value`` is not a DNS-1123 label (naming ``field``), or None."""
    if is_dns_label(value, max_length):
        return None
    return ("%s %r is not a valid DNS-1123 label: use at most %d lowercase letters, digits and '-', "
            "starting and ending with a letter or digit" % (field, value, max_length))


def parse_rfc3339(value):
    """Parse an RFC 3339 timestamp (timezone required) to an aware UTC datetime, or None."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else None
    if not isinstance(value, str) or not RFC3339_RE.match(value.strip()):
        return None
    text = value.strip().replace("z", "Z").replace("t", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc)


def format_time(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow():
    return datetime.now(timezone.utc)


def parse_duration_ms(value):
    """``90s``, ``12h``, ``1d``, ``1h30m``, ``2w``, ``500ms`` -> milliseconds (may be 0).

    Raises ValueError naming the allowed format.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration string such as 1m, 12h, 1d, 90s or 1h30m is required")
    text = value.strip().lower()
    if not _DURATION_FULL_RE.match(text):
        raise ValueError("allowed: " + DURATION_FORMAT)
    return sum(int(number) * UNIT_MS[unit] for number, unit in _DURATION_TOKEN_RE.findall(text))


def positive_int(value):
    """``value`` as an int if it is a positive whole number (an int or a string of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def from_text(value):
    """A number given as text (``-e concurrency=4``, an AWX survey answer) as int or float; other values as they are.

    What is left for the caller's checks to name: ``"four"`` stays ``"four"``.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return value


def parse_duration_seconds(value):
    """A positive whole number of seconds from a duration (``24h``, ``1h30m``) or a number; else None."""
    if isinstance(value, (bool, int)) or (isinstance(value, str) and value.strip().isdigit()):
        return positive_int(value)
    try:
        total = parse_duration_ms(value)
    except ValueError:
        return None
    if total <= 0 or total % SECOND_MS:
        return None
    return total // SECOND_MS


def field_errors(where, item, fields):
    """Unknown and missing fields of one catalog item; ``fields``: name -> (required, description)."""
    errors = ["%s: unknown field '%s'; allowed fields: %s" % (where, field, ", ".join(fields))
              for field in sorted(set(item) - set(fields))]
    errors.extend("%s: field '%s' is missing; it is the %s" % (where, field, description)
                  for field, (required, description) in fields.items()
                  if required and item.get(field) in (None, "", []))
    return errors
