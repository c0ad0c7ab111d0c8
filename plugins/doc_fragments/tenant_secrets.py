# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Where tenant key Secrets live: options shared by the tenant modules and tier_policies."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kuadrant_namespace:
    description:
      - The Kuadrant namespace, where the tenant Secrets live and Authorino looks up API keys
        (C(tokenlabs_kuadrant_namespace)).
    type: str
    default: kuadrant-system
    aliases: [namespace]
  tenant_selector:
    description:
      - Labels that mark a Secret as a tenant API key, the selector of the AuthPolicy (C(tokenlabs_tenant_selector)).
    type: dict
    default: {app: token-labs}
    aliases: [selector]
"""
