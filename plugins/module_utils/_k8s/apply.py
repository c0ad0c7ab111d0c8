# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Server-side apply of a list of objects, writing only the ones that differ.

Private to this collection (not an API for other collections; it may change
without notice).

For each object: one GET, one server-side apply dry run (``dryRun=All``); the
object is unchanged when the dry run's answer equals the live object (server
bookkeeping fields aside) and this field manager already owns the same fields.
Only created and updated objects are then applied for real. Every outcome comes from discovery and the API's status codes, never from
message text:

* ``unchanged`` / ``created`` / ``updated``;
* ``pending`` (check mode only): its namespace (404 with ``details.kind ==
  "namespaces"``) or its kind (not in discovery) does not exist yet -- an earlier
  step of a real run creates it, so it would be created;
* ``rejected``: anything else the API refused, with its status code and reason;
* ``deleted`` (with ``prune``): an object of the given kinds carrying the given labels that
  the list no longer holds (only objects the caller labelled as its own).

Namespaces and CRDs in the list are applied before the other objects, so one list
can hold a namespace and what goes into it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import (
    ApiError, KubeApi, run_concurrently)

OUTCOMES = ("unchanged", "created", "updated", "deleted", "pending", "rejected")
FOUNDATION_KINDS = ("Namespace", "CustomResourceDefinition")
# Fields the API server maintains itself; a dry run may differ from the live object only in these.
SERVER_FIELDS = ("managedFields", "resourceVersion", "generation")
HIDDEN = "<hidden>"


def object_ref(definition):
    """``Kind namespace/name (apiVersion)``: how an object is named in results and messages."""
    meta = definition.get("metadata") or {}
    name = meta.get("name")
    if meta.get("namespace"):
        name = "%s/%s" % (meta["namespace"], name)
    return "%s %s (%s)" % (definition.get("kind"), name, definition.get("apiVersion"))


def definition_problems(definitions):
    """Every definition that lacks apiVersion, kind or metadata.name, named by its position."""
    problems = []
    for index, definition in enumerate(definitions):
        if not isinstance(definition, dict):
            problems.append("definitions[%d] must be a Kubernetes object (a dict), got %s"
                            % (index, type(definition).__name__))
            continue
        missing = [field for field, value in (("apiVersion", definition.get("apiVersion")),
                                              ("kind", definition.get("kind")),
                                              ("metadata.name", (definition.get("metadata") or {}).get("name")))
                   if not value]
        if missing:
            problems.append("definitions[%d] (%s) lacks %s" % (index, object_ref(definition), ", ".join(missing)))
    return problems


def secret_values(definitions):
    """The values of every Secret's data and stringData, plain and base64: never shown."""
    values = set()
    for definition in definitions:
        if definition.get("kind") != "Secret":
            continue
        for value in (definition.get("stringData") or {}).values():
            if value:
                values.add(str(value))
                values.add(base64.b64encode(str(value).encode("utf-8")).decode("ascii"))
        for value in (definition.get("data") or {}).values():
            if value:
                values.add(str(value))
                try:
                    values.add(base64.b64decode(str(value)).decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    pass
    return values


def comparable(obj):
    """``obj`` without the server bookkeeping fields (a copy)."""
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata") or {}
    for field in SERVER_FIELDS:
        meta.pop(field, None)
    return obj


def owned_fields(obj, field_manager):
    """The fields ``field_manager`` owns by server-side apply on ``obj`` (its managedFields entry)."""
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == field_manager and entry.get("operation") == "Apply":
            return entry.get("fieldsV1")
    return None


def public_view(obj):
    """What diff mode shows: no server bookkeeping, Secret values hidden."""
    obj = comparable(obj)
    if obj and obj.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if obj.get(field):
                obj[field] = dict((key, HIDDEN) for key in obj[field])
    return obj


class Discovery(object):
    """Which resource serves a kind, read once per group version."""

    def __init__(self, api):
        self.api = api
        self._resources = {}

    def forget(self):
        self._resources = {}

    def resource(self, api_version, kind):
        """``(plural, namespaced)`` for the kind, or None when no API serves it."""
        if api_version not in self._resources:
            path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
            doc = self.api.get(path, missing_ok=True)
            self._resources[api_version] = dict(
                (r["kind"], (r["name"], bool(r.get("namespaced"))))
                for r in (doc or {}).get("resources") or [] if "/" not in r["name"])
        return self._resources[api_version].get(kind)


def object_path(api_version, plural, namespaced, namespace, name):
    base = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
    if namespaced:
        base += "/namespaces/%s" % namespace
    return "%s/%s/%s" % (base, plural, name)


class ObjectResult(object):
    """What happened (or would happen) to one object."""

    def __init__(self, definition):
        self.definition = definition
        self.ref = object_ref(definition)
        self.outcome = None
        self.reason = None
        self.status = None
        self.before = None
        self.after = None
        self.path = None

    def report(self):
        out = {"object": self.ref, "api_version": self.definition.get("apiVersion"),
               "kind": self.definition.get("kind"),
               "namespace": (self.definition.get("metadata") or {}).get("namespace"),
               "name": (self.definition.get("metadata") or {}).get("name"), "outcome": self.outcome}
        if self.reason:
            out["reason"] = self.reason
        if self.status is not None:
            out["status"] = self.status
        return out


def _rejected(result, err, prefix=""):
    result.outcome = "rejected"
    result.status = err.status
    result.reason = prefix + err.describe()
    return result


class Applier(object):
    """Server-side apply with one dry run per object; ``api`` must not be a dry-run client."""

    def __init__(self, api, check_mode=False, force_conflicts=True, workers=8):
        self.api = api
        self.dry = KubeApi(api.api_client, dry_run=True, field_manager=api.field_manager, host=api.host,
                           timeout=api.timeout)
        self.discovery = Discovery(api)
        self.check_mode = check_mode
        self.force_conflicts = force_conflicts
        self.workers = workers

    def _plan(self, definition):
        """GET + dry run: the object's outcome, without writing."""
        result = ObjectResult(definition)
        meta = definition.get("metadata") or {}
        try:
            served = self.discovery.resource(definition["apiVersion"], definition["kind"])
        except ApiError as err:
            return _rejected(result, err, "discovery failed: ")
        if served is None:
            if self.check_mode:
                result.outcome = "pending"
                result.reason = ("its kind is not installed yet (no API serves %s in %s; the CRD is created by an "
                                 "earlier step of a real run); it would be created"
                                 % (definition["kind"], definition["apiVersion"]))
            else:
                result.outcome = "rejected"
                result.reason = ("no API serves kind %s in %s: install its CRD first"
                                 % (definition["kind"], definition["apiVersion"]))
            return result
        plural, namespaced = served
        if namespaced and not meta.get("namespace"):
            result.outcome = "rejected"
            result.reason = "%s is namespaced: set metadata.namespace" % definition["kind"]
            return result
        result.path = object_path(definition["apiVersion"], plural, namespaced, meta.get("namespace"), meta["name"])
        try:
            live = self.api.get(result.path, missing_ok=True)
            answer = self.dry.apply(result.path, definition, force=self.force_conflicts)
        except ApiError as err:
            details = err.details or {}
            if (err.status == 404 and details.get("kind") == "namespaces"
                    and details.get("name") == meta.get("namespace")):
                if self.check_mode:
                    result.outcome = "pending"
                    result.reason = ("namespace %s does not exist yet (an earlier step of a real run creates it); "
                                     "it would be created" % meta.get("namespace"))
                    return result
                return _rejected(result, err, "namespace %s does not exist: " % meta.get("namespace"))
            return _rejected(result, err)
        result.before, result.after = comparable(live), comparable(answer)
        if live is None:
            result.outcome = "created"
        elif result.before == result.after and (owned_fields(live, self.api.field_manager)
                                                == owned_fields(answer, self.api.field_manager)):
            result.outcome = "unchanged"
        else:
            # the object changes, or this field manager does not own its fields yet (for example an
            # object created by another tool): the apply takes ownership
            result.outcome = "updated"
        return result

    def _write(self, result):
        try:
            self.api.apply(result.path, result.definition, force=self.force_conflicts)
        except ApiError as err:
            _rejected(result, err, "the dry run passed but the apply failed: ")
        return result

    def _phase(self, definitions):
        results = [r for _d, r, _e in run_concurrently(self._plan, definitions, self.workers)]
        if not self.check_mode:
            run_concurrently(self._write, [r for r in results if r.outcome in ("created", "updated")],
                             self.workers)
        return results

    def apply(self, definitions):
        """Apply every definition; returns one ObjectResult per definition, in input order."""
        order = {}
        first = [d for d in definitions if d.get("kind") in FOUNDATION_KINDS]
        rest = [d for d in definitions if d.get("kind") not in FOUNDATION_KINDS]
        for result in self._phase(first):
            order[id(result.definition)] = result
        if any(r.outcome == "created" and r.definition.get("kind") == "CustomResourceDefinition"
               for r in order.values()):
            self.discovery.forget()
        for result in self._phase(rest):
            order[id(result.definition)] = result
        return [order[id(d)] for d in definitions]

    def prune(self, selector, kinds, namespace, definitions):
        """Delete objects of ``kinds`` in ``namespace`` matching ``selector`` that ``definitions`` do not hold."""
        keep = set((d.get("apiVersion"), d.get("kind"), (d.get("metadata") or {}).get("name")) for d in definitions)
        results = []
        for kind in kinds:
            served = self.discovery.resource(kind["api_version"], kind["kind"])
            if served is None:
                continue  # nothing of a kind that is not installed
            plural, namespaced = served
            base = object_path(kind["api_version"], plural, namespaced, namespace, "x").rsplit("/", 1)[0]
            for item in self.api.list(base, label_selector=selector, metadata_only=True):
                name = (item.get("metadata") or {}).get("name")
                if (kind["api_version"], kind["kind"], name) in keep:
                    continue
                definition = {"apiVersion": kind["api_version"], "kind": kind["kind"],
                              "metadata": {"name": name, "namespace": namespace if namespaced else None}}
                result = ObjectResult(definition)
                result.path = base + "/" + name
                result.before = {"metadata": item.get("metadata")}
                try:
                    (self.dry if self.check_mode else self.api).delete(result.path, missing_ok=True)
                    result.outcome = "deleted"
                    result.reason = "no longer in the list (labels %s)" % selector
                except ApiError as err:
                    _rejected(result, err, "deleting it failed: ")
                results.append(result)
        return results


def summarize(results):
    """Counts per outcome, and the refs of the objects with each outcome."""
    counts = dict((outcome, 0) for outcome in OUTCOMES)
    for result in results:
        counts[result.outcome] += 1
    return counts


def failure_message(results, check_mode):
    """What was and was not applied, naming each rejected object and the API's reason."""
    rejected = [r for r in results if r.outcome == "rejected"]
    counts = summarize(results)
    done = ("would create %(created)d, would update %(updated)d, would delete %(deleted)d" if check_mode
            else "created %(created)d, updated %(updated)d, deleted %(deleted)d") % counts
    return ("%d of %d object(s) rejected (%s, %d unchanged): %s"
            % (len(rejected), len(results), done, counts["unchanged"],
               "; ".join("%s: %s" % (r.ref, r.reason) for r in rejected)))
