# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The tenant Secret: its shape, reading live Secrets, rendering new ones.

A tenant is a Secret ``tenant-<name>`` in the Kuadrant namespace that Authorino
authenticates (see tokenlabs.inference.tenant). Rotation with a grace period
copies the live base64 key verbatim into a retired Secret.

Private to this collection (not an API for other collections; it may change
without notice). No I/O: everything here is unit-tested directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.keys import (
    KEY_FIELD, encode_key, fingerprint, live_fingerprint, live_key_digest)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import (
    CONTACT_ANNOTATION, CREATED_ANNOTATION, DISPLAY_NAME_ANNOTATION, EXPIRES_ANNOTATION, FINGERPRINT_ANNOTATION,
    GROUPS_ANNOTATION, KEY_GENERATION_ANNOTATION, OWNER_ANNOTATION, RETIRED_INFIX, RETIRES_ANNOTATION,
    SECRET_NAME_PREFIX, TENANT_KEY, USER_ID_ANNOTATION, tenant_labels)
from ansible_collections.tokenlabs.inference.plugins.module_utils._validation import parse_rfc3339


class TenantError(Exception):
    """Invalid input or state; ``str()`` is safe to show (never contains a key)."""


def secret_name(tenant):
    return SECRET_NAME_PREFIX + tenant


def retired_secret_name(tenant, old_fingerprint):
    return "%s%s%s" % (secret_name(tenant), RETIRED_INFIX, old_fingerprint.split(":")[-1][:12])


def secret_meta(secret):
    return secret.get("metadata") or {}


def tenant_of(secret):
    """(tenant name, is_retired) of a live Secret, or (None, False) if it is no tenant Secret."""
    meta = secret_meta(secret)
    annotations = meta.get("annotations") or {}
    name = meta.get("name") or ""
    retired = RETIRES_ANNOTATION in annotations or RETIRED_INFIX in name
    tenant = annotations.get(TENANT_KEY)
    if not tenant:
        base = name.split(RETIRED_INFIX)[0] if retired else name
        tenant = base[len(SECRET_NAME_PREFIX):] if base.startswith(SECRET_NAME_PREFIX) else base
    return tenant, retired


class LiveIndex(object):
    """Live tenant Secrets, indexed by tenant name."""

    def __init__(self, secrets_list):
        self.main = {}      # tenant -> Secret named tenant-<name>
        self.other = {}     # tenant -> Secret with the selector but another name (not managed by us)
        self.retired = {}   # tenant -> [retired Secrets]
        self.by_secret = {}
        for secret in secrets_list:
            name = secret_meta(secret).get("name")
            self.by_secret[name] = secret
            tenant, retired = tenant_of(secret)
            if retired:
                self.retired.setdefault(tenant, []).append(secret)
            elif name == secret_name(tenant):
                self.main[tenant] = secret
            else:
                self.other[tenant] = secret

    def all_tenants(self):
        return sorted(set(self.main) | set(self.other))

    def managed(self):
        """Tenants this collection manages (main Secret carries our tenant annotation)."""
        return sorted(t for t, s in self.main.items() if (secret_meta(s).get("annotations") or {}).get(TENANT_KEY))

    def key_owners(self):
        """key digest -> set of tenant names (every Secret, retired included)."""
        out = {}
        for secret in self.by_secret.values():
            key_digest = live_key_digest(secret)
            if key_digest:
                out.setdefault(key_digest, set()).add(tenant_of(secret)[0])
        return out


def summarize(secret, now=None):
    """Public view of a tenant Secret (never the key)."""
    if secret is None:
        return None
    meta = secret_meta(secret)
    annotations = meta.get("annotations") or {}
    tenant, retired = tenant_of(secret)
    expires = annotations.get(EXPIRES_ANNOTATION)
    view = {
        "name": tenant,
        "secret": meta.get("name"),
        "tier": annotations.get(GROUPS_ANNOTATION),
        "user_id": annotations.get(USER_ID_ANNOTATION),
        "fingerprint": annotations.get(FINGERPRINT_ANNOTATION) or live_fingerprint(secret),
        "created_at": annotations.get(CREATED_ANNOTATION) or meta.get("creationTimestamp"),
        "display_name": annotations.get(DISPLAY_NAME_ANNOTATION),
        "contact": annotations.get(CONTACT_ANNOTATION),
        "expires_at": expires,
        "managed": bool(annotations.get(TENANT_KEY)),
        "owner": annotations.get(OWNER_ANNOTATION),
        "key_generation": generation(annotations),
    }
    if now is not None:
        moment = parse_rfc3339(expires) if expires else None
        view["expired"] = bool(moment and moment <= now)
    if retired:
        view["retires_at"] = annotations.get(RETIRES_ANNOTATION)
    return view


def generation(annotations):
    try:
        return int(annotations.get(KEY_GENERATION_ANNOTATION) or 1)
    except ValueError:
        return 1


def describe_tenant(live, tenant, now):
    """tenant_info's view: main Secret summary plus the pending rotation state."""
    main = live.main.get(tenant) or live.other.get(tenant)
    if main is None:
        return None
    view = summarize(main, now)
    retired = []
    for secret in sorted(live.retired.get(tenant, []), key=lambda s: secret_meta(s).get("name")):
        ann = secret_meta(secret).get("annotations") or {}
        moment = parse_rfc3339(ann.get(RETIRES_ANNOTATION) or "")
        retired.append({"secret": secret_meta(secret).get("name"),
                        "fingerprint": ann.get(FINGERPRINT_ANNOTATION) or live_fingerprint(secret),
                        "retires_at": ann.get(RETIRES_ANNOTATION),
                        "expired": bool(moment is None or moment <= now)})
    view["rotation"] = {"pending": any(not r["expired"] for r in retired), "retired_keys": retired}
    return view


def render_secret(namespace, selector, tenant, tier, user_id, key, created_at, display_name=None,
                  contact=None, expires_at=None, owner=None, generation=1):
    """The complete tenant Secret (``data``, never ``stringData``)."""
    annotations = {
        GROUPS_ANNOTATION: tier,
        USER_ID_ANNOTATION: user_id,
        TENANT_KEY: tenant,
        FINGERPRINT_ANNOTATION: fingerprint(key),
        CREATED_ANNOTATION: created_at,
        KEY_GENERATION_ANNOTATION: str(generation),
    }
    if owner:
        annotations[OWNER_ANNOTATION] = owner
    for annotation, value in ((DISPLAY_NAME_ANNOTATION, display_name), (CONTACT_ANNOTATION, contact),
                              (EXPIRES_ANNOTATION, expires_at)):
        if value:
            annotations[annotation] = value
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(tenant), "namespace": namespace,
                     "labels": tenant_labels(selector), "annotations": annotations},
        "type": "Opaque",
        "data": {KEY_FIELD: encode_key(key)},
    }


def render_retired(namespace, selector, tenant, main, retires_at):
    """A copy of the current key of ``main`` that keeps working until ``retires_at``."""
    meta = secret_meta(main)
    annotations = meta.get("annotations") or {}
    old_fp = live_fingerprint(main) or annotations.get(FINGERPRINT_ANNOTATION) or "sha256:unknown"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": retired_secret_name(tenant, old_fp),
            "namespace": namespace,
            "labels": tenant_labels(selector),
            "annotations": {
                GROUPS_ANNOTATION: annotations.get(GROUPS_ANNOTATION, ""),
                USER_ID_ANNOTATION: annotations.get(USER_ID_ANNOTATION, ""),
                TENANT_KEY: tenant,
                FINGERPRINT_ANNOTATION: old_fp,
                CREATED_ANNOTATION: annotations.get(CREATED_ANNOTATION) or meta.get("creationTimestamp") or "",
                RETIRES_ANNOTATION: retires_at,
            },
        },
        "type": "Opaque",
        "data": {KEY_FIELD: (main.get("data") or {}).get(KEY_FIELD, "")},
    }
