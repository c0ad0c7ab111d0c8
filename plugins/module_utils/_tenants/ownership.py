# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Who manages a tenant: the inventory (module ``tenants``) or the runbook (module ``tenant``).

Private to this collection (not an API for other collections).

Each tenant Secret records its owner in the annotation ``tokenlabs.io/owner``.
The other path never changes it silently: ``tenants`` refuses a listed tenant
the runbook owns, ``tenant`` refuses to change an inventory tenant, unless the
request takes it over explicitly (``take_over``). A Secret without an owner
(made with ``kubectl``, or before owners existed) is adopted by the first module
that manages it. Prune only ever removes inventory tenants.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import INVENTORY, OWNER_ANNOTATION, RUNBOOK

_FIX = {
    INVENTORY: ("it was onboarded with tenant.yml (or an AWX tenant job) and is managed there: remove it from "
                "tokenlabs_tenants, or set take_over: true on its entry to manage it from the inventory from now on"),
    RUNBOOK: ("it is declared in the inventory (tokenlabs_tenants) and managed by site.yml / tenants.yml: change "
              "it there, or pass take_over=true (tenant_take_over=true in tenant.yml / AWX) to manage it with the "
              "runbook from now on, and remove it from tokenlabs_tenants"),
}


def owner_of(secret):
    """The owner recorded on a tenant Secret, or None."""
    annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(OWNER_ANNOTATION) or None


def ownership_errors(specs, live, owner):
    """One error per desired tenant that the other owner manages and the request does not take over.

    ``live`` is a tenant_model.LiveIndex; ``owner`` the owner of this request.
    """
    errors = []
    for spec in specs:
        current = owner_of(live.main.get(spec.name))
        if current is None or current == owner or spec.take_over:
            continue
        errors.append("tenant %r is managed by the %s (annotation %s=%s), not the %s: %s"
                      % (spec.name, current, OWNER_ANNOTATION, current, owner, _FIX[owner]))
    return errors


def inventory_owned(live):
    """Tenants whose main Secret the inventory owns (the only ones prune may remove)."""
    return sorted(t for t, s in live.main.items() if owner_of(s) == INVENTORY)
