# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Tenant API keys: generation, fingerprints, strength checks, redaction.

Key safety rules: a key (plain or base64) is never placed in a summary, diff,
error or plan description; summaries carry the fingerprint (a SHA-256 prefix);
live keys are only reduced to digests (for duplicate checks).

Private to this collection (not an API for other collections; it may change
without notice). No I/O: everything here is unit-tested directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import re
import secrets


KEY_FIELD = "api_key"
KEY_PREFIX = "tlabs_sk_"
KEY_BYTES = 32  # 256 bits from the secrets module (the brief asks for >= 192)
MIN_KEY_LENGTH = 32
MAX_KEY_LENGTH = 256
MIN_KEY_DISTINCT_CHARS = 10
KEY_ALPHABET_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
KEY_ALPHABET_TEXT = "letters, digits and . _ ~ -"
WEAK_KEY_MARKERS = ("changeme", "change_me", "change-me", "password", "example")
GENERATED_KEY_RE = re.compile(r"tlabs_sk_[0-9a-fA-F]+|dGxhYnNfc2tf[A-Za-z0-9+/=]*")


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
