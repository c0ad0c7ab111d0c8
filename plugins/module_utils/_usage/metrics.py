# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Which metric gives which number of the usage report, and the PromQL that reads it.

Private to this collection (not an API for other collections; it may change
without notice). No I/O. ``docs/dev/usage-metrics.md`` cites the upstream source of every name.

- **Tokens, split** -- Envoy AI Gateway's ``gen_ai_client_token_usage`` histogram (``_sum``: tokens, ``_count``:
  responses), one series per ``gen_ai_token_type`` (``input``, ``output``), recorded per response or once at the
  end of a stream, with the request headers ``x-tokenlabs-tenant`` / ``x-tokenlabs-tier`` (set by the AuthPolicy
  from the key's identity) as the labels ``tenant`` / ``tier`` (AI Gateway ``metricsRequestHeaderAttributes``).
  Total tokens = input + output (OpenAI usage: ``total_tokens = prompt_tokens + completion_tokens``).
- **Requests** -- responses with usage: the ``_count`` of the ``input`` series.
- **Throttled** -- Limitador's ``limited_calls`` (a counter, no ``_total`` suffix) with the labels ``tenant`` and
  ``tier`` the TelemetryPolicy adds (``descriptors[1]``): every 429 of the RateLimitPolicy or the
  TokenRateLimitPolicy. (Limitador's ``authorized_hits`` adds the RateLimitPolicy's one hit per request to the
  TokenRateLimitPolicy's tokens in one series, so it is not read as tokens.)
- **Peak tokens per minute** -- the largest one-minute increase of input + output tokens.

Daily numbers are ``increase(...[1d])`` at each midnight (UTC): exact for counters sampled on the minute (the
range then starts and ends on a sample), Prometheus' extrapolation otherwise; a counter reset (a restarted
process) is handled as Prometheus does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

TOKENS = "gen_ai_client_token_usage_sum"
RESPONSES = "gen_ai_client_token_usage_count"
THROTTLED = "limited_calls"
TENANT_LABEL = "tenant"
TIER_LABEL = "tier"
TOKEN_TYPES = ("input", "output")


def _selector(extra, tenants):
    matchers = ['%s!=""' % TENANT_LABEL] + list(extra)
    if tenants:
        matchers.append('%s=~"%s"' % (TENANT_LABEL, "|".join(tenants)))
    return "{%s}" % ",".join(matchers)


def daily(kind, tenants=None):
    """PromQL of one day's increase per tenant and tier (evaluate at each midnight after the day)."""
    if kind in TOKEN_TYPES:
        expr = '%s%s' % (TOKENS, _selector(['gen_ai_token_type="%s"' % kind], tenants))
    elif kind == "requests":
        expr = '%s%s' % (RESPONSES, _selector(['gen_ai_token_type="input"'], tenants))
    elif kind == "throttled":
        expr = '%s%s' % (THROTTLED, _selector([], tenants))
    else:
        raise ValueError(kind)
    return "sum by (%s, %s) (increase(%s[1d]))" % (TENANT_LABEL, TIER_LABEL, expr)


def peak_per_minute(seconds, tenants=None):
    """PromQL of each tenant's largest one-minute token increase over the ``seconds`` before the evaluation time."""
    tokens = '%s%s' % (TOKENS, _selector(['gen_ai_token_type=~"%s"' % "|".join(TOKEN_TYPES)], tenants))
    return ("max by (%s) (max_over_time((sum by (%s) (%s - %s offset 1m))[%ds:1m]))"
            % (TENANT_LABEL, TENANT_LABEL, tokens, tokens, seconds))
