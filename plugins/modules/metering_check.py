#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: metering_check
short_description: Compare, per model and period, the tokens the gateway counted with the tokens the engines report
version_added: 0.2.0
description:
  - Reads from Prometheus, per model, the tokens and requests the Envoy AI Gateway counted
    (C(gen_ai_client_token_usage), C(gen_ai_server_request_duration_seconds), label C(gen_ai_request_model)) and the
    tokens and requests the engines report (vLLM C(vllm:prompt_tokens_total) + C(vllm:generation_tokens_total),
    C(vllm:request_success_total); SGLang's C(sglang:) equivalents; label C(model_name)).
  - Flags a model whose gap is beyond O(threshold_percent) of the engines' tokens, with its likely cause - traffic
    bypassing the gateway (the engines served requests the gateway never saw), streams without usage (the gateway
    saw the requests but counted fewer tokens - the known upstream undercount), or the gateway counting more
    (an engine not scraped).
  - Refuses a malformed period, a period in the future, a Prometheus that does not answer and a period without any
    token counts.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.usage_source
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
    details: Runs on the controller.
options:
  threshold_percent:
    description: A gap beyond this percentage of the engines' tokens is flagged.
    type: float
    default: 2.0
  fail_on_gap:
    description: Fail the task when a gap is flagged (so AWX notifications fire); otherwise the gaps are returned.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check November's metering
  tokenlabs.inference.metering_check:
    prometheus_url: http://prometheus.monitoring:9090
    month: "2026-11"
    threshold_percent: 2
"""

RETURN = r"""
period:
  description: The period checked (C(from), C(to), C(days), C(label)).
  returned: success
  type: dict
models:
  description:
    - Per model C(model), C(gateway_tokens), C(engine_tokens), C(gateway_requests), C(engine_requests),
      C(gap_tokens) (engines minus gateway), C(gap_percent) (of the engines' tokens), C(flagged), C(likely_cause).
  returned: success
  type: list
  elements: dict
gaps:
  description: The flagged rows of RV(models).
  returned: success
  type: list
  elements: dict
summary:
  description: One line for the job log.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.metering import ARG_SPEC, run


def main():
    run(AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
