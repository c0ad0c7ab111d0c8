# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The tenant-Secret contract: what makes a Secret a tenant, for the tenant modules and the tier policies alike.

Private to this collection (not an API for other collections; it may change
without notice). No I/O (tests/unit/plugins/module_utils/_tenants/test_contract.py).

A tenant is a Secret in the Kuadrant namespace carrying the operator's selector
labels (``tokenlabs_tenant_selector``) plus the label Authorino watches
(``authorino.kuadrant.io/managed-by=authorino``, Authorino's default
``--secret-label-selector``). The AuthPolicy's apiKey selector and the tenant
modules' LIST both use :func:`tenant_labels`, so they select the same Secrets.
Authorino publishes the Secret's annotations as ``auth.identity.metadata.annotations``:
the tier (``kuadrant.io/groups``), the quota counter key
(``secret.kuadrant.io/user-id``) and the expiry annotations are read there by the
AuthPolicy's predicates. Every literal of this contract is defined here once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# --- Labels ---------------------------------------------------------------------------
# The label Authorino's Secret watch requires (its default --secret-label-selector).
AUTHORINO_WATCH_LABEL = "authorino.kuadrant.io/managed-by"
AUTHORINO_WATCH_VALUE = "authorino"
# Also an annotation on tenant Secrets (the tenant's name) and a label on key hand-overs.
TENANT_KEY = "tokenlabs.io/tenant"
HANDOVER_LABEL = "tokenlabs.io/key-handover"

# --- Annotations read by the gateway (Authorino identity -> AuthPolicy predicates) ---------
GROUPS_ANNOTATION = "kuadrant.io/groups"              # the tier
USER_ID_ANNOTATION = "secret.kuadrant.io/user-id"     # the quota counter key
EXPIRES_ANNOTATION = "tokenlabs.io/expires-at"        # the tenant's expiry (RFC 3339)
RETIRES_ANNOTATION = "tokenlabs.io/retires-at"        # an old key's end after a rotation (RFC 3339)
# Each of these ends a key's validity at the gateway.
EXPIRY_ANNOTATIONS = (EXPIRES_ANNOTATION, RETIRES_ANNOTATION)

# --- Annotations for operators and the modules ---------------------------------------
FINGERPRINT_ANNOTATION = "tokenlabs.io/key-fingerprint"
CREATED_ANNOTATION = "tokenlabs.io/created-at"
DISPLAY_NAME_ANNOTATION = "tokenlabs.io/display-name"
CONTACT_ANNOTATION = "tokenlabs.io/contact"
# Rotations so far, counting the first key as 1; the inventory rotates by raising it.
KEY_GENERATION_ANNOTATION = "tokenlabs.io/key-generation"
OWNER_ANNOTATION = "tokenlabs.io/owner"
INVENTORY = "inventory"
RUNBOOK = "runbook"
# On a key hand-over Secret.
HANDOVER_EXPIRES_ANNOTATION = "tokenlabs.io/handover-expires-at"
KUADRANT_NAMESPACE_ANNOTATION = "tokenlabs.io/kuadrant-namespace"

# --- On the AuthPolicy and its AuthConfigs -----------------------------------------------
# The tier names the policies were rendered from: the tiers a tenant may have.
TIERS_ANNOTATION = "tokenlabs.io/tiers"
# Touched on the AuthConfigs after tenant changes so that Authorino re-reads the Secrets.
REFRESH_ANNOTATION = "tokenlabs.io/tenants-revision"

# --- Secret names -------------------------------------------------------------------------
SECRET_NAME_PREFIX = "tenant-"
RETIRED_INFIX = ".retired-"  # a dot can never appear in a tenant name, so no clash


def secrets_path(namespace, name=None):
    """The API path of the Secrets in ``namespace`` (or of one of them)."""
    base = "/api/v1/namespaces/%s/secrets" % namespace
    return base + "/" + name if name else base


def tenant_labels(selector):
    """The labels every tenant Secret carries: the operator's selector plus Authorino's watch label."""
    labels = {AUTHORINO_WATCH_LABEL: AUTHORINO_WATCH_VALUE}
    labels.update(selector or {})
    return labels


def tenant_label_selector(selector):
    """``tenant_labels`` as a LIST label selector (``a=b,c=d``, sorted): which Secrets are tenants."""
    labels = tenant_labels(selector)
    return ",".join("%s=%s" % (key, labels[key]) for key in sorted(labels))


def api_key_selector(selector):
    """The AuthPolicy's apiKey selector: the same labels as :func:`tenant_label_selector`."""
    return {"matchLabels": tenant_labels(selector)}


def annotations_of(obj):
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


def tenant_tiers(secret):
    """The tier names a tenant Secret carries (``kuadrant.io/groups``, comma-separated)."""
    return [g for g in (annotations_of(secret).get(GROUPS_ANNOTATION) or "").split(",") if g]


def policy_tiers(auth_policy):
    """The tiers an AuthPolicy accepts (its ``tokenlabs.io/tiers``), or None if unknown."""
    annotations = annotations_of(auth_policy)
    if TIERS_ANNOTATION not in annotations:
        return None
    return set(t for t in annotations[TIERS_ANNOTATION].split(",") if t)


def tier_problem(tier, tiers, where):
    """The one tier rule: a tenant's tier is exactly one tier of the table. A message, or None."""
    if tier in tiers:
        return None
    return "%s: tier %r is not a known tier; allowed tiers: %s" % (where, tier, ", ".join(sorted(tiers)))
