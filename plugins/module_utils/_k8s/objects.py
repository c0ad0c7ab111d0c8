# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Kubernetes objects the platform roles build, and reading their conditions.

Private to this collection (not an API for other collections; it may change
without notice).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The recommended label naming who manages an object: this collection (on its own objects) or Helm.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "tokenlabs.inference"


def rollout_pending(deployment):
    """Why a Deployment's rollout is not complete (what ``kubectl rollout status`` waits for); [] when it is.

    ``Available=True`` alone is not enough: it means "at least replicas - maxUnavailable pods available", so a
    one-replica Deployment with ``maxUnavailable: 1`` (the model servers') is Available with no pod at all.
    """
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return ["rollout: generation %s not observed yet" % meta.get("generation")]
    problems = []
    updated, available, current = (status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0,
                                   status.get("replicas") or 0)
    if updated < want:
        problems.append("rollout: %d of %d replicas updated" % (updated, want))
    if current > updated:
        problems.append("rollout: %d old replicas still present" % (current - updated))
    if available < want:
        problems.append("rollout: %d of %d replicas available" % (available, want))
    return problems


def pending_conditions(resources, names, condition_type):
    """Objects among ``names`` whose condition ``condition_type`` is not "True".

    Returns name -> list of "Type=Status (Reason: message)" strings describing the
    object's current conditions, or ["object not found"], so a failed wait can say why.
    """
    by_name = {}
    for obj in resources or []:
        by_name[((obj or {}).get("metadata") or {}).get("name")] = obj
    pending = {}
    for name in names:
        obj = by_name.get(name)
        if obj is None:
            pending[name] = ["object not found"]
            continue
        if obj.get("kind") in ROUTE_KINDS:
            described = _route_pending(obj, condition_type)
            if described:
                pending[name] = described
            continue
        conditions = ((obj.get("status") or {}).get("conditions")) or []
        rollout = rollout_pending(obj) if obj.get("kind") == "Deployment" and condition_type == "Available" else []
        if not rollout and _true(conditions, condition_type):
            continue
        described = list(rollout) + [_describe(cond) for cond in conditions]
        pending[name] = described or ["no status conditions reported yet"]
    return pending


# Gateway API routes report their conditions per parent (Gateway), in status.parents[].conditions.
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")


def _true(conditions, condition_type):
    return any(c.get("type") == condition_type and str(c.get("status")) == "True" for c in conditions)


def _describe(cond):
    text = "%s=%s" % (cond.get("type"), cond.get("status"))
    if cond.get("reason") or cond.get("message"):
        text += " (%s: %s)" % (cond.get("reason", ""), cond.get("message", ""))
    return text


def _route_pending(route, condition_type):
    """[] when every parent (Gateway) the route names reports ``condition_type`` True, else what each says.

    Several controllers write entries for the same parent (Envoy Gateway its Accepted/ResolvedRefs, Kuadrant its
    ``kuadrant.io/...Affected``): a parent counts when any of its entries has the condition True."""
    entries = ((route.get("status") or {}).get("parents")) or []
    wanted = ((route.get("spec") or {}).get("parentRefs")) or []
    if not entries:
        return ["no parent (Gateway) has reported a status yet"]
    by_parent = {}
    for entry in entries:
        ref = entry.get("parentRef") or {}
        key = (ref.get("namespace"), ref.get("name"), ref.get("sectionName"))
        by_parent.setdefault(key, []).extend(entry.get("conditions") or [])
    described = []
    for key, conditions in by_parent.items():
        if not _true(conditions, condition_type):
            described.append("Gateway %s: %s" % (key[1], ", ".join(_describe(c) for c in conditions)
                                                 or "no conditions"))
    if len(by_parent) < len(wanted):
        described.append("%d of %d parents have reported" % (len(by_parent), len(wanted)))
    return described


def warning_events(events, names, limit=5):
    """Why named workloads are stuck, in the cluster's own words: their Warning events, newest first.

    ``events`` are core/v1 Events of the namespace; an event counts for ``name`` when it is about the object
    itself or about one it made (a Deployment's ReplicaSets ``<name>-<hash>`` and their pods). Returns
    name -> up to ``limit`` distinct "Reason: message" strings (the scheduler's ``Insufficient nvidia.com/gpu``,
    an admission refusal, a missing volume), so a failed wait says more than "not Available".
    """
    found = {}
    ordered = sorted(events or [], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or
                     ((e.get("metadata") or {}).get("creationTimestamp")) or "", reverse=True)
    for event in ordered:
        if event.get("type") != "Warning":
            continue
        involved = (event.get("involvedObject") or {}).get("name") or ""
        for name in names:
            if involved != name and not involved.startswith(name + "-"):
                continue
            text = "%s: %s" % (event.get("reason", ""), (event.get("message") or "").strip())
            bucket = found.setdefault(name, [])
            if text not in bucket and len(bucket) < limit:
                bucket.append(text)
    return found


def namespace_definition(name, part_of="token-labs"):
    """A Namespace labelled as part of the platform."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": part_of}}}


def helm_ownership_patch(name, api_version, kind, release, release_namespace, namespace=None):
    """Metadata-only patch that lets Helm adopt an existing object into ``release``."""
    metadata = {"name": name,
                "labels": {MANAGED_BY_LABEL: "Helm"},
                "annotations": {"meta.helm.sh/release-name": release,
                                "meta.helm.sh/release-namespace": release_namespace}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}
