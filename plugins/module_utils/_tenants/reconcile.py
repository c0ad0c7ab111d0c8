# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Reconcile desired tenants against the cluster: shared by the tenant and tenants modules.

Private to this collection (not an API for other collections).

One LIST by label, a plan from plan.py (no I/O), then the writes of each
tenant in order, tenants concurrently; a 409 Conflict re-reads that tenant and
re-plans it.  New keys are delivered to 0600 files only after their write
succeeded (staged next to the target first, so a failed write never replaces
a file that still holds a working key).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import resource
import secrets
import tempfile
import time

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import authorino_refresh
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import ownership
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import secret as tenant_secret
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils import _validation as validation
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import ApiError, run_concurrently
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract

CONFLICT_ATTEMPTS = 5
LIST_PAGE = 500


def list_tenant_secrets(api, namespace, selector):
    return api.list(contract.secrets_path(namespace), label_selector=contract.tenant_label_selector(selector), limit=LIST_PAGE)


# ---------------------------------------------------------------------------- key files
def stage_key_file(path, key):
    """Write ``key`` to a new 0600 file next to ``path``; returns the staged path."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700, exist_ok=True)  # tenants are applied concurrently
    fd, staged = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".new", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return staged


def commit_key_file(staged, path):
    os.replace(staged, path)
    os.chmod(path, 0o600)


def discard_key_file(staged):
    try:
        os.unlink(staged)
    except OSError:
        pass


def staged_key_files(directory):
    """Key files staged in ``directory`` and never committed: target basename -> staged paths."""
    staged = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return staged
    for name in sorted(names):
        if name.startswith(".") and name.endswith(".new") and name.count(".") >= 3:
            target = name[1:-len(".new")].rsplit(".", 1)[0]   # ".<target>.<random>.new"
            staged.setdefault(target, []).append(os.path.join(directory, name))
    return staged


def recover_key_file(path, live_fingerprint, staged=None):
    """After an interrupted run: make ``path`` hold the live key if a staged file has it.

    A key file is staged before its Secret is written and committed right after; a run killed in
    between leaves the live key only in the staged file. Returns True when it was committed now.
    Staged files with any other key (their Secret write never happened) are removed. ``staged``: the
    staged files of ``path`` (default: read its directory).
    """
    if staged is None:
        staged = staged_key_files(os.path.dirname(os.path.abspath(path)) or ".").get(os.path.basename(path), [])
    recovered = False
    for candidate in staged:
        try:
            with open(candidate) as handle:
                key = handle.read().strip()
        except OSError:
            continue
        if not recovered and live_fingerprint and tenant_keys.fingerprint(key) == live_fingerprint:
            commit_key_file(candidate, path)
            recovered = True
        else:
            discard_key_file(candidate)
    return recovered


def check_key_destination(path):
    """Problem with a key file destination, or None (checked before any write)."""
    if not path:
        return None
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return "key file %s is a directory; give a file path" % path
    parent = os.path.dirname(path)
    probe = parent
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if probe and not os.access(probe, os.W_OK):
        return "key file %s cannot be written (no write permission on %s)" % (path, probe)
    return None


# ---------------------------------------------------------------------------- writes
def _execute(api, namespace, action):
    path = contract.secrets_path(namespace, action.secret)
    if action.verb == "create":
        try:
            return api.create(contract.secrets_path(namespace), action.body)
        except ApiError as err:
            if api.dry_run and err.status == 404 and err.details.get("kind") == "namespaces":
                return None  # check mode before the namespace exists: nothing to validate against
            raise
    if action.verb == "patch":
        return api.merge_patch(path, action.body)
    if action.verb == "delete":
        return api.delete(path, missing_ok=True)
    raise ValueError("unknown action %r" % action.verb)  # pragma: no cover


def _refresh(api, namespace, retired_names, spec):
    """Re-read a tenant after a 409: its main Secret (by name, whatever its labels) and retired keys."""
    main = api.get(contract.secrets_path(namespace, tenant_secret.secret_name(spec.name)), missing_ok=True)
    retired = []
    for name in retired_names:
        secret = api.get(contract.secrets_path(namespace, name), missing_ok=True)
        if secret is not None:
            retired.append(secret)
    return main, retired


def _unlabelled(main, selector):
    labels = (main.get("metadata") or {}).get("labels") or {}
    return any(labels.get(k) != v for k, v in contract.tenant_labels(selector).items())


def _conflict_problem(spec, tenant_plan, main, namespace, selector):
    """Why a conflicted plan must not be retried (TenantError), or None when re-planning is safe.

    A write that installs a new key is conditional on what was read: if someone else changed the
    tenant meanwhile (another rotation, another onboarding), this run must not overwrite it nor hand
    out its own key, which would not be the live one.
    """
    name = tenant_secret.secret_name(spec.name)
    annotations = ((main or {}).get("metadata") or {}).get("annotations") or {}
    if main is not None and _unlabelled(main, selector):
        if annotations.get(contract.TENANT_KEY) == spec.name:
            return None  # our tenant Secret with its selector labels removed by hand: re-planned, labels restored
        return tenant_secret.TenantError(
            "Secret %s already exists in namespace %s but is not a tenant Secret (it lacks the labels %s); "
            "delete or rename it, or choose another tenant name"
            % (name, namespace, contract.tenant_label_selector(selector)))
    if tenant_plan.new_key is None:
        return None
    done = [a.what for a in tenant_plan.actions if a.verb == "create" and a.secret != name]
    if tenant_plan.kind == "created":
        what = "was created by someone else at the same time"
    else:
        what = "was changed by someone else while this run replaced its key"
    return tenant_secret.TenantError(
        "tenant %r %s (Secret %s, read at resourceVersion %s): its key was not replaced by this run and no key file "
        "was written%s. Rerun to act on the current state" % (
            spec.name, what, name, _read_version(tenant_plan), "; already applied: " + ", ".join(done) if done else ""))


def _read_version(tenant_plan):
    for action in tenant_plan.actions:
        if action.resource_version:
            return action.resource_version
    return "none (it did not exist)"


class Reconciler(object):
    """Loads the live tenants and applies planned tenants; ``key_path_for`` in :meth:`apply` says where new keys go."""

    def __init__(self, api, namespace, selector, now=None, workers=16):
        self.api = api
        self.namespace = namespace
        self.selector = selector or {}
        self.now = now or validation.utcnow()
        self.workers = workers
        self.live = None
        self.started = time.time()
        self.handover = None  # a handover.Handover: generated keys also wait there for an operator

    def load(self):
        self.live = tenant_secret.LiveIndex(list_tenant_secrets(self.api, self.namespace, self.selector))
        return self.live

    def apply_one(self, spec, tenant_plan, key_path=None):
        """Apply one tenant's plan (retrying conflicts).  Returns the final TenantPlan.

        A generated key is put where it goes (staged key file, hand-over Secret) before the tenant
        Secret is written, and withdrawn from there if that write fails: it never exists only in the
        cluster, and nothing hands out a key that did not go live.
        """
        staged = handed_over = None
        generated = tenant_plan.new_key if tenant_plan.key_generated and not self.api.dry_run else None
        if key_path and generated:
            staged = stage_key_file(key_path, generated)
        try:
            if self.handover is not None and generated:
                handed_over = self.handover.put(spec.name, generated)
            current = self._write(spec, tenant_plan)
            if current.new_key == tenant_plan.new_key:
                if staged:
                    commit_key_file(staged, key_path)
                    staged = None
                current.handover = handed_over
                handed_over = None
        finally:
            if staged:
                discard_key_file(staged)
            if handed_over:
                self.handover.withdraw(spec.name, generated)
        return current

    def _write(self, spec, tenant_plan):
        """Send the plan's writes; on 409 re-read and re-plan when that is safe (see _conflict_problem)."""
        current = tenant_plan
        retired_names = [a.secret for a in tenant_plan.actions if contract.RETIRED_INFIX in a.secret]
        retired_names += [s["metadata"]["name"] for s in self.live.retired.get(spec.name, [])]
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                for action in current.actions:
                    _execute(self.api, self.namespace, action)
                return current
            except ApiError as err:
                if err.status != 409 or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
                main, retired = _refresh(self.api, self.namespace, sorted(set(retired_names)), spec)
                problem = _conflict_problem(spec, current, main, self.namespace, self.selector)
                if problem is not None:
                    raise problem
                adopting = current.kind == "created" and main is not None  # relabelled by hand: keep its key
                if adopting and spec.owner:
                    problems = ownership.ownership_errors([spec], tenant_secret.LiveIndex([main]), spec.owner)
                    if problems:
                        raise tenant_secret.TenantError(problems[0])
                keep_key = tenant_plan.new_key if (tenant_plan.key_generated or spec.rotate) and not adopting \
                    else None
                replanned = planning.plan_tenant(spec, main, retired, self.namespace, self.selector, self.now,
                                                 new_key=keep_key)
                replanned.key_generated = tenant_plan.key_generated and not adopting
                replanned.before = tenant_plan.before
                current = replanned
        return current  # pragma: no cover - the loop returns or raises

    def recover_key_files(self, specs, key_path_for):
        """Key files an interrupted run staged but did not commit, for tenants whose Secret has that key."""
        recovered = {}
        if key_path_for is None or self.api.dry_run:
            return recovered
        listings = {}  # each key directory is read once
        for spec in specs:
            if spec.state != "present":
                continue
            path = key_path_for(planning.TenantPlan(spec.name))
            directory = os.path.dirname(os.path.abspath(path)) or "."
            if directory not in listings:
                listings[directory] = staged_key_files(directory)
            staged = listings[directory].get(os.path.basename(path))
            if not staged:
                continue
            main = self.live.main.get(spec.name)
            # no Secret: a staged file holds a key that never went live, and is removed
            live_fingerprint = tenant_keys.live_fingerprint(main) if main is not None else None
            if recover_key_file(path, live_fingerprint, staged):
                recovered[spec.name] = path
        return recovered

    def apply(self, plan, specs, key_path_for=None):
        """Apply every tenant plan concurrently.  Returns a result dict (no keys in it)."""
        recovered = self.recover_key_files(specs, key_path_for)
        by_name = dict((s.name, s) for s in specs)
        work = [tp for tp in plan.tenants if tp.actions]
        unchanged = [tp.name for tp in plan.tenants if not tp.actions]

        def _one(tenant_plan):
            spec = by_name.get(tenant_plan.name) or tenant_spec.TenantSpec(name=tenant_plan.name, state="absent")
            key_path = key_path_for(tenant_plan) if (key_path_for and tenant_plan.key_generated) else None
            return self.apply_one(spec, tenant_plan, key_path)

        outcomes = run_concurrently(_one, work, workers=self.workers)
        result = {"created": [], "updated": [], "deleted": [], "unchanged": unchanged, "failures": [],
                  "changes": {}, "key_files": dict(recovered), "recovered_key_files": sorted(recovered), "handovers": {}}
        diff_before, diff_after = {}, {}
        applied = []
        for tenant_plan, final, error in outcomes:
            if error is not None:
                keys = [tenant_plan.new_key, (by_name.get(tenant_plan.name) and by_name[tenant_plan.name].api_key)]
                result["failures"].append({"name": tenant_plan.name, "error": tenant_keys.scrub(_describe(error), keys)})
                continue
            final = final or tenant_plan
            applied.append(final)
            kind = final.kind if final.actions else "unchanged"
            result[kind].append(final.name)
            result["changes"][final.name] = final.changes
            diff_before[final.name] = final.before
            diff_after[final.name] = final.after
            if key_path_for and final.key_generated:
                result["key_files"][final.name] = key_path_for(final)
            if getattr(final, "handover", None):
                result["handovers"][final.name] = final.handover
        for field in ("created", "updated", "deleted", "unchanged"):
            result[field].sort()
        result["authorino_refresh"] = self.refresh_authorino(result["updated"])
        result["failures"].sort(key=lambda f: f["name"])
        result["diff"] = {"before": diff_before, "after": diff_after}
        result["applied"] = applied
        return result

    def refresh_authorino(self, updated):
        """After changes to existing tenant Secrets, make Authorino re-read them (see authorino_refresh).

        Creates and deletes reach Authorino through its Secret watch; an update
        that keeps the key (tier, expiry) does not.  Nothing in check mode.
        """
        if not updated or self.api.dry_run:
            return None
        revision = "%s-%s" % (validation.format_time(validation.utcnow()), secrets.token_hex(4))
        return authorino_refresh.refresh(self.api, self.namespace, self.selector, revision)

    def stats(self):
        return {
            "listed": len(self.live.by_secret) if self.live else 0,
            "writes": self.api.writes,
            "seconds": round(time.time() - self.started, 3),
            "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }


def refresh_warning(refresh):
    """Operator warning when Authorino could not be told to re-read changed tenants, else None."""
    if not refresh or not refresh.get("skipped"):
        return None
    return ("tenant Secrets were changed, but Authorino was not told to re-read them (%s): until it re-reads its "
            "AuthConfigs (or restarts) it keeps the previous tier and expiry of keys that did not change. Grant "
            "the module get/list/patch on authconfigs.authorino.kuadrant.io in the Kuadrant namespace "
            "(roles/tenant_manager_access does)." % refresh["skipped"])


def _describe(error):
    if isinstance(error, (ApiError, tenant_secret.TenantError)):
        return str(error)
    if isinstance(error, OSError):
        return "could not write the key file: %s" % error
    return "%s: %s" % (type(error).__name__, error)
