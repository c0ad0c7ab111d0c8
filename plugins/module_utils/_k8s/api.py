# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Thin, fast access to the Kubernetes API for this collection's modules.

Private to this collection (not an API for other collections; it may change
without notice).

The connection is built by kubernetes.core (``get_api_client``), so kubeconfig,
context, in-memory configs and AWX's ``K8S_AUTH_*`` environment variables all
work exactly as in ``kubernetes.core.k8s``.  Requests themselves go straight
through the client's ``ApiClient.call_api`` with raw JSON in and out: no
discovery, no model objects, safe to use from several threads at once.

The Kubernetes bearer token option is called ``k8s_api_key`` in this
collection (``api_key`` is a tenant's key in the tenant modules); the
``K8S_AUTH_API_KEY`` environment variable keeps working.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
from concurrent.futures import ThreadPoolExecutor

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    HAS_K8S_CORE = True
    K8S_CORE_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_K8S_CORE = False
    K8S_CORE_IMPORT_ERROR = exc
    CoreException = Exception

FIELD_MANAGER = "tokenlabs-inference"
# Accept header for metadata-only LISTs (no Secret data leaves the API server).
METADATA_ONLY_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

# Options shared by every Kubernetes module of the collection
# (documented in the tokenlabs.inference.k8s_auth doc fragment).
K8S_AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "k8s_api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}

_AUTH_PASSTHROUGH = ("kubeconfig", "context", "host", "username", "password", "validate_certs",
                     "ca_cert", "client_cert", "client_key", "proxy", "no_proxy", "persist_config",
                     "impersonate_user", "impersonate_groups")


def auth_argument_spec(extra=None):
    """Return a fresh argument spec: the shared auth options plus ``extra``."""
    spec = {name: dict(value) for name, value in K8S_AUTH_ARG_SPEC.items()}
    spec.update(extra or {})
    return spec


class ApiError(Exception):
    """A Kubernetes API request failed.  ``str()`` is safe to show to operators."""

    def __init__(self, status, reason, message, method=None, path=None, details=None):
        self.status = status
        self.reason = reason
        self.message = message
        # the Status object's ``details`` (e.g. {"kind": "namespaces", "name": ...} on a 404)
        self.details = details or {}
        self.method = method
        self.path = path
        super(ApiError, self).__init__(self.describe())

    def describe(self):
        where = "%s %s" % (self.method, self.path) if self.method else "request"
        if self.status == 403:
            return ("%s was forbidden (403): %s. The credential lacks this permission; grant it "
                    "with a Role/RoleBinding in that namespace or use a credential that has it."
                    % (where, self.message))
        if self.status == 401:
            return "%s was not authenticated (401): %s. Check the kubeconfig or token." % (where, self.message)
        if self.status == 0:
            return "%s failed: %s" % (where, self.message)
        return "%s failed (%s %s): %s" % (where, self.status, self.reason, self.message)


class ApiUnreachable(ApiError):
    def __init__(self, host, detail):
        self.host = host
        ApiError.__init__(self, 0, "Unreachable",
                          "cannot reach the Kubernetes API server at %s (%s)" % (host, detail))

    def describe(self):
        return self.message


def _status(body):
    """``(message, details)`` of a Kubernetes Status response body."""
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        text = (body or b"").decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        return text[:500], {}
    if not isinstance(doc, dict):
        return str(doc)[:500], {}
    return doc.get("message") or doc.get("reason") or str(doc)[:500], doc.get("details") or {}


class KubeApi(object):
    """Raw JSON requests against the API server.

    ``dry_run=True`` turns every write into an API-server dry run (``dryRun=All``):
    validation, defaulting and admission run, nothing is stored.
    ``writes`` counts the non-dry-run writes sent (creates, patches, deletes).
    """

    def __init__(self, api_client, dry_run=False, field_manager=FIELD_MANAGER, host=None, timeout=30):
        self.api_client = api_client
        self.dry_run = dry_run
        self.field_manager = field_manager
        self.host = host or getattr(getattr(api_client, "configuration", None), "host", "?")
        self.timeout = timeout
        self.writes = 0

    # -- core
    def request(self, method, path, body=None, query=None, content_type="application/json", accept=None):
        query = list((query or {}).items()) if isinstance(query, dict) else list(query or [])
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            if self.dry_run:
                query.append(("dryRun", "All"))
            if method != "DELETE" and self.field_manager:
                query.append(("fieldManager", self.field_manager))
        headers = {"Accept": accept or "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            data = self._send(method, path, query, headers, body)
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below
            raise self._translate(exc, method, path)
        if method in ("POST", "PUT", "PATCH", "DELETE") and not self.dry_run:
            self.writes += 1
        return json.loads(data) if data else None

    def _send(self, method, path, query, headers, body):
        """One HTTP request through the kubernetes client; returns the raw response body."""
        if hasattr(self.api_client, "param_serialize"):
            # kubernetes >= 35 (openapi-generator v7 client): call_api(method, url, ...) returns the
            # response without raising on error statuses; the JSON body is serialized by the client.
            if isinstance(body, str):
                body = json.loads(body)
            serialized = self.api_client.param_serialize(
                method, path, query_params=query, header_params=headers, body=body,
                auth_settings=["BearerToken"])
            resp = self.api_client.call_api(*serialized, _request_timeout=self.timeout)
            data = resp.read()
            if not 200 <= resp.status < 300:
                message, details = _status(data)
                raise ApiError(resp.status, resp.reason, message, method, path, details)
            return data
        payload = body if body is None or isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        resp = self.api_client.call_api(
            path, method, query_params=query, header_params=headers, body=payload,
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
            _request_timeout=self.timeout)
        return resp.data

    def _translate(self, exc, method, path):
        status = getattr(exc, "status", None)
        if status:
            message, details = _status(getattr(exc, "body", ""))
            return ApiError(status, getattr(exc, "reason", ""), message, method, path, details)
        name = type(exc).__name__
        if name in ("MaxRetryError", "NewConnectionError", "ConnectionError", "ProtocolError",
                    "ConnectTimeoutError", "ReadTimeoutError", "SSLError", "TimeoutError", "OSError"):
            reason = getattr(exc, "reason", None) or exc
            return ApiUnreachable(self.host, "%s: %s" % (type(reason).__name__, reason))
        return ApiError(0, name, "%s: %s" % (name, exc), method, path)

    # -- helpers
    def get(self, path, query=None, missing_ok=False):
        try:
            return self.request("GET", path, query=query)
        except ApiError as err:
            if missing_ok and err.status == 404:
                return None
            raise

    def list(self, path, label_selector=None, limit=None, metadata_only=False):
        """LIST a collection, following ``continue`` tokens; returns the items.

        ``metadata_only=True`` asks for PartialObjectMetadata: items carry only
        ``metadata`` (e.g. Secret annotations without the secret data).
        """
        accept = METADATA_ONLY_ACCEPT if metadata_only else None
        items = []
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if limit:
            query["limit"] = str(limit)
        while True:
            doc = self.request("GET", path, query=dict(query), accept=accept)
            items.extend(doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    def create(self, path, body):
        return self.request("POST", path, body=body)

    def merge_patch(self, path, body):
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def apply(self, path, body, force=True):
        """Server-side apply ``body`` with this client's field manager."""
        query = {"force": "true"} if force else None
        return self.request("PATCH", path, body=body, query=query, content_type="application/apply-patch+yaml")

    def delete(self, path, missing_ok=True, preconditions=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if self.dry_run:
            # the API server reads DELETE options from the body when there is one and
            # ignores the dryRun query parameter: without this a check-mode delete is real.
            body["dryRun"] = ["All"]
        if preconditions:
            body["preconditions"] = preconditions
        try:
            return self.request("DELETE", path, body=body)
        except ApiError as err:
            if missing_ok and err.status == 404:
                return None
            raise


def run_concurrently(func, items, workers=16):
    """Apply ``func`` to every item with a thread pool.

    Returns a list of ``(item, result, error)`` in input order; never raises for
    a single item's failure, so callers can apply the rest and report exactly
    which items failed.
    """
    items = list(items)
    if not items:
        return []

    def _one(item):
        try:
            return item, func(item), None
        except Exception as exc:  # noqa: BLE001 - reported per item
            return item, None, exc

    if len(items) == 1 or workers <= 1:
        return [_one(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(_one, items))


def _looks_unreachable(exc):
    """Whether building the client failed because the API server could not be reached."""
    seen = 0
    while exc is not None and seen < 5:
        if type(exc).__name__ in ("MaxRetryError", "NewConnectionError", "ConnectionError", "ConnectTimeoutError",
                                  "ReadTimeoutError", "ConnectionRefusedError", "TimeoutError"):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def connect(module, dry_run=None, workers=16):
    """Build a :class:`KubeApi` from the module's auth options (or K8S_AUTH_* env)."""
    if not HAS_K8S_CORE:
        raise ApiError(0, "MissingDependency",
                       "the kubernetes.core collection is required (%s)" % K8S_CORE_IMPORT_ERROR)
    params = module.params
    kwargs = dict((name, params.get(name)) for name in _AUTH_PASSTHROUGH if params.get(name) is not None)
    if params.get("k8s_api_key") is not None:
        kwargs["api_key"] = params["k8s_api_key"]
    try:
        client = get_api_client(module=None, **kwargs)
    except Exception as exc:  # noqa: BLE001 - CoreException, kubeconfig parsing errors and the like
        detail = str(exc) if isinstance(exc, CoreException) else "%s: %s" % (type(exc).__name__, exc)
        if _looks_unreachable(exc):
            host = kwargs.get("host") or os.environ.get("K8S_AUTH_HOST") or "the configured address"
            raise ApiUnreachable(host, detail)
        raise ApiError(0, "Config", "could not build a Kubernetes client: %s" % detail)
    api_client = client.client.client
    configuration = api_client.configuration
    if getattr(configuration, "connection_pool_maxsize", 0) < workers:
        configuration.connection_pool_maxsize = workers
        # the pool manager is created lazily with the configured size; rebuild it.
        try:
            from kubernetes.client import rest
            api_client.rest_client = rest.RESTClientObject(configuration)
        except Exception:  # noqa: BLE001 - keep the default pool
            pass
    if dry_run is None:
        dry_run = module.check_mode
    return KubeApi(api_client, dry_run=dry_run, host=configuration.host)
