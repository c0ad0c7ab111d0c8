"""A Prometheus stand-in for the usage unit tests: answers the report's queries from a table (the real server
answers them in tests/integration/test_usage_report.py)."""

import re

from ansible_collections.tokenlabs.inference.plugins.module_utils._usage.prometheus import PrometheusError


class FakePrometheus:
    def __init__(self, daily=None, peaks=None, down=False):
        self.daily = daily or {}      # kind -> [(labels, [(t, v)])]
        self.peaks = peaks or []      # [(labels, v)]
        self.down = down
        self.queries = []

    def ready(self):
        if self.down:
            raise PrometheusError("Prometheus at http://127.0.0.1:1 did not answer /api/v1/query: refused")

    def range(self, query, start, end, step):
        self.queries.append((query, start, end, step))
        for kind, series in self.daily.items():
            if kind in query:
                return [(labels, values) for labels, values in series if self._wanted(query, labels)]
        return []

    @staticmethod
    def _wanted(query, labels):
        match = re.search(r'tenant=~"([^"]*)"', query)
        return not match or labels["tenant"] in match.group(1).split("|")

    def instant(self, query, at):
        self.queries.append((query, at))
        return self.peaks
