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


def served(model):
    """False for a model the catalog scales to zero (``replicas: 0``): nothing answers for it."""
    return model.get("replicas", 1) not in (0, "0")


def select_models(catalog, wanted):
    """(the catalog entries named in ``wanted`` by name or id, in catalog order, errors).

    Empty ``wanted``: every served model (``replicas: 0`` ones are left out); naming a model with
    ``replicas: 0`` is an error.
    """
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
        chosen = [m for m in catalog if served(m)]
        if not chosen:
            return [], ["catalog: every model has replicas 0; nothing is served"]
        return chosen, []
    chosen = []
    for entry in wanted:
        if entry not in known:
            errors.append("models: %r is not in the model catalog; allowed (name or id): %s"
                          % (entry, ", ".join(sorted(m["name"] for m in catalog))))
        elif not served(known[entry]):
            errors.append("models: %r has replicas 0 in the model catalog (nothing serves it); allowed: models "
                          "with replicas >= 1" % entry)
        elif known[entry] not in chosen:
            chosen.append(known[entry])
    if errors:
        return [], errors
    return [m for m in catalog if m in chosen], []
