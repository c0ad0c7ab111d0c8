#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: usage_report
short_description: Per-tenant usage and cost for a period, read from Prometheus, as CSV, JSON, Markdown and PNG
version_added: 0.2.0
description:
  - Reads, per tenant and UTC day, the tokens (input and output) and requests the Envoy AI Gateway counted
    (C(gen_ai_client_token_usage), labels C(tenant) and C(tier)) and the throttled requests Limitador counted
    (C(limited_calls), labels C(tenant) and C(tier) from the TelemetryPolicy), from Prometheus' HTTP API; needs only
    read access to Prometheus.
  - One row per tenant seen in the period, including tenants revoked since (their series remain) - requests, tokens
    (input, output, total), throttled requests, days active, peak tokens per minute against the tier's
    C(tokens_per_minute), and the cost from O(prices).
  - Refuses, before writing anything, a malformed period, a period in the future, a tenant that is unknown (neither in
    O(known_tenants) nor in the data), a tier without a price, a Prometheus that does not answer, and a period
    without any usage.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.usage_source
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads Prometheus and returns the report; writes no file.
  diff_mode:
    support: none
    details: The report goes to new files and return values; there is no object to diff.
  platform:
    platforms: posix
    support: full
    details: Runs on the controller (delegate or run the play on localhost).
options:
  tenants:
    description: Report only these tenants (names). Empty reports every tenant seen in the period.
    type: list
    elements: str
    default: []
  known_tenants:
    description:
      - The tenants that exist now (e.g. the names M(tokenlabs.inference.tenant_info) returns). A tenant in
        O(tenants) that is neither here nor in the data is refused as unknown; one that is here without usage gets a
        row of zeros.
    type: list
    elements: str
    default: []
  tiers:
    description: The tier table (C(tokenlabs_tiers)); C(tokens_per_minute) is the quota a tenant's peak is compared with.
    type: dict
    required: true
  prices:
    description:
      - Price per tier, every tier of O(tiers) needs one. Fields (decimal amounts in O(currency), default 0)
        C(monthly_fee) (prorated by day for part of a month), C(input_per_million), C(output_per_million) and
        C(total_per_million) (per 1,000,000 tokens).
      - Tokens are charged at the tier they were used in, the fee at the tenant's tier on its last active day.
    type: dict
    required: true
  currency:
    description: The currency of O(prices), written next to every amount.
    type: str
    default: USD
  output_dir:
    description: Directory for C(usage-<period>.csv|json|md|png); created if missing. Existing files are replaced.
    type: path
    required: true
  formats:
    description: Which files to write. C(png) needs matplotlib (the job virtualenv has it).
    type: list
    elements: str
    choices: [csv, json, md, png]
    default: [csv, json, md, png]
"""

EXAMPLES = r"""
- name: Bill November
  tokenlabs.inference.usage_report:
    prometheus_url: http://prometheus.monitoring:9090
    month: "2026-11"
    tiers: "{{ tokenlabs_tiers }}"
    prices: "{{ tokenlabs_tier_prices }}"
    output_dir: /var/lib/tokenlabs/usage

- name: One tenant, a range, only the CSV
  tokenlabs.inference.usage_report:
    prometheus_url: http://prometheus.monitoring:9090
    first_day: "2026-11-15"
    last_day: "2026-11-30"
    tenants: [acme]
    tiers: "{{ tokenlabs_tiers }}"
    prices: "{{ tokenlabs_tier_prices }}"
    output_dir: /tmp/usage
    formats: [csv]
"""

RETURN = r"""
period:
  description: The period reported (C(from), C(to), C(days), C(label)).
  returned: success
  type: dict
tenants:
  description:
    - One row per tenant, by total tokens; keys C(tenant), C(tier), C(requests), C(input_tokens), C(output_tokens),
      C(total_tokens), C(throttled_requests), C(days_active), C(peak_tokens_per_minute), C(tier_tokens_per_minute),
      C(peak_percent_of_quota), C(fee), C(token_cost), C(cost) (decimal strings), C(currency).
  returned: success
  type: list
  elements: dict
totals:
  description: Sums over all rows (requests, input/output/total tokens, throttled requests, cost).
  returned: success
  type: dict
files:
  description: Format -> path of each file written (empty in check mode).
  returned: success
  type: dict
summary:
  description: One line for the job log.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.run import ARG_SPEC, run


def main():
    run(AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
