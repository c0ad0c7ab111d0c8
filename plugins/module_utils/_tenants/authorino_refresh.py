# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Make Authorino re-read tenant Secrets after a change it would otherwise miss.

Private to this collection (not an API for other collections).

Authorino v0.24.0 and v0.26.1 (``pkg/evaluators/identity/api_key.go``
``AddK8sSecretBasedIdentity``) ignores an update of a watched Secret whose
``data.api_key`` is unchanged ("api key unchanged"): a tier change
(``kuadrant.io/groups``) or an expiry change (``tokenlabs.io/expires-at``) stays
invisible at the gateway until the AuthConfig is translated again.  Authorino
re-translates an AuthConfig on every update event of it (its reconciler has no
generation predicate) and then reloads the API-key Secrets from its cache, so
after the tenant writes we touch one annotation of each AuthConfig that
authenticates these tenants.  The old evaluator keeps answering until the new
one replaces it, so the key is never refused in between; the tenant's key does
not change.  The same re-read also settles a rotation with a grace period (old
and new key then live in two Secrets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import REFRESH_ANNOTATION, tenant_labels

AUTHCONFIG_GROUP_VERSION = "authorino.kuadrant.io/v1beta3"


def authconfigs_path(namespace, name=None):
    base = "/apis/%s/namespaces/%s/authconfigs" % (AUTHCONFIG_GROUP_VERSION, namespace)
    return base + "/" + name if name else base


def authenticates_tenants(authconfig, selector):
    """True when an apiKey identity of ``authconfig`` selects Secrets carrying the tenant labels.

    A tenant Secret carries the contract's ``tenant_labels``; an apiKey
    selector whose ``matchLabels`` are all among those labels (and that uses no
    ``matchExpressions``) loads the tenants.
    """
    labels = tenant_labels(selector)
    for identity in ((authconfig.get("spec") or {}).get("authentication") or {}).values():
        api_key = (identity or {}).get("apiKey")
        if not api_key:
            continue
        chosen = api_key.get("selector") or {}
        match = chosen.get("matchLabels") or {}
        if match and not chosen.get("matchExpressions") and all(labels.get(k) == v for k, v in match.items()):
            return True
    return False


def refresh(api, namespace, selector, revision):
    """Touch the tenants' AuthConfigs in ``namespace``; returns what happened (for the module result).

    ``{"authconfigs": [names touched], "skipped": reason or None}``.  No
    Authorino CRD (nothing to refresh) and no permission are reported, not
    raised: the tenant writes already succeeded.
    """
    try:
        items = api.list(authconfigs_path(namespace))
    except ApiError as err:
        if err.status == 404:
            return {"authconfigs": [], "skipped": "no AuthConfig API (%s) is served" % AUTHCONFIG_GROUP_VERSION}
        if err.status == 403:
            return {"authconfigs": [], "skipped": "not allowed to list AuthConfigs in namespace %s" % namespace}
        raise
    touched = []
    problems = []
    for item in sorted(items, key=lambda i: i["metadata"]["name"]):
        if not authenticates_tenants(item, selector):
            continue
        name = item["metadata"]["name"]
        try:
            api.merge_patch(authconfigs_path(namespace, name),
                            {"metadata": {"annotations": {REFRESH_ANNOTATION: revision}}})
        except ApiError as err:
            if err.status not in (403, 404):
                raise
            problems.append("%s: %s" % (name, err))
            continue
        touched.append(name)
    return {"authconfigs": touched, "skipped": "; ".join(problems) or None}
