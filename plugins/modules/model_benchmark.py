#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: model_benchmark
short_description: Measure the served models' throughput, latency and cost per token through the gateway
version_added: 0.1.0
description:
  - Sends streamed chat completions (C(stream_options.include_usage)) to each chosen model of the catalog through
    the OpenAI-compatible gateway, at every combination of O(prompt_tokens), O(output_tokens) and O(concurrency),
    and measures time to first token, inter-token latency, prefill and decode tokens per second and requests per
    second. Token counts are the server's C(usage); an engine that reports no usage on streamed responses fails
    the model with a message saying so.
  - Computes the cost per million input and output tokens from a cost model (O(cost)).
  - Writes a JSON record, a Markdown summary and a PNG chart per run into O(results_dir), and compares the run with
    an earlier record (O(compare_with)); a prefill or decode throughput lower by more than O(regression_threshold)
    percent is a regression.
  - Every input is checked before any request is sent; each problem names the field, the value and what is
    allowed.
  - Runs on the controller with a Python that has C(httpx) and C(matplotlib) (the benchmark role's virtualenv).
    Validation and check mode need neither.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.model_selection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Validates the input and returns the plan (models, levels, requests); sends nothing and writes no file.
  diff_mode:
    support: none
    details: Results go to files and return values; there is no object to diff.
  platform:
    platforms: posix
    support: full
    details: Runs on the controller (delegate or run the play on localhost).
options:
  gateway_url:
    description: Base URL of the Gateway, such as C(http://inference.example.com) (without C(/v1)).
    type: str
    required: true
  host_header:
    description: C(Host) header to send, when O(gateway_url) is an address rather than the Gateway's hostname.
    type: str
  validate_certs:
    description: Verify the Gateway's TLS certificate.
    type: bool
    default: true
  api_key:
    description:
      - A tenant key the Gateway accepts (the benchmark role creates a temporary tenant). Required unless in
        check mode. Never returned or logged.
    type: str
  timeout:
    description: Seconds one request may take, from sending it to the end of its stream.
    type: float
    default: 600
  concurrency:
    description: Requests in flight, one level each (integers >= 1).
    type: list
    elements: raw
    default: [1, 2, 4, 8]
  prompt_tokens:
    description: Prompt lengths in tokens (approximate; the measured length is the server's C(usage.prompt_tokens)).
    type: list
    elements: raw
    default: [512]
  output_tokens:
    description: Output lengths in tokens (C(max_tokens); with C(ignore_eos) the engine produces exactly that many).
    type: list
    elements: raw
    default: [128]
  rounds:
    description: Requests per level are O(concurrency) times O(rounds).
    type: raw
    default: 4
  warmup_requests:
    description: Short requests per model before measuring (not counted).
    type: raw
    default: 1
  extra_body:
    description:
      - Fields added to every request body. C(ignore_eos) (vLLM, SGLang, TensorRT-LLM) makes every request produce
        O(output_tokens) tokens.
    type: dict
    default: {ignore_eos: true}
  cost:
    description:
      - The cost model. Cost per hour = C(hardware_price) / (C(amortisation_years) x 8760 x C(utilisation)) +
        C(power_draw_watts) / 1000 x C(electricity_price_per_kwh). Cost per 1M input tokens = cost per hour /
        (prefill tok/s x 3600 / 10^6), per 1M output tokens likewise with decode tok/s.
      - "Defaults: C(currency=USD), C(hardware_price=3999), C(amortisation_years=3), C(utilisation=1.0),
        C(power_draw_watts=200), C(electricity_price_per_kwh=0.10) (0.152 + 0.02 per hour, the reference
        deployment's inputs)."
    type: dict
    default: {}
  results_dir:
    description: Directory on the controller for the run's C(benchmark-<run_id>.json), C(.md) and C(.png).
    type: path
    required: true
  compare_with:
    description: C(latest) (the newest earlier record in O(results_dir)), C(none), or the path of a record.
    type: str
    default: latest
  regression_threshold:
    description: A throughput lower than the compared record's by more than this percentage is a regression.
    type: raw
    default: 10
  fail_on_regression:
    description: Fail (after writing the results) when the comparison finds a regression.
    type: bool
    default: true
notes:
  - Nothing of the API key appears in the results, the return values or the files.
seealso:
  - name: docs/benchmark.md
    description: Definitions of the figures and a worked cost example.
    link: https://github.com/tokenlabs/tokenlabs.inference/blob/main/docs/benchmark.md
"""

EXAMPLES = r"""
- name: Benchmark every model of the catalog
  tokenlabs.inference.model_benchmark:
    gateway_url: http://inference.token-labs.local
    api_key: "{{ benchmark_tenant.api_key }}"
    catalog: "{{ tokenlabs_models }}"
    concurrency: [1, 4, 16]
    prompt_tokens: [512, 2048]
    output_tokens: [128]
    results_dir: "{{ lookup('ansible.builtin.env', 'HOME') }}/.tokenlabs/benchmarks"
  vars:
    ansible_python_interpreter: "{{ tokenlabs_benchmark_venv }}/bin/python"

- name: Only check the input and show the plan
  tokenlabs.inference.model_benchmark:
    gateway_url: http://inference.token-labs.local
    catalog: "{{ tokenlabs_models }}"
    models: [llama-3-1-8b]
    results_dir: /tmp/benchmarks
  check_mode: true
"""

RETURN = r"""
run_id:
  description: The run's id (UTC time), part of the file names.
  returned: when load was sent
  type: str
  sample: 20261202T031500Z
files:
  description: Paths of the run's record (JSON), summary (Markdown) and chart (PNG).
  returned: when load was sent
  type: dict
  sample: {record: /home/op/.tokenlabs/benchmarks/benchmark-20261202T031500Z.json}
models:
  description:
    - Per model its catalog fields, C(levels) (per prompt/output/concurrency the figures C(ttft_ms), C(itl_ms)
      (mean, p50, p90, p99), C(prefill_tokens_per_s), C(decode_tokens_per_s), C(requests_per_s), costs), the
      C(headline) level and C(error) when it was not completed.
  returned: when load was sent
  type: list
  elements: dict
regressions:
  description: Figures lower than in the compared record by more than the threshold.
  returned: when load was sent
  type: list
  elements: dict
compared_with:
  description: Path of the record this run was compared with, or null.
  returned: when load was sent
  type: str
cost_per_hour:
  description: The cost model's C(hardware), C(electricity) and C(total) per hour.
  returned: always
  type: dict
plan:
  description: In check mode, per model the levels and the number of requests that would be sent.
  returned: check mode
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs.benchmark_run import ARG_SPEC, run


def main():
    run(AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
