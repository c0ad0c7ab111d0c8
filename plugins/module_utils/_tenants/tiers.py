# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Which tiers a tenant may have: the ones the deployed AuthPolicy accepts.

Private to this collection (not an API for other collections; it may change
without notice).

The tiers role (module tier_policies) records the tier table's names on the
AuthPolicy (annotation ``tokenlabs.io/tiers``), and the AuthPolicy refuses any
key whose tier is not among them. The tenant modules read that annotation: with
``tiers`` omitted it is the list of valid tiers; with ``tiers`` given, a
different list is an error (a stale inventory or AWX job would otherwise give a
tenant a tier the gateway refuses). In check mode a difference is only a warning,
because an earlier step of the real run (the tiers role) deploys the new table.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import TIERS_ANNOTATION, policy_tiers


def auth_policy_path(namespace, name):
    return "/apis/kuadrant.io/v1/namespaces/%s/authpolicies/%s" % (namespace, name)


def deployed_tiers(api, namespace, name):
    """``(sorted tier names or None, why None)`` from the AuthPolicy ``namespace/name``."""
    where = "AuthPolicy %s/%s" % (namespace, name)
    try:
        policy = api.get(auth_policy_path(namespace, name), missing_ok=True)
    except ApiError as err:
        if err.status == 403:
            return None, "reading %s is forbidden (grant get on authpolicies.kuadrant.io there)" % where
        raise
    if policy is None:
        return None, "%s does not exist (the tiers role creates it)" % where
    tiers = policy_tiers(policy)
    if not tiers:
        return None, "%s has no %s annotation (it was not made by tier_policies)" % (where, TIERS_ANNOTATION)
    return sorted(tiers), None


def resolve_tiers(given, deployed, why_not, where, check_mode):
    """The tiers to validate tenants against: ``(tiers or None, errors, warnings)``."""
    if given is None:
        if deployed is None:
            return None, ["tiers were not given and cannot be read from the cluster: %s. Pass tiers (the tier table "
                          "tokenlabs_tiers) or deploy the tier policies first (site.yml --tags tiers)" % why_not], []
        return deployed, [], []
    if deployed is None:
        warnings = ["the given tiers could not be checked against the gateway: %s" % why_not] if "forbidden" in (
            why_not or "") else []
        return given, [], warnings
    if set(given) == set(deployed):
        return given, [], []
    problem = ("tiers %s differ from the tiers the gateway accepts (%s, annotation %s: %s)"
               % (", ".join(sorted(given)), where, TIERS_ANNOTATION, ", ".join(deployed)))
    if check_mode:
        return given, [], [problem + "; check mode uses the given tiers (the tiers role deploys them first in a "
                                     "real run)"]
    return None, [problem + ": a tenant with a tier the AuthPolicy does not list is refused at the gateway. Apply "
                            "the tier table first (site.yml --tags tiers), or omit tiers to use the deployed ones"], []
