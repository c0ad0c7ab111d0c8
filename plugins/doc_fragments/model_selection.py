# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The models an operate job works on: shared by model_benchmark and accuracy_baseline."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Matches MODEL_SELECTION_ARG_SPEC in plugins/module_utils/_jobs/model_selection.py.
    DOCUMENTATION = r"""
options:
  catalog:
    description:
      - The model catalog (C(tokenlabs_models)); every entry needs C(id) (the served model id) and C(name) (its
        short name). The other fields (C(engine), C(image), C(node), C(gpu_memory_share)) are recorded with the
        results.
    type: list
    elements: dict
    required: true
  models:
    description:
      - Names or ids of the catalog's models to work on, in any order (they run in catalog order); empty means
        every served model (those with C(replicas) 0 are left out). A name or id that is not in the catalog, or of
        a model with C(replicas) 0, is refused before anything is sent.
    type: list
    elements: str
    default: []
"""
