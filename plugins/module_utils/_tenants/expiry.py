# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Keys that stop working soon: tenants whose expiry, and rotations whose grace period, ends within a window.

Private to this collection (not an API for other collections; it may change
without notice). No I/O; reads the tenant views of :func:`.secret.describe_tenant`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation


def ending_soon(views, now, within_seconds):
    """``[{tenant, kind, secret, fingerprint, at, days_left, line}]``, soonest first: a tenant's expiry (``kind``
    ``tenant expires``) or a previous key's end after a rotation (``rotation grace ends``) between ``now`` and
    ``now + within_seconds``. Already expired ones are left out (the report shows them as expired)."""
    found = []
    for view in views:
        moments = [("tenant expires", view.get("secret"), view.get("fingerprint"), view.get("expires_at"))]
        for retired in ((view.get("rotation") or {}).get("retired_keys") or []):
            moments.append(("rotation grace ends", retired.get("secret"), retired.get("fingerprint"),
                            retired.get("retires_at")))
        for kind, secret, fingerprint, at in moments:
            moment = validation.parse_rfc3339(at) if at else None
            if moment is None:
                continue
            left = (moment - now).total_seconds()
            if 0 < left <= within_seconds:
                days = round(left / 86400.0, 1)
                line = "%s: %s %s (in %s days; %s, %s)" % (view["name"], kind, at, days, secret, fingerprint)
                found.append({"tenant": view["name"], "kind": kind, "secret": secret, "fingerprint": fingerprint,
                              "at": at, "days_left": days, "line": line})
    found.sort(key=lambda item: (validation.parse_rfc3339(item["at"]), item["tenant"]))
    return found
