#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: accuracy_baseline
short_description: Check accuracy baselines, compare an lm-eval run with them, or record new ones
version_added: 0.1.0
description:
  - Reads one baseline file per model (C(<baseline_dir>/<model name>.json)) and refuses missing files, files of
    another model or task, and scores outside (0, 1] — a baseline of zeros accepts any model and is refused.
  - With O(results_dir), reads the newest lm-eval C(results_*.json) under C(<results_dir>/<model name>/) and
    compares each baseline metric with the run's score. A score outside O(tolerance_percent) of the baseline value
    (relative to it) fails the module with a per-metric table; so does a run over a different number of samples.
  - With O(record=true), writes the run's scores as the new baseline of each model instead (then commit the files).
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.model_selection
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Checks the baselines (and compares when results are given); never writes a baseline.
  diff_mode:
    support: none
    details: Results go to files and return values; there is no object to diff.
  platform:
    platforms: posix
    support: full
    details: Runs on the controller (delegate or run the play on localhost).
options:
  baseline_dir:
    description: Directory of the baseline files, kept in the repository (not inside an inventory directory).
    type: path
    required: true
  results_dir:
    description: lm-eval's output, one C(--output_path) directory per model name. Omit to only check the baselines.
    type: path
  task:
    description: The lm-eval task whose scores are compared (C(ifeval), or a task that includes it).
    type: str
    default: ifeval
  tolerance_percent:
    description: Allowed distance of a score from its baseline, in percent of the baseline value.
    type: raw
    default: 5
  samples:
    description: The number of prompts the run will evaluate (C(--limit)); checked against the baselines' C(samples).
    type: raw
  record:
    description:
      - Write the run's scores in O(results_dir) as the new baselines instead of comparing.
      - Without O(results_dir) only the input is checked (the step before a recording run).
    type: bool
    default: false
  harness:
    description: The harness name and version recorded in new baselines.
    type: str
    default: lm-eval
"""

EXAMPLES = r"""
- name: Refuse missing or zero baselines before sending anything
  tokenlabs.inference.accuracy_baseline:
    catalog: "{{ tokenlabs_models }}"
    baseline_dir: "{{ tokenlabs_accuracy_baseline_dir }}"

- name: Compare the run with the baselines
  tokenlabs.inference.accuracy_baseline:
    catalog: "{{ tokenlabs_models }}"
    baseline_dir: "{{ tokenlabs_accuracy_baseline_dir }}"
    results_dir: /tmp/accuracy-run
    tolerance_percent: 5
"""

RETURN = r"""
selected:
  description: The chosen models (C(id), C(name)), in catalog order.
  returned: always
  type: list
  elements: dict
models:
  description: Per model C(id), C(name), C(baseline) (file), C(rows) (metric, baseline, low, high, score, status)
    and C(passed).
  returned: always
  type: list
  elements: dict
table:
  description: The per-metric tables as lines of text.
  returned: when results were compared
  type: list
  elements: str
baselines:
  description: Record mode, the content of each baseline file written (path -> baseline), to commit.
  returned: record mode
  type: dict
recorded:
  description: Baseline files written (record mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs.accuracy_run import ARG_SPEC, run


def main():
    run(AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
