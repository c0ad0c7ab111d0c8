# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Filters over the tenant modules' results. The logic lives in plugins/module_utils/_tenants/ (unit-tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import handover


def new_keys_report(result, handover_ttl, shown=5):
    """``tenants``/``tenant`` result -> a few lines saying where the run's new keys went."""
    result = result or {}
    return handover.new_keys_report(dict(result.get("key_files") or {}), dict(result.get("handovers") or {}),
                                    str(handover_ttl), int(shown))


class FilterModule(object):
    """TokenLabs tenant filters."""

    def filters(self):
        return {"new_keys_report": new_keys_report}
