# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Pure logic of the tenant modules: validation, Secret rendering, planning.

A tenant is a Secret in the Kuadrant namespace that Authorino authenticates
(see tokenlabs.inference.tenant).  Nothing in this file talks to Kubernetes or
Ansible, so everything here is unit-tested directly.

Key safety rules implemented here:
  * a key (plain or base64) is never placed in a summary, diff, error or plan
    description; summaries carry the fingerprint (a SHA-256 prefix) instead;
  * live keys are only reduced to digests (for duplicate checks); rotation with
    a grace period copies the live base64 value verbatim into the retired Secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import json
import re
import secrets
from datetime import datetime, timedelta, timezone

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenant_ownership import (
    OWNER_ANNOTATION, inventory_owned)

# --- Secret shape -------------------------------------------------------------
SECRET_NAME_PREFIX = "tenant-"
RETIRED_INFIX = ".retired-"  # a dot can never appear in a tenant name, so no clash
MANAGED_BY_LABEL = "authorino.kuadrant.io/managed-by"
MANAGED_BY_VALUE = "authorino"
GROUPS_ANNOTATION = "kuadrant.io/groups"
USER_ID_ANNOTATION = "secret.kuadrant.io/user-id"
TENANT_ANNOTATION = "tokenlabs.io/tenant"
FINGERPRINT_ANNOTATION = "tokenlabs.io/key-fingerprint"
CREATED_ANNOTATION = "tokenlabs.io/created-at"
DISPLAY_NAME_ANNOTATION = "tokenlabs.io/display-name"
CONTACT_ANNOTATION = "tokenlabs.io/contact"
EXPIRES_ANNOTATION = "tokenlabs.io/expires-at"
RETIRES_ANNOTATION = "tokenlabs.io/retires-at"
KEY_FIELD = "api_key"

# Options saying where tenant Secrets live, shared by the tenant modules
# (documented in the tokenlabs.inference.tenant_secrets doc fragment).
TENANT_SECRETS_ARG_SPEC = {
    "namespace": {"type": "str", "default": "kuadrant-system"},
    "selector": {"type": "dict", "default": {"app": "token-labs"}},
}

# --- Keys ---------------------------------------------------------------------
KEY_PREFIX = "tlabs_sk_"
KEY_BYTES = 32  # 256 bits from the secrets module (the brief asks for >= 192)
MIN_KEY_LENGTH = 32
MAX_KEY_LENGTH = 256
MIN_KEY_DISTINCT_CHARS = 10
KEY_ALPHABET_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
KEY_ALPHABET_TEXT = "letters, digits and . _ ~ -"
WEAK_KEY_MARKERS = ("changeme", "change_me", "change-me", "password", "example")

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_UNITS = (604800, 86400, 3600, 60, 1)

TENANT_FIELDS = ("name", "state", "tier", "user_id", "display_name", "contact", "expires_at",
                 "api_key", "rotate", "grace_period", "create", "key_generation", "take_over")
# Rotations so far, counting the first key as 1; the inventory rotates by raising it.
KEY_GENERATION_ANNOTATION = "tokenlabs.io/key-generation"


class TenantError(Exception):
    """Invalid input or state; ``str()`` is safe to show (never contains a key)."""


# ============================================================================ keys
def generate_key():
    """A new tenant key: ``tlabs_sk_`` + 256 random bits as hex."""
    return KEY_PREFIX + secrets.token_hex(KEY_BYTES)


def fingerprint(key):
    """Public identifier of a key: ``sha256:`` + first 16 hex digits of its SHA-256."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def digest(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def encode_key(key):
    return base64.b64encode(key.encode("utf-8")).decode("ascii")


def _live_key(secret):
    """The plain key of a live Secret, or None (only used to compute digests)."""
    raw = ((secret or {}).get("data") or {}).get(KEY_FIELD)
    if not raw:
        return None
    try:
        return base64.b64decode(raw).decode("utf-8")
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


def live_key_digest(secret):
    key = _live_key(secret)
    return digest(key) if key is not None else None


def live_fingerprint(secret):
    key = _live_key(secret)
    return fingerprint(key) if key is not None else None


def key_problem(key):
    """Why a supplied key is unacceptable, or None.  Never quotes the key."""
    if not isinstance(key, str):
        return "must be a string"
    if len(key) < MIN_KEY_LENGTH:
        return "is too short (%d characters; at least %d are required)" % (len(key), MIN_KEY_LENGTH)
    if len(key) > MAX_KEY_LENGTH:
        return "is too long (%d characters; at most %d are allowed)" % (len(key), MAX_KEY_LENGTH)
    if not KEY_ALPHABET_RE.match(key):
        return "contains characters outside the allowed alphabet (%s)" % KEY_ALPHABET_TEXT
    if len(set(key)) < MIN_KEY_DISTINCT_CHARS:
        return "is too weak (fewer than %d distinct characters)" % MIN_KEY_DISTINCT_CHARS
    lowered = key.lower()
    for marker in WEAK_KEY_MARKERS:
        if marker in lowered:
            return "is a placeholder, not a secret (contains %r)" % marker
    return None


GENERATED_KEY_RE = re.compile(r"tlabs_sk_[0-9a-fA-F]+|dGxhYnNfc2tf[A-Za-z0-9+/=]*")


def redact_generated_keys(result):
    """Last line of defence for module results: replace anything shaped like a generated key
    (plain or base64) with ``********``.  One pass over the serialized result, however many keys."""
    text = json.dumps(result)
    if "tlabs_sk_" not in text and "dGxhYnNfc2tf" not in text:
        return result
    return json.loads(GENERATED_KEY_RE.sub("********", text))


def scrub(text, keys):
    """Replace every occurrence of the given keys (plain or base64) in ``text``."""
    text = str(text)
    for key in keys:
        if key:
            text = text.replace(key, "********").replace(encode_key(key), "********")
    return text


# ============================================================================ values
def normalize_tiers(tiers):
    """The tier table dict (tokenlabs_tiers) or a list of names -> sorted list of names."""
    if tiers is None:
        return None
    if isinstance(tiers, dict):
        names = list(tiers.keys())
    elif isinstance(tiers, (list, tuple)):
        names = list(tiers)
    elif isinstance(tiers, str):
        names = [t.strip() for t in tiers.split(",") if t.strip()]
    else:
        raise TenantError("tiers must be the tier table (a dict keyed by tier name) or a list of tier "
                          "names, got %s" % type(tiers).__name__)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad or not names:
        raise TenantError("tiers must name at least one tier, each a non-empty string; got %r" % (names,))
    return sorted(names)


def is_dns_label(value):
    return isinstance(value, str) and len(value) <= 63 and bool(DNS1123_LABEL_RE.match(value))


def dns_label_problem(field, value):
    if is_dns_label(value):
        return None
    return ("%s %r is not a valid DNS-1123 label: use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit" % (field, value))


def parse_rfc3339(value):
    """Parse an RFC 3339 timestamp (timezone required) to an aware UTC datetime, or None."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else None
    if not isinstance(value, str) or not RFC3339_RE.match(value.strip()):
        return None
    text = value.strip().replace("z", "Z").replace("t", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc)


def format_time(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(value):
    """``30m``, ``24h``, ``7d``, ``1h30m``, ``2w`` or a number of seconds -> seconds, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        seconds = int(text)
        return seconds if seconds > 0 else None
    match = DURATION_RE.match(text)
    if not text or not match:
        return None
    seconds = sum(int(part or 0) * unit for part, unit in zip(match.groups(), DURATION_UNITS))
    return seconds if seconds > 0 else None


def utcnow():
    return datetime.now(timezone.utc)


def secret_name(tenant):
    return SECRET_NAME_PREFIX + tenant


def retired_secret_name(tenant, old_fingerprint):
    return "%s%s%s" % (secret_name(tenant), RETIRED_INFIX, old_fingerprint.split(":")[-1][:12])


# ============================================================================ spec
class TenantSpec(object):
    """One desired tenant after static validation.

    ``None`` for display_name/contact/expires_at/user_id/tier means "keep the
    live value" (for a new tenant: unset / the name / required); an empty string
    removes the annotation.
    """

    __slots__ = TENANT_FIELDS + ("grace_seconds", "owner")

    def __init__(self, **kwargs):
        for field in self.__slots__:
            setattr(self, field, kwargs.get(field))

    def __repr__(self):  # never shows the key
        return "TenantSpec(name=%r, state=%r, tier=%r)" % (self.name, self.state, self.tier)


def validate_item(item, tiers, now, where="tenant"):
    """Static checks of one desired tenant dict -> (TenantSpec or None, [errors])."""
    errors = []
    if not isinstance(item, dict):
        return None, ["%s must be a dict with at least name and tier, got %s" % (where, type(item).__name__)]
    unknown = sorted(set(item) - set(TENANT_FIELDS))
    if unknown:
        errors.append("%s has unknown field(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(TENANT_FIELDS)))
    name = item.get("name")
    label = "%s %r" % (where, name) if name else where
    if name is None or name == "":
        errors.append("%s: name is required" % where)
    else:
        problem = dns_label_problem("name", name)
        if problem:
            errors.append("%s: %s" % (where, problem))
    state = item.get("state") or "present"
    if state not in ("present", "absent"):
        errors.append("%s: state %r is not allowed; use present or absent" % (label, state))
    tier = item.get("tier")
    if tier not in (None, "") and tiers is not None and tier not in tiers:
        errors.append("%s: tier %r is not a known tier; allowed tiers: %s" % (label, tier, ", ".join(tiers)))
    if tier == "":
        errors.append("%s: tier must not be empty; allowed tiers: %s" % (label, ", ".join(tiers or [])))
    user_id = item.get("user_id")
    if user_id not in (None, ""):
        problem = dns_label_problem("user_id", user_id)
        if problem:
            errors.append("%s: %s" % (label, problem))
    elif user_id == "":
        errors.append("%s: user_id must not be empty (omit it to use the name)" % label)
    for field in ("display_name", "contact"):
        value = item.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 256 or "\n" in value):
            errors.append("%s: %s %r must be a single-line string of at most 256 characters" % (label, field, value))
    expires_at = item.get("expires_at")
    expires_norm = None
    if expires_at not in (None, ""):
        parsed = parse_rfc3339(expires_at)
        if parsed is None:
            errors.append("%s: expires_at %r is not an RFC 3339 timestamp with a timezone, "
                          "e.g. 2026-12-31T23:59:59Z" % (label, str(expires_at)))
        else:
            expires_norm = format_time(parsed)
    elif expires_at == "":
        expires_norm = ""
    api_key = item.get("api_key")
    if api_key is not None:
        problem = key_problem(api_key)
        if problem:
            errors.append("%s: api_key (value hidden) %s" % (label, problem))
    grace = item.get("grace_period")
    grace_seconds = None
    if grace not in (None, "", 0, "0"):
        grace_seconds = parse_duration(grace)
        if grace_seconds is None:
            errors.append("%s: grace_period %r is not a duration; use a number with a unit s, m, h, d or w, "
                          "e.g. 30m, 24h, 7d, 1h30m" % (label, grace))
    rotate = item.get("rotate")
    if rotate not in (None, True, False):
        errors.append("%s: rotate %r must be true or false" % (label, rotate))
    generation = item.get("key_generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)
                                   or generation < 1):
        errors.append("%s: key_generation %r must be a whole number >= 1 (raise it by one to rotate the key once)"
                      % (label, generation))
    if generation is not None and rotate:
        errors.append("%s: give either rotate or key_generation, not both" % label)
    take_over = item.get("take_over")
    if take_over not in (None, True, False):
        errors.append("%s: take_over %r must be true or false" % (label, take_over))
    if errors:
        return None, errors
    spec = TenantSpec(name=name, state=state, tier=tier, user_id=user_id,
                      display_name=item.get("display_name"), contact=item.get("contact"),
                      expires_at=expires_norm, api_key=api_key, rotate=bool(rotate),
                      grace_period=grace, grace_seconds=grace_seconds,
                      create=item.get("create", True) is not False,
                      key_generation=generation, take_over=bool(take_over))
    return spec, []


def validate_items(items, tiers, now):
    """Validate a desired list -> (specs, errors).  Duplicate names are errors."""
    specs, errors, seen, keys_seen = [], [], {}, {}
    for index, item in enumerate(items or []):
        spec, errs = validate_item(item, tiers, now, where="tenants[%d]" % index)
        errors.extend(errs)
        name = item.get("name") if isinstance(item, dict) else None
        if name in seen:
            errors.append("tenants[%d]: name %r is listed twice (also tenants[%d]); each tenant once"
                          % (index, name, seen[name]))
            continue
        if name:
            seen[name] = index
        key = item.get("api_key") if isinstance(item, dict) else None
        if isinstance(key, str) and key:
            key_digest = digest(key)
            if key_digest in keys_seen:
                errors.append("tenants[%d] %r: api_key (value hidden) is the same as the api_key given for tenant %r; "
                              "every tenant needs its own key" % (index, name, keys_seen[key_digest]))
                continue
            keys_seen[key_digest] = name
        if spec is not None:
            specs.append(spec)
    return specs, errors


# ============================================================================ live state
def _meta(secret):
    return secret.get("metadata") or {}


def tenant_of(secret):
    """(tenant name, is_retired) of a live Secret, or (None, False) if it is no tenant Secret."""
    meta = _meta(secret)
    annotations = meta.get("annotations") or {}
    name = meta.get("name") or ""
    retired = RETIRES_ANNOTATION in annotations or RETIRED_INFIX in name
    tenant = annotations.get(TENANT_ANNOTATION)
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
            name = _meta(secret).get("name")
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
        return sorted(t for t, s in self.main.items() if (_meta(s).get("annotations") or {}).get(TENANT_ANNOTATION))

    def user_ids(self):
        """user id -> set of tenant names (main and foreign Secrets; retired keys share by design)."""
        out = {}
        for source in (self.main, self.other):
            for tenant, secret in source.items():
                uid = (_meta(secret).get("annotations") or {}).get(USER_ID_ANNOTATION)
                if uid:
                    out.setdefault(uid, set()).add(tenant)
        return out

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
    meta = _meta(secret)
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
        "managed": bool(annotations.get(TENANT_ANNOTATION)),
        "owner": annotations.get(OWNER_ANNOTATION),
        "key_generation": _generation(annotations),
    }
    if now is not None:
        moment = parse_rfc3339(expires) if expires else None
        view["expired"] = bool(moment and moment <= now)
    if retired:
        view["retires_at"] = annotations.get(RETIRES_ANNOTATION)
    return view


def _generation(annotations):
    try:
        return int(annotations.get(KEY_GENERATION_ANNOTATION) or 1)
    except ValueError:
        return 1


def rotation_wanted(spec, main):
    """Whether reconciling ``spec`` against the live ``main`` Secret installs a new key.

    ``rotate`` (runbook) always does; ``key_generation`` (inventory) does once, when it is
    above the live generation. A generation below the live one is an error.
    """
    if spec.state != "present" or main is None:
        return False
    if spec.rotate:
        return True
    if spec.key_generation is None:
        return False
    live = _generation(_meta(main).get("annotations") or {})
    if spec.key_generation < live:
        raise TenantError("tenant %r: key_generation %d is below the live key generation %d (the key was rotated "
                          "since); generations only go up: set %d to keep the key, %d to rotate once more"
                          % (spec.name, spec.key_generation, live, live, live + 1))
    return spec.key_generation > live


def describe_tenant(live, tenant, now):
    """tenant_info's view: main Secret summary plus the pending rotation state."""
    main = live.main.get(tenant) or live.other.get(tenant)
    if main is None:
        return None
    view = summarize(main, now)
    retired = []
    for secret in sorted(live.retired.get(tenant, []), key=lambda s: _meta(s).get("name")):
        ann = _meta(secret).get("annotations") or {}
        moment = parse_rfc3339(ann.get(RETIRES_ANNOTATION) or "")
        retired.append({"secret": _meta(secret).get("name"),
                        "fingerprint": ann.get(FINGERPRINT_ANNOTATION) or live_fingerprint(secret),
                        "retires_at": ann.get(RETIRES_ANNOTATION),
                        "expired": bool(moment is None or moment <= now)})
    view["rotation"] = {"pending": any(not r["expired"] for r in retired), "retired_keys": retired}
    return view


# ============================================================================ rendering
def required_labels(selector):
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    labels.update(selector or {})
    return labels


def label_selector(selector):
    return ",".join("%s=%s" % (k, v) for k, v in sorted(required_labels(selector).items()))


def render_secret(namespace, selector, tenant, tier, user_id, key, created_at, display_name=None,
                  contact=None, expires_at=None, owner=None, generation=1):
    """The complete tenant Secret (``data``, never ``stringData``)."""
    annotations = {
        GROUPS_ANNOTATION: tier,
        USER_ID_ANNOTATION: user_id,
        TENANT_ANNOTATION: tenant,
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
                     "labels": required_labels(selector), "annotations": annotations},
        "type": "Opaque",
        "data": {KEY_FIELD: encode_key(key)},
    }


def render_retired(namespace, selector, tenant, main, retires_at):
    """A copy of the current key of ``main`` that keeps working until ``retires_at``."""
    meta = _meta(main)
    annotations = meta.get("annotations") or {}
    old_fp = live_fingerprint(main) or annotations.get(FINGERPRINT_ANNOTATION) or "sha256:unknown"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": retired_secret_name(tenant, old_fp),
            "namespace": namespace,
            "labels": required_labels(selector),
            "annotations": {
                GROUPS_ANNOTATION: annotations.get(GROUPS_ANNOTATION, ""),
                USER_ID_ANNOTATION: annotations.get(USER_ID_ANNOTATION, ""),
                TENANT_ANNOTATION: tenant,
                FINGERPRINT_ANNOTATION: old_fp,
                CREATED_ANNOTATION: annotations.get(CREATED_ANNOTATION) or meta.get("creationTimestamp") or "",
                RETIRES_ANNOTATION: retires_at,
            },
        },
        "type": "Opaque",
        "data": {KEY_FIELD: (main.get("data") or {}).get(KEY_FIELD, "")},
    }


# ============================================================================ planning
class Action(object):
    """One write: ``create`` (body), ``patch`` (merge patch, guarded by resourceVersion) or ``delete``."""

    __slots__ = ("verb", "secret", "body", "resource_version", "what")

    def __init__(self, verb, secret, body=None, resource_version=None, what=""):
        self.verb = verb
        self.secret = secret
        self.body = body
        self.resource_version = resource_version
        self.what = what

    def __repr__(self):  # bodies may hold keys: never shown
        return "Action(%s %s: %s)" % (self.verb, self.secret, self.what)


class TenantPlan(object):
    """What one tenant needs: the writes, the public before/after, and a new key if any."""

    def __init__(self, name):
        self.name = name
        self.kind = "unchanged"   # created | updated | deleted | unchanged
        self.changes = []         # human-readable, e.g. "tier free -> pro"
        self.actions = []
        self.before = None
        self.after = None
        self.new_key = None       # the plain new key (delivered by the module, never shown)
        self.key_generated = False

    @property
    def changed(self):
        return bool(self.actions)


def _merge_changes(live_map, desired_map):
    """Merge-patch fragment turning live_map into desired_map (None removes a key)."""
    patch = {}
    for key, value in desired_map.items():
        if value is None:
            if key in live_map:
                patch[key] = None
        elif live_map.get(key) != value:
            patch[key] = value
    return patch


def _apply_merge(obj, patch):
    out = copy.deepcopy(obj)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _apply_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def plan_tenant(spec, main, retired, namespace, selector, now, new_key=None):
    """Writes that bring one tenant from live (``main`` + ``retired``) to ``spec``.

    ``new_key`` is the key to install when the tenant is created or rotated
    (supplied or pre-generated by the caller, so a retry after a conflict reuses it).
    Static and cross-tenant validation happened before; live-state problems raise TenantError.
    """
    plan = TenantPlan(spec.name)
    plan.before = summarize(main, now)
    name = spec.name
    retired = list(retired or [])

    # retired keys whose grace period is over are removed on every run
    keep_retired = []
    for secret in retired:
        moment = parse_rfc3339((_meta(secret).get("annotations") or {}).get(RETIRES_ANNOTATION) or "")
        if spec.state == "absent" or moment is None or moment <= now:
            plan.actions.append(Action("delete", _meta(secret)["name"], what="remove retired key"))
            plan.changes.append("retired key %s removed" % _meta(secret)["name"])
        else:
            keep_retired.append(secret)

    if spec.state == "absent":
        if main is not None:
            plan.actions.append(Action("delete", secret_name(name), what="revoke tenant"))
            plan.kind = "deleted"
            plan.changes.insert(0, "tenant revoked")
        elif plan.actions:
            plan.kind = "updated"
        return plan

    if main is None:
        if not spec.create:
            raise TenantError("tenant %r does not exist in namespace %s (this action does not create tenants; "
                              "onboard it first)" % (name, namespace))
        if not spec.tier:
            raise TenantError("tenant %r does not exist yet: tier is required to create it" % name)
        if spec.expires_at and parse_rfc3339(spec.expires_at) <= now:
            raise TenantError("tenant %r: expires_at %r lies in the past" % (name, spec.expires_at))
        key = new_key or spec.api_key
        body = render_secret(namespace, selector, name, spec.tier, spec.user_id or name, key, format_time(now),
                             spec.display_name, spec.contact, spec.expires_at, owner=spec.owner,
                             generation=spec.key_generation or 1)
        plan.actions.append(Action("create", secret_name(name), body=body, what="create tenant"))
        plan.kind = "created"
        plan.changes.insert(0, "tenant created")
        plan.new_key = key
        plan.after = summarize(body, now)
        return plan

    meta = _meta(main)
    live_ann = meta.get("annotations") or {}
    live_labels = meta.get("labels") or {}
    desired_ann = {
        GROUPS_ANNOTATION: spec.tier or live_ann.get(GROUPS_ANNOTATION),
        USER_ID_ANNOTATION: spec.user_id or live_ann.get(USER_ID_ANNOTATION) or name,
        TENANT_ANNOTATION: name,
        CREATED_ANNOTATION: live_ann.get(CREATED_ANNOTATION) or meta.get("creationTimestamp") or format_time(now),
        OWNER_ANNOTATION: spec.owner or live_ann.get(OWNER_ANNOTATION),
    }
    if not desired_ann[GROUPS_ANNOTATION]:
        raise TenantError("tenant %r has no tier annotation (%s): give a tier" % (name, GROUPS_ANNOTATION))
    for annotation, value in ((DISPLAY_NAME_ANNOTATION, spec.display_name), (CONTACT_ANNOTATION, spec.contact),
                              (EXPIRES_ANNOTATION, spec.expires_at)):
        if value is not None:
            desired_ann[annotation] = value or None  # "" removes
    if spec.expires_at and spec.expires_at != live_ann.get(EXPIRES_ANNOTATION) \
            and parse_rfc3339(spec.expires_at) <= now:
        raise TenantError("tenant %r: expires_at %r lies in the past" % (name, spec.expires_at))

    live_digest = live_key_digest(main)
    key = None
    live_generation = _generation(live_ann)
    if rotation_wanted(spec, main):
        key = new_key or spec.api_key
        if key is None:
            raise TenantError("tenant %r: rotation needs a new key" % name)  # pragma: no cover - caller bug
        desired_ann[KEY_GENERATION_ANNOTATION] = str(spec.key_generation or live_generation + 1)
    elif spec.api_key is not None and digest(spec.api_key) != live_digest:
        key = spec.api_key
        desired_ann[KEY_GENERATION_ANNOTATION] = str(live_generation + 1)
    if key is not None:
        desired_ann[FINGERPRINT_ANNOTATION] = fingerprint(key)
    elif live_digest is not None:
        desired_ann[FINGERPRINT_ANNOTATION] = live_fingerprint(main)
    else:
        raise TenantError("tenant %r: Secret %s has no data.%s; rotate the key to give it one"
                          % (name, meta.get("name"), KEY_FIELD))

    patch_meta = {}
    label_patch = _merge_changes(live_labels, required_labels(selector))
    if label_patch:
        patch_meta["labels"] = label_patch
        plan.changes.append("labels %s set" % ", ".join(sorted(label_patch)))
    ann_patch = _merge_changes(live_ann, desired_ann)
    if ann_patch:
        patch_meta["annotations"] = ann_patch
    patch = {}
    if key is not None:
        if spec.grace_seconds and live_digest is not None:
            retires_at = format_time(now + timedelta(seconds=spec.grace_seconds))
            retired_body = render_retired(namespace, selector, name, main, retires_at)
            retired_body["metadata"]["annotations"][GROUPS_ANNOTATION] = desired_ann[GROUPS_ANNOTATION]
            retired_body["metadata"]["annotations"][USER_ID_ANNOTATION] = desired_ann[USER_ID_ANNOTATION]
            retired_name = retired_body["metadata"]["name"]
            existing = [s for s in keep_retired if _meta(s).get("name") == retired_name]
            if existing:  # a earlier, interrupted rotation already kept this key: extend it
                keep_retired = [s for s in keep_retired if _meta(s).get("name") != retired_name]
                plan.actions.append(Action(
                    "patch", retired_name, resource_version=_meta(existing[0]).get("resourceVersion"),
                    body={"metadata": {"annotations": {RETIRES_ANNOTATION: retires_at},
                                       "resourceVersion": _meta(existing[0]).get("resourceVersion")}},
                    what="keep the previous key until %s" % retires_at))
            else:
                plan.actions.append(Action("create", retired_name, body=retired_body,
                                           what="keep the previous key until %s" % retires_at))
            plan.changes.append("previous key %s kept until %s" % (live_fingerprint(main), retires_at))
        patch["data"] = {KEY_FIELD: encode_key(key)}
        plan.new_key = key
        plan.changes.append("key rotated (%s -> %s)" % (live_fingerprint(main), fingerprint(key)))
    for annotation, label in ((GROUPS_ANNOTATION, "tier"), (USER_ID_ANNOTATION, "user_id"),
                              (DISPLAY_NAME_ANNOTATION, "display_name"), (CONTACT_ANNOTATION, "contact"),
                              (EXPIRES_ANNOTATION, "expires_at"), (TENANT_ANNOTATION, "tenant annotation"),
                              (CREATED_ANNOTATION, "created_at"), (OWNER_ANNOTATION, "owner"),
                              (KEY_GENERATION_ANNOTATION, "key generation")):
        if annotation in ann_patch:
            plan.changes.append("%s %s -> %s" % (label, live_ann.get(annotation), ann_patch[annotation]))
    if patch_meta:
        patch["metadata"] = patch_meta
    if patch:
        body = copy.deepcopy(patch)
        body.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
        plan.actions.append(Action("patch", secret_name(name), body=body,
                                   resource_version=meta.get("resourceVersion"), what="update tenant"))

    # retired keys keep the tenant's tier and user id so the quota stays shared
    for secret in keep_retired:
        r_ann = _meta(secret).get("annotations") or {}
        r_patch = _merge_changes(r_ann, {GROUPS_ANNOTATION: desired_ann[GROUPS_ANNOTATION],
                                         USER_ID_ANNOTATION: desired_ann[USER_ID_ANNOTATION]})
        if r_patch:
            plan.actions.append(Action("patch", _meta(secret)["name"],
                                       body={"metadata": {"annotations": r_patch,
                                                          "resourceVersion": _meta(secret).get("resourceVersion")}},
                                       resource_version=_meta(secret).get("resourceVersion"),
                                       what="keep retired key in step"))
    if plan.actions:
        plan.kind = "updated"
        after = _apply_merge(main, patch)
        plan.after = summarize(after, now)
    else:
        plan.after = plan.before
    return plan


class Plan(object):
    def __init__(self):
        self.tenants = []        # TenantPlan, in input order (prunes last)
        self.expired = []        # tenant names whose expires_at has passed


def check_cross_tenant(specs, live, pruned=()):
    """Checks that need the live state: user ids and keys unique across tenants."""
    errors = []
    final_uid = {}
    live_uid_of = {}
    for tenant in live.all_tenants():
        secret = live.main.get(tenant) or live.other.get(tenant)
        uid = (_meta(secret).get("annotations") or {}).get(USER_ID_ANNOTATION)
        live_uid_of[tenant] = uid
        if uid:
            final_uid[tenant] = uid
    for tenant in pruned:
        final_uid.pop(tenant, None)
    for spec in specs:
        if spec.state == "absent":
            final_uid.pop(spec.name, None)
        elif spec.user_id:
            final_uid[spec.name] = spec.user_id
        elif spec.name not in final_uid:
            final_uid[spec.name] = spec.name
    owners = {}
    for tenant, uid in final_uid.items():
        owners.setdefault(uid, set()).add(tenant)
    for spec in specs:
        if spec.state == "absent":
            continue
        uid = final_uid[spec.name]
        if uid == live_uid_of.get(spec.name):
            continue  # not set or changed by this run
        others = sorted(owners.get(uid, set()) - {spec.name})
        if others:
            errors.append("tenant %r: user_id %r is already used by tenant(s) %s; user ids must be unique "
                          "(the quota counters are keyed by it)" % (spec.name, uid, ", ".join(others)))

    key_owners = live.key_owners()
    supplied = {}
    for spec in specs:
        if spec.state == "absent" or spec.api_key is None:
            continue
        key_digest = digest(spec.api_key)
        others = sorted(key_owners.get(key_digest, set()) - {spec.name})
        if others:
            errors.append("tenant %r: api_key (value hidden) is the key of tenant(s) %s; every tenant needs "
                          "its own key" % (spec.name, ", ".join(others)))
        if key_digest in supplied:
            errors.append("tenant %r: api_key (value hidden) is the same as the api_key given for tenant %r; "
                          "every tenant needs its own key" % (spec.name, supplied[key_digest]))
        else:
            supplied[key_digest] = spec.name
    return errors


def prune_candidates(specs, live):
    """Inventory-owned tenants absent from the desired list (runbook and unowned tenants are never pruned)."""
    wanted = set(s.name for s in specs)
    return [t for t in inventory_owned(live) if t not in wanted]


def prune_problem(candidates, live, max_share, override):
    managed = len(inventory_owned(live))
    if not candidates or override or managed == 0:
        return None
    share = float(len(candidates)) / managed
    if share > max_share:
        return ("prune would delete %d of %d managed tenants (%.0f%%), more than prune_max_share %.0f%% allows: "
                "%s. Check the tenant list; set prune_override=true if this is intended"
                % (len(candidates), managed, share * 100, max_share * 100, ", ".join(candidates[:20]) +
                   (" ..." if len(candidates) > 20 else "")))
    return None


def needs_new_key(spec, live):
    """Whether reconciling ``spec`` installs a key the caller must generate (no api_key given)."""
    if spec.state != "present" or spec.api_key is not None:
        return False
    main = live.main.get(spec.name)
    if main is None:
        return bool(spec.create)
    return rotation_wanted(spec, main)


def build_plan(specs, live, namespace, selector, now, prune=False, keygen=generate_key):
    """Plan every tenant.  Returns (Plan, errors); nothing is written by this function."""
    plan = Plan()
    errors = []
    for spec in specs:
        try:
            new_key = keygen() if needs_new_key(spec, live) else None
            tenant_plan = plan_tenant(spec, live.main.get(spec.name), live.retired.get(spec.name), namespace,
                                      selector, now, new_key=new_key)
        except TenantError as err:
            errors.append(str(err))
            continue
        tenant_plan.key_generated = new_key is not None
        plan.tenants.append(tenant_plan)
        if spec.state == "present":
            after = tenant_plan.after or {}
            moment = parse_rfc3339(after.get("expires_at") or "")
            if moment is not None and moment <= now:
                plan.expired.append(spec.name)
    if prune:
        for tenant in prune_candidates(specs, live):
            spec = TenantSpec(name=tenant, state="absent")
            plan.tenants.append(plan_tenant(spec, live.main.get(tenant), live.retired.get(tenant), namespace,
                                            selector, now))
    # retired keys of tenants that no longer exist at all (main Secret gone)
    listed = set(s.name for s in specs)
    for tenant, retired in sorted(live.retired.items()):
        if tenant in live.main or tenant in listed or (prune and tenant in inventory_owned(live)):
            continue
        spec = TenantSpec(name=tenant, state="absent")
        stale = plan_tenant(spec, None, [r for r in retired if _expired_retired(r, now)], namespace, selector, now)
        if stale.actions:
            plan.tenants.append(stale)
    return plan, errors


def _expired_retired(secret, now):
    moment = parse_rfc3339((_meta(secret).get("annotations") or {}).get(RETIRES_ANNOTATION) or "")
    return moment is None or moment <= now
