# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The options the usage modules share (usage_report, metering_check): the Prometheus they read and the period.

Private to this collection (not an API for other collections; it may change
without notice). Documented once, in plugins/doc_fragments/usage_source.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.period import parse_period
from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.prometheus import Prometheus

USAGE_SOURCE_ARG_SPEC = {
    "prometheus_url": {"type": "str", "required": True},
    "prometheus_token": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 60},
    "month": {"type": "str"},
    "first_day": {"type": "str"},
    "last_day": {"type": "str"},
}


def check_source(params, today):
    """``(period, errors)`` of the shared options."""
    period, errors = parse_period(params["month"], params["first_day"], params["last_day"], today)
    if not params["prometheus_url"].startswith(("http://", "https://")):
        errors.append("prometheus_url: %r is not an http(s) URL" % (params["prometheus_url"],))
    if params["timeout"] < 1:
        errors.append("timeout: %r is not allowed; use seconds >= 1" % (params["timeout"],))
    return period, errors


def prometheus_of(params):
    return Prometheus(params["prometheus_url"], params["prometheus_token"], params["validate_certs"], params["timeout"])


def today_utc():
    return datetime.now(timezone.utc).date()
