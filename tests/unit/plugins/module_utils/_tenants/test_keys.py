"""Tenant keys: generation, fingerprints, strength checks, redaction."""

from __future__ import annotations

import json
import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import keys as tenant_keys
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec

from tenant_fixtures import TIERS, KEY_A, KEY_B  # noqa: F401


def test_generated_keys_have_prefix_and_at_least_192_bits():
    keys = {tenant_keys.generate_key() for unused in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("tlabs_sk_")
        body = key[len("tlabs_sk_"):]
        assert len(body) * 4 >= 192 and int(body, 16) >= 0
        assert tenant_keys.key_problem(key) is None


def test_fingerprint_is_a_short_sha256_prefix_and_never_the_key():
    fp = tenant_keys.fingerprint(KEY_A)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 16
    assert KEY_A not in fp and fp == tenant_keys.fingerprint(KEY_A) != tenant_keys.fingerprint(KEY_B)


@pytest.mark.parametrize("key,fragment", [
    ("sh0rtkey", "too short"),
    ("a" * 300, "too long"),
    ("Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMn Bv", "alphabet"),
    ("Zx9_kL2mQ8vR4tY7uI1oP3aS5dF6gH0jKlMn/Bv", "alphabet"),
    ("abababababababababababababababababab", "too weak"),
    ("tlabs_free_demo_key_change_me_123456789", "placeholder"),
])
def test_weak_keys_are_refused_without_quoting_them(key, fragment):
    problem = tenant_keys.key_problem(key)
    assert problem and fragment in problem
    assert key not in problem
    unused_spec, errors = tenant_spec.validate_item({"name": "acme", "tier": "pro", "api_key": key}, TIERS)
    assert errors and "api_key (value hidden)" in errors[0] and key not in errors[0]


def test_scrub_removes_plain_and_base64_keys():
    text = "boom %s and %s" % (KEY_A, tenant_keys.encode_key(KEY_A))
    assert KEY_A not in tenant_keys.scrub(text, [KEY_A, None])
    assert tenant_keys.encode_key(KEY_A) not in tenant_keys.scrub(text, [KEY_A])


def test_redact_generated_keys_in_plain_and_base64():
    key = tenant_keys.generate_key()
    result = {"a": ["x " + key], "b": {"c": tenant_keys.encode_key(key)}, "d": "safe"}
    clean = tenant_keys.redact_generated_keys(result)
    assert json.dumps(clean).count("tlabs_sk_") == 0 and key not in json.dumps(clean)
    assert tenant_keys.encode_key(key) not in json.dumps(clean) and clean["d"] == "safe"
    untouched = {"a": "nothing here"}
    assert tenant_keys.redact_generated_keys(untouched) is untouched
