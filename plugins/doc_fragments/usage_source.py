# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The Prometheus a usage module reads and the period: shared by usage_report and metering_check."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Matches USAGE_SOURCE_ARG_SPEC in plugins/module_utils/_usage/source.py.
    DOCUMENTATION = r"""
options:
  prometheus_url:
    description: Base URL of Prometheus' HTTP API, e.g. C(http://prometheus.monitoring:9090). Only read.
    type: str
    required: true
  prometheus_token:
    description: Bearer token for Prometheus, if it needs one. Never returned or logged.
    type: str
  validate_certs:
    description: Verify Prometheus' TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds per Prometheus query.
    type: int
    default: 60
  month:
    description:
      - The calendar month (C(YYYY-MM), UTC). Without O(month), O(first_day) and O(last_day), the previous
        calendar month. A month still running ends today.
    type: str
  first_day:
    description: First day (C(YYYY-MM-DD), UTC, included) of a range instead of a month.
    type: str
  last_day:
    description: Last day (C(YYYY-MM-DD), UTC, included) of the range; default today.
    type: str
"""
