# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Filters of the monitoring role. The logic lives in plugins/module_utils/_monitoring/ (unit-tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.tokenlabs.inference.plugins.module_utils._monitoring import dashboards
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.filter.platform import _plain


def grafana_dashboards(tiers, namespace, labels=None, folder="Token Labs"):
    """``tokenlabs_tiers`` -> the dashboards' ConfigMaps (platform view, tenant view with the tiers' quotas)."""
    try:
        table = tier_table.validate_tiers(_plain(tiers))
    except tier_table.TierTableError as exc:
        raise AnsibleFilterError(str(exc))
    return dashboards.config_maps(table, str(namespace), _plain(labels or {}), str(folder))


class FilterModule(object):
    """TokenLabs monitoring filters."""

    def filters(self):
        return {"grafana_dashboards": grafana_dashboards}
