# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The fields of one tenant and the run options, shared by the tenant and tenants modules.

``DOCUMENTATION`` documents them as top-level options (module ``tenant``);
``TENANTS`` holds the very same text as the suboptions of ``tenants`` (module
``tenants``). Doc fragments must be literal strings, so the text is here twice;
tests/unit/plugins/module_utils/_tenants/test_module.py keeps both copies equal
to each other and to the argument spec in ``module_utils/_tenants/module.py``.
Edit both.
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
  tiers:
    description:
      - The valid tiers, as the tier table C(tokenlabs_tiers) (a dict keyed by tier name) or a list of names.
      - Omitted, they are read from the deployed AuthPolicy (annotation C(tokenlabs.io/tiers), written by the
        C(tiers) role), so a stale inventory cannot give a tenant a tier the gateway refuses. Given and different
        from the deployed tiers, the module fails before writing anything (in check mode it warns).
    type: raw
  target_namespace:
    description:
      - Namespace of the AuthPolicy the tiers are read from, the gateway namespace (C(tokenlabs_gateway_namespace)).
    type: str
    default: token-labs
  auth_policy_name:
    description:
      - Name of that AuthPolicy (C(tokenlabs_auth_policy_name)).
    type: str
    default: token-labs-auth
  key_dir:
    description:
      - Directory (on the controller with C(connection=local)) for generated keys, one file C(<name>.key) with mode
        C(0600) per new or rotated key, written only after its Secret was written. Created with mode C(0700).
      - A generated key needs a destination (key_dir, the tenant module's api_key_file, or return_keys), otherwise
        the module fails before writing anything.
    type: path
  return_keys:
    description:
      - Return generated keys in RV(api_keys). Off by default so job logs stay clean; when on, register the result
        with C(no_log=true).
    type: bool
    default: false
    aliases: [return_key]
  handover_namespace:
    description:
      - Also put every generated key into a hand-over Secret C(key-handover-<name>-<fingerprint>) in this
        namespace (one only operators can read, C(tokenlabs_key_handover_namespace)), written before the tenant
        Secret and removed again if that write fails. For AWX, whose job container loses key files; an
        operator picks the key up with C(playbooks/tenant_key_pickup.yml), which deletes the hand-over.
      - Runs with it remove hand-overs older than O(handover_ttl). It is a destination for new keys.
    type: str
  handover_ttl:
    description:
      - How long a hand-over Secret waits for its operator, for example V(24h), V(7d).
    type: str
    default: 24h
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
  tiers:
    description:
      - The valid tiers, as the tier table C(tokenlabs_tiers) (a dict keyed by tier name) or a list of names.
      - Omitted, they are read from the deployed AuthPolicy (annotation C(tokenlabs.io/tiers), written by the
        C(tiers) role), so a stale inventory cannot give a tenant a tier the gateway refuses. Given and different
        from the deployed tiers, the module fails before writing anything (in check mode it warns).
    type: raw
  target_namespace:
    description:
      - Namespace of the AuthPolicy the tiers are read from, the gateway namespace (C(tokenlabs_gateway_namespace)).
    type: str
    default: token-labs
  auth_policy_name:
    description:
      - Name of that AuthPolicy (C(tokenlabs_auth_policy_name)).
    type: str
    default: token-labs-auth
  key_dir:
    description:
      - Directory (on the controller with C(connection=local)) for generated keys, one file C(<name>.key) with mode
        C(0600) per new or rotated key, written only after its Secret was written. Created with mode C(0700).
      - A generated key needs a destination (key_dir, the tenant module's api_key_file, or return_keys), otherwise
        the module fails before writing anything.
    type: path
  return_keys:
    description:
      - Return generated keys in RV(api_keys). Off by default so job logs stay clean; when on, register the result
        with C(no_log=true).
    type: bool
    default: false
    aliases: [return_key]
  handover_namespace:
    description:
      - Also put every generated key into a hand-over Secret C(key-handover-<name>-<fingerprint>) in this
        namespace (one only operators can read, C(tokenlabs_key_handover_namespace)), written before the tenant
        Secret and removed again if that write fails. For AWX, whose job container loses key files; an
        operator picks the key up with C(playbooks/tenant_key_pickup.yml), which deletes the hand-over.
      - Runs with it remove hand-overs older than O(handover_ttl). It is a destination for new keys.
    type: str
  handover_ttl:
    description:
      - How long a hand-over Secret waits for its operator, for example V(24h), V(7d).
    type: str
    default: 24h
"""
