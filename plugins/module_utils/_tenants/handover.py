# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Key hand-over Secrets: where a generated key waits for an operator when no key file can be kept.

Private to this collection (not an API for other collections; it may change
without notice).

An AWX job runs in a container: a key file written there is gone when the job
ends. With a hand-over namespace, every generated key is also written to a
Secret ``key-handover-<tenant>-<fingerprint>`` in that namespace (one only
operators can read), before the tenant Secret is written (so a key never exists
only in the tenant Secret) and deleted again if the tenant write fails. An
operator picks it up with playbooks/tenant_key_pickup.yml, which deletes it;
runs with the hand-over namespace remove hand-overs whose time is over.
The hand-over Secret carries none of the tenant selector labels: Authorino
never sees it as an API key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import timedelta

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.contract import (
    FINGERPRINT_ANNOTATION, HANDOVER_EXPIRES_ANNOTATION, HANDOVER_LABEL, KUADRANT_NAMESPACE_ANNOTATION, TENANT_KEY,
    secrets_path)

NAME_PREFIX = "key-handover-"


def handover_name(tenant, key):
    return "%s%s-%s" % (NAME_PREFIX, tenant, tenant_keys.fingerprint(key).rsplit(":", maxsplit=1)[-1][:12])


def render_handover(namespace, tenant, key, now, ttl_seconds, kuadrant_namespace):
    """The hand-over Secret of one generated key (``data``, never ``stringData``)."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {
            "name": handover_name(tenant, key), "namespace": namespace,
            "labels": {HANDOVER_LABEL: "true", TENANT_KEY: tenant},
            "annotations": {
                HANDOVER_EXPIRES_ANNOTATION: validation.format_time(now + timedelta(seconds=ttl_seconds)),
                FINGERPRINT_ANNOTATION: tenant_keys.fingerprint(key),
                KUADRANT_NAMESPACE_ANNOTATION: kuadrant_namespace,
            },
        },
        "data": {tenant_keys.KEY_FIELD: tenant_keys.encode_key(key)},
    }


class Handover(object):
    """Writes and removes hand-over Secrets in ``namespace`` for keys of tenants in ``kuadrant_namespace``."""

    def __init__(self, api, namespace, ttl_seconds, kuadrant_namespace, now):
        self.api = api
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.kuadrant_namespace = kuadrant_namespace
        self.now = now

    def put(self, tenant, key):
        """Write the hand-over of ``key``; returns ``namespace/name``. Raises ApiError."""
        body = render_handover(self.namespace, tenant, key, self.now, self.ttl_seconds, self.kuadrant_namespace)
        try:
            self.api.create(secrets_path(self.namespace), body)
        except ApiError as err:
            if err.status == 404 and err.details.get("kind") == "namespaces":
                raise ApiError(404, "NotFound", "the key hand-over namespace %s does not exist: site.yml creates it "
                               "(role tenant_manager_access, tokenlabs_key_handover_namespace); nothing of this "
                               "tenant was written" % self.namespace, "POST", secrets_path(self.namespace))
            if err.status != 409:  # 409: this very key was handed over by an interrupted run already
                raise
        return "%s/%s" % (self.namespace, body["metadata"]["name"])

    def withdraw(self, tenant, key):
        """Remove the hand-over of a key that never went live."""
        self.api.delete(secrets_path(self.namespace, handover_name(tenant, key)), missing_ok=True)

    def remove_expired(self):
        """Delete hand-overs whose time is over; returns their names."""
        removed = []
        for secret in self.api.list(secrets_path(self.namespace), label_selector=HANDOVER_LABEL + "=true",
                                    metadata_only=True):
            meta = secret.get("metadata") or {}
            moment = validation.parse_rfc3339((meta.get("annotations") or {}).get(HANDOVER_EXPIRES_ANNOTATION) or "")
            if moment is None or moment <= self.now:
                self.api.delete(secrets_path(self.namespace, meta["name"]), missing_ok=True)
                removed.append(meta["name"])
        return sorted(removed)


def new_keys_report(key_files, handovers, handover_ttl, shown=5):
    """Where a run's new keys went, as a few lines for the job log (names only, never a key).

    ``key_files`` maps tenant -> key file, ``handovers`` tenant -> ``namespace/secret``. One line per
    destination with the count, the place and the first ``shown`` tenant names, however many tenants
    the run onboarded: a job with ten thousand new keys prints two lines, not ten thousand.
    """
    def names(mapping):
        listed = sorted(mapping)
        more = len(listed) - shown
        return ", ".join(listed[:shown]) + (" and %d more" % more if more > 0 else "")

    lines = []
    if key_files:
        directories = sorted(set(path.rsplit("/", 1)[0] if "/" in path else "." for path in key_files.values()))
        lines.append("%d new key%s written (mode 0600, one <tenant>.key each) to %s: %s"
                     % (len(key_files), "" if len(key_files) == 1 else "s", ", ".join(directories), names(key_files)))
    if handovers:
        namespaces = sorted(set(ref.split("/", 1)[0] for ref in handovers.values()))
        lines.append("%d new key%s wait%s in hand-over Secrets (namespace %s) for %s: %s. Pick one up with: "
                     "ansible-playbook tokenlabs.inference.tenant_key_pickup -e tenant_name=<name> "
                     "-e tenant_key_file=<file>"
                     % (len(handovers), "" if len(handovers) == 1 else "s", "s" if len(handovers) == 1 else "",
                        ", ".join(namespaces), handover_ttl, names(handovers)))
    return lines
