# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""The option specs of the tenant modules, each next to the doc fragment that documents it.

Private to this collection (not an API for other collections; it may change
without notice). ``TENANT_SECRETS_ARG_SPEC`` <-> doc fragment ``tenant_secrets``
(tenant, tenants, tenant_info, tier_policies); ``TENANT_FIELDS_ARG_SPEC`` <->
``tenant_fields`` (top-level options of ``tenant``, suboptions of ``tenants[]``);
``TENANT_RUN_ARG_SPEC`` <-> ``tenant_run`` (tenant, tenants).
tests/unit/plugins/module_utils/_tenants/test_options.py keeps each pair equal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Where tenant Secrets live (doc fragment tokenlabs.inference.tenant_secrets); tier_policies and tenant_info share it.
TENANT_SECRETS_ARG_SPEC = {
    "kuadrant_namespace": {"type": "str", "default": "kuadrant-system", "aliases": ["namespace"]},
    "tenant_selector": {"type": "dict", "default": {"app": "token-labs"}, "aliases": ["selector"]},
}

# The fields of one tenant (doc fragment tokenlabs.inference.tenant_fields): top-level options of
# ``tenant``, suboptions of ``tenants[]``.
TENANT_FIELDS_ARG_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "tier": {"type": "str"},
    "user_id": {"type": "str"},
    "display_name": {"type": "str"},
    "contact": {"type": "str"},
    "expires_at": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "rotate": {"type": "bool", "default": False},
    "key_generation": {"type": "int", "no_log": False},
    "grace_period": {"type": "str"},
    "take_over": {"type": "bool", "default": False},
}

# Options of both modules about the run itself (doc fragment tokenlabs.inference.tenant_run): which tiers
# are valid (read from the AuthPolicy auth_policy_namespace/auth_policy_name) and where new keys go.
TENANT_RUN_ARG_SPEC = {
    "tiers": {"type": "raw"},
    "auth_policy_namespace": {"type": "str", "default": "token-labs", "aliases": ["target_namespace"]},
    "auth_policy_name": {"type": "str", "default": "token-labs-auth"},
    "key_dir": {"type": "path"},
    "return_keys": {"type": "bool", "default": False, "aliases": ["return_key"]},
    "handover_namespace": {"type": "str"},
    "handover_ttl": {"type": "str", "default": "24h"},
}


def argument_spec(*parts):
    """A fresh argument spec merged from ``parts`` (dicts of option specs)."""
    spec = {}
    for part in parts:
        for name, value in part.items():
            spec[name] = dict(value)
    return spec
