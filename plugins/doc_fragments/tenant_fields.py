# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The fields of one tenant, shared by the tenant and tenants modules.

``DOCUMENTATION`` documents them as top-level options (module ``tenant``);
``TENANTS`` holds the very same text as the suboptions of ``tenants`` (module
``tenants``). Doc fragments must be literal strings, so the text is here twice;
tests/unit/plugins/module_utils/_tenants/test_options.py keeps both copies equal
to each other and to ``TENANT_FIELDS_ARG_SPEC`` in ``module_utils/_tenants/options.py``.
Edit both. The run options (tiers, where new keys go) are the fragment ``tenant_run``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  name:
    description:
      - Tenant name, a DNS-1123 label. The Secret is called C(tenant-<name>).
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the tenant; V(absent) revokes it (deletes its Secret and retired keys).
    type: str
    choices: [present, absent]
    default: present
  tier:
    description:
      - Tier of the tenant, one of the tiers. Required to create a tenant; omitted keeps the current tier.
    type: str
  user_id:
    description:
      - Identity used as the quota counter key, a DNS-1123 label unique among tenants.
      - Defaults to the name for a new tenant; omitted keeps the current value of an existing tenant.
    type: str
  display_name:
    description:
      - Human-readable name, stored as annotation. Omitted keeps the current value; an empty string removes it.
    type: str
  contact:
    description:
      - Contact of the tenant, stored as annotation. Omitted keeps the current value; an empty string removes it.
    type: str
  expires_at:
    description:
      - Expiry as an RFC 3339 timestamp with a timezone (for example V(2026-12-31T23:59:59Z)), stored as annotation
        C(tokenlabs.io/expires-at); the AuthPolicy refuses the key after it. Must lie in the future when set or
        changed. An empty string removes it.
    type: str
  api_key:
    description:
      - The key to install instead of a generated one (keep it in Ansible Vault), at least 32 characters of letters,
        digits and C(. _ ~ -), not a placeholder, not the key of another tenant.
      - For an existing tenant a different key replaces the current one (a rotation).
    type: str
  rotate:
    description:
      - Runbook only. Replace the key with a new one (generated, or the given api_key); every run with V(true)
        rotates again. The inventory (module C(tenants)) refuses it; raise key_generation there instead.
    type: bool
    default: false
  key_generation:
    description:
      - Declarative rotation. The live key generation is stored in the annotation C(tokenlabs.io/key-generation)
        (the first key is 1). A value above it rotates the key once, with the optional grace_period; the same value
        changes nothing; a lower value is an error.
    type: int
  grace_period:
    description:
      - With a rotation (rotate, or a raised key_generation), how long the previous key keeps working, for example
        V(30m), V(24h), V(7d), V(1h30m), as a second Secret C(tenant-<name>.retired-<fingerprint>) with the same
        tier and user id (the quota stays shared). Given without a rotation it is an error.
    type: str
  take_over:
    description:
      - Manage a tenant that the other path owns (annotation C(tokenlabs.io/owner)). Without it the module refuses
        any change to such a tenant with a message saying where it is managed; with it the owner becomes this path
        (C(runbook) for module C(tenant), C(inventory) for module C(tenants)). Remove the flag after that run.
    type: bool
    default: false
"""

    TENANTS = r"""
options:
  tenants:
    suboptions:
      name:
        description:
          - Tenant name, a DNS-1123 label. The Secret is called C(tenant-<name>).
        type: str
        required: true
      state:
        description:
          - V(present) creates or updates the tenant; V(absent) revokes it (deletes its Secret and retired keys).
        type: str
        choices: [present, absent]
        default: present
      tier:
        description:
          - Tier of the tenant, one of the tiers. Required to create a tenant; omitted keeps the current tier.
        type: str
      user_id:
        description:
          - Identity used as the quota counter key, a DNS-1123 label unique among tenants.
          - Defaults to the name for a new tenant; omitted keeps the current value of an existing tenant.
        type: str
      display_name:
        description:
          - Human-readable name, stored as annotation. Omitted keeps the current value; an empty string removes it.
        type: str
      contact:
        description:
          - Contact of the tenant, stored as annotation. Omitted keeps the current value; an empty string removes it.
        type: str
      expires_at:
        description:
          - Expiry as an RFC 3339 timestamp with a timezone (for example V(2026-12-31T23:59:59Z)), stored as annotation
            C(tokenlabs.io/expires-at); the AuthPolicy refuses the key after it. Must lie in the future when set or
            changed. An empty string removes it.
        type: str
      api_key:
        description:
          - The key to install instead of a generated one (keep it in Ansible Vault), at least 32 characters of letters,
            digits and C(. _ ~ -), not a placeholder, not the key of another tenant.
          - For an existing tenant a different key replaces the current one (a rotation).
        type: str
      rotate:
        description:
          - Runbook only. Replace the key with a new one (generated, or the given api_key); every run with V(true)
            rotates again. The inventory (module C(tenants)) refuses it; raise key_generation there instead.
        type: bool
        default: false
      key_generation:
        description:
          - Declarative rotation. The live key generation is stored in the annotation C(tokenlabs.io/key-generation)
            (the first key is 1). A value above it rotates the key once, with the optional grace_period; the same value
            changes nothing; a lower value is an error.
        type: int
      grace_period:
        description:
          - With a rotation (rotate, or a raised key_generation), how long the previous key keeps working, for example
            V(30m), V(24h), V(7d), V(1h30m), as a second Secret C(tenant-<name>.retired-<fingerprint>) with the same
            tier and user id (the quota stays shared). Given without a rotation it is an error.
        type: str
      take_over:
        description:
          - Manage a tenant that the other path owns (annotation C(tokenlabs.io/owner)). Without it the module refuses
            any change to such a tenant with a message saying where it is managed; with it the owner becomes this path
            (C(runbook) for module C(tenant), C(inventory) for module C(tenants)). Remove the flag after that run.
        type: bool
        default: false
"""
