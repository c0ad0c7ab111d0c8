# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The run options of the tenant and tenants modules: which tiers are valid, where new keys go.

The argument spec is ``TENANT_RUN_ARG_SPEC`` in ``module_utils/_tenants/options.py``;
tests/unit/plugins/module_utils/_tenants/test_options.py keeps the two equal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  tiers:
    description:
      - The valid tiers, as the tier table C(tokenlabs_tiers) (a dict keyed by tier name) or a list of names.
      - Omitted, they are read from the deployed AuthPolicy (annotation C(tokenlabs.io/tiers), written by the
        C(tiers) role), so a stale inventory cannot give a tenant a tier the gateway refuses. Given and different
        from the deployed tiers, the module fails before writing anything (in check mode it warns).
    type: raw
  auth_policy_namespace:
    description:
      - Namespace of the AuthPolicy the tiers are read from, the gateway namespace (C(tokenlabs_gateway_namespace)).
      - The alias O(target_namespace) keeps playbooks written before the rename working.
    type: str
    default: token-labs
    aliases: [target_namespace]
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
