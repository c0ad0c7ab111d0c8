# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""A reader of Prometheus' HTTP API (``/api/v1/query``, ``/api/v1/query_range``) for the usage jobs.

Private to this collection (not an API for other collections; it may change
without notice). Needs only read access; the bearer token is sent, never returned or logged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url


class PrometheusError(Exception):
    """Prometheus did not answer, or refused the query; the message names the URL and the reason."""


class Prometheus(object):
    def __init__(self, url, token=None, validate_certs=True, timeout=60, opener=None):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": "Bearer %s" % token} if token else {}
        self.validate_certs, self.timeout = validate_certs, timeout
        self._open = opener or open_url

    def _get(self, path, params):
        url = "%s%s?%s" % (self.url, path, urlencode(params))
        try:
            response = self._open(url, headers=self.headers, validate_certs=self.validate_certs,
                                  timeout=self.timeout, method="GET")
            body = json.loads(response.read())
        except Exception as exc:  # pylint: disable=broad-except
            detail = getattr(exc, "read", None)
            text = ""
            if detail:
                try:
                    text = json.loads(detail()).get("error", "")
                except Exception:  # pylint: disable=broad-except
                    text = ""
            raise PrometheusError("Prometheus at %s did not answer %s: %s%s"
                                  % (self.url, path, exc, (" (%s)" % text) if text else ""))
        if body.get("status") != "success":
            raise PrometheusError("Prometheus at %s refused the query %s: %s"
                                  % (self.url, params.get("query"), body.get("error", body)))
        return body["data"]

    def ready(self):
        """The server answers a trivial query (``time()``)."""
        self._get("/api/v1/query", {"query": "time()"})

    def instant(self, query, at):
        """``[(labels, value)]`` of an instant vector at unix time ``at``."""
        data = self._get("/api/v1/query", {"query": query, "time": at})
        return [(item["metric"], float(item["value"][1])) for item in data.get("result", [])]

    def range(self, query, start, end, step):
        """``[(labels, [(unix time, value)])]`` of a range query."""
        data = self._get("/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step})
        return [(item["metric"], [(int(float(t)), float(v)) for t, v in item["values"]])
                for item in data.get("result", [])]
