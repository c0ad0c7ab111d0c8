#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: capacity_plan
short_description: How far the sold token quotas oversubscribe the throughput the benchmark measured
version_added: 0.2.0
description:
  - Sums the tenants' quotas (each tenant's tier C(tokens_per_minute)) and compares them with the capacity the newest
    benchmark record measured (the benchmark job's JSON, input plus output tokens per minute at each model's best
    level) for the platform, per node and per model (as if every tenant sent to that model).
  - Warns past O(warn_factor); fails past O(limit_factor) when it is set. Without a benchmark record it reports the
    sold quota only.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.tenant_secrets
  - tokenlabs.inference.k8s_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads; the same in check mode.
  diff_mode:
    support: none
    details: Nothing is changed.
  platform:
    platforms: posix
    support: full
    details: Runs on the controller, where the benchmark records are.
options:
  tiers:
    description: The tier table (C(tokenlabs_tiers)).
    type: dict
    required: true
  tenant_tiers:
    description:
      - The tier of every tenant (one entry per tenant). Omitted, the tenant Secrets of O(kuadrant_namespace) are
        read (one metadata-only LIST, no key is read). Tiers not in O(tiers) are counted apart, not sold.
    type: list
    elements: str
  results_dir:
    description: Directory of the benchmark records (C(tokenlabs_benchmark_results_dir)); the newest is used.
    type: path
  record:
    description: A benchmark record to use instead of the newest in O(results_dir).
    type: path
  warn_factor:
    description: Warn when the sold tokens per minute exceed the measured capacity of the platform by more than this factor.
    type: float
    default: 2.0
  limit_factor:
    description: Fail when the factor exceeds this. Unset, the plan never fails.
    type: float
"""

EXAMPLES = r"""
- name: Plan the capacity for the tenants of kuadrant-system
  tokenlabs.inference.capacity_plan:
    kuadrant_namespace: kuadrant-system
    tiers: "{{ tokenlabs_tiers }}"
    results_dir: "{{ tokenlabs_benchmark_results_dir }}"
    warn_factor: 2
"""

RETURN = r"""
sold_tokens_per_minute:
  description: The sum of the tenants' C(tokens_per_minute).
  returned: success
  type: int
tenants_per_tier:
  description: Tier -> number of tenants.
  returned: success
  type: dict
tenants_without_a_known_tier:
  description: Tenants whose tier is not in O(tiers) (not counted as sold).
  returned: success
  type: int
capacity_tokens_per_minute:
  description: The platform's measured capacity (null without a benchmark record).
  returned: success
  type: int
oversubscription:
  description: Sold over measured capacity (null without a benchmark record).
  returned: success
  type: float
models:
  description: Per model C(name), C(id), C(node), C(capacity_tokens_per_minute), C(oversubscription_if_all_here).
  returned: success
  type: list
  elements: dict
nodes:
  description: Per node C(node), C(models), C(capacity_tokens_per_minute), C(oversubscription_if_all_here).
  returned: success
  type: list
  elements: dict
record:
  description: The benchmark record used, or null.
  returned: success
  type: str
summary:
  description: One line for the job log.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs.capacity_plan import ARG_SPEC, run


def main():
    run(AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
