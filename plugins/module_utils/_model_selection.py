# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Which models of the catalog an operate job works on (model_benchmark, accuracy_baseline): one option spec.

Private to this collection (not an API for other collections; it may change
without notice). No I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The options of the model_selection doc fragment.
MODEL_SELECTION_ARG_SPEC = {
    "catalog": {"type": "list", "elements": "dict", "required": True},
    "models": {"type": "list", "elements": "str", "default": []},
}


def select_models(catalog, wanted):
    """(the catalog entries named in ``wanted`` by name or id - all when empty - in catalog order, errors)."""
    if not isinstance(catalog, list) or not catalog:
        return [], ["catalog: the model catalog (tokenlabs_models) is empty; nothing to run"]
    errors = []
    known = {}
    for index, model in enumerate(catalog):
        if not isinstance(model, dict) or not model.get("id") or not model.get("name"):
            errors.append("catalog[%d]: a model needs 'id' and 'name', got %r" % (index, model))
            continue
        known[model["name"]] = model
        known[model["id"]] = model
    if errors:
        return [], errors
    if not wanted:
        return list(catalog), []
    chosen = []
    for entry in wanted:
        if entry not in known:
            errors.append("models: %r is not in the model catalog; allowed (name or id): %s"
                          % (entry, ", ".join(sorted(m["name"] for m in catalog))))
        elif known[entry] not in chosen:
            chosen.append(known[entry])
    if errors:
        return [], errors
    return [m for m in catalog if m in chosen], []
