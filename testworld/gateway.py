"""The gateway stand-in: what Envoy's filter chain does with a request on the Gateway's listener, done in Envoy's
order by a small HTTP server on 127.0.0.1 -- the only stand-in on the request path. **Envoy itself does not run
here**; everything that decides something about a request is the real component, configured only from the cluster.

What it reads (every :data:`POLL_INTERVAL` s, as Envoy gets xDS pushes; nothing from the collection's inventory):
Gateways and their listeners, the HTTPRoutes attached to them (the AI Gateway controller's generated route
included) and the HTTPRouteFilters they reference, InferencePools, Services and pods; the wasm-shim
plugin configuration kuadrant-operator generated for the Gateway (``spec.wasm[0].config`` of the
EnvoyExtensionPolicy ``kuadrant-<gateway>``) and the Limitador limits (the Limitador CR's ``spec.limits``).

Per request, in the order of the Envoy Gateway v1.9 HTTP filter chain with the AI Gateway extension
(``docs/dev/ai-gateway-extproc-v1.0.0.md`` section 4: ext_authz, AI Gateway ext_proc, ext_proc, wasm, ratelimit,
endpoint-picker ext_proc, router):

1. **Listener and route match** (Gateway API HTTPRoute matching: listener hostname, route hostnames, then the rule
   with the exact path, else the longest path prefix, then the most header matches; :func:`match`).
2. **AI Gateway ext_proc, router level** (only on a route the AI Gateway generated, annotation
   ``gateway.envoyproxy.io/ai-gateway-generated``): request headers, then the whole body (BUFFERED); it sets
   ``x-ai-eg-model`` from the body's model, and the route is matched again (``clear_route_cache``); an immediate
   response (``/v1/models``, a body that is not JSON) ends the request here. The real extproc
   (:mod:`testworld.ai_gateway_extproc`), driven by :class:`testworld.ai_gateway_client.Conversation`.
3. **wasm-shim** (Kuadrant's AuthPolicy, RateLimitPolicy and TokenRateLimitPolicy): the action set for the request,
   its auth action as a gRPC ``envoy.service.auth.v3.Authorization/Check`` to the real Authorino with the
   AuthConfig's name as ``context_extensions["host"]`` (:mod:`testworld.authorino_client`; Authorino's OK headers
   are added to the request), then its rate-limit actions -- CEL predicates and descriptors in wasm-shim v0.14.1's
   CEL crate, counted by Limitador v2.4.2's library on Redis (:mod:`testworld.quota_harness`); a denial or a 429 ends
   the request. The actions that read the response body (the token report) wait for it.
4. **Endpoint picker** (a rule whose backend is an InferencePool): Envoy's ext_proc stream to the pool's real
   picker (:mod:`testworld.endpoint_pickers`, :func:`testworld.endpoint_picker_client.pick`), which answers
   ``x-gateway-destination-endpoint`` or refuses (400/429/503).
5. **Router**: the endpoint (the picker's, or a Ready pod of a Service backend, computed as the EndpointSlice
   controller would: kube-apiserver refuses loopback addresses in EndpointSlices, and every pod IP here is one);
   on an AI Gateway route the upstream-level ext_proc stream first, with the rule's backend
   name and the AIGatewayRoute's name as Envoy's attributes (it rewrites ``:path`` and may replace the body, e.g.
   ``stream_options.include_usage``); then the request is proxied to ``http://<endpoint><path>``.
6. **Response**, filters in reverse: the AI Gateway ext_proc gets the response headers and body (each SSE event as
   it arrives; it records token usage per tenant), the wasm-shim's waiting actions count ``usage.total_tokens``
   (for a stream, from the event before ``[DONE]``), and the client gets the body -- a stream event by event
   (chunked).

The servers it calls are the test world's: Authorino's gRPC port (component ``authorino``), the extproc and picker
ports (the status files of ``ai-gateway-extproc`` and ``endpoint-pickers``), and a redis-server of its own on
127.0.0.1 for Limitador's counters. Each Gateway listener is served on a free port of 127.0.0.1 (``listeners`` in
the status file: ``{"<ns>/<gateway>/<listener>": {"port": port}}``), not on the Gateway's address: two test worlds on one
machine share the loopback. It dials nothing outside 127.0.0.0/8 (a backend address elsewhere is a 503).
Upstream response headers go back to the client but for the hop-by-hop ones (and ``server``/``date``, its own).
The status file's ``timings_ms`` sums the wall time of each decision on the path (``{phase: {count, total_ms}}``:
``ai_gateway_router``, ``wasm_action_set``, ``auth``, ``limits``, ``endpoint_picker``, ``ai_gateway_upstream``,
``model_server_headers``, ``ai_gateway_response``, ``token_report``), which ``bench/request_path_bench.py`` reads.

    python -m testworld.gateway run --kubeconfig K --status-file F --work-dir D --state-dir S
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc

from testworld import authorino as authorino_component
from testworld import quota_harness
from testworld.ai_gateway_client import Conversation
from testworld.authorino_client import AuthorinoClient
from testworld.base import State, free_port, stop_process
from testworld.endpoint_picker_client import pick
from testworld.netns import LOOPBACK
from testworld.redis import RedisServer
from testworld.supervision import (Kubernetes, reconcile_until_stopped, reconciler_parser, reconciler_ready,
                                   run_until_signalled, supervisor_status, up_reconciler)

NAME = "gateway"
SUBJECT = "/O=system:masters/CN=system:testworld:gateway"
POLL_INTERVAL = 1.0
AI_GATEWAY_GENERATED = "gateway.envoyproxy.io/ai-gateway-generated"
MODEL_HEADER = "x-ai-eg-model"
POOL_GROUP = "inference.networking.k8s.io"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
UPSTREAM_TIMEOUT = 120.0


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

def hostname_matches(pattern: str | None, host: str) -> bool:
    """Gateway API hostname matching: none matches all, ``*.example.com`` one or more labels below it."""
    if not pattern:
        return True
    host = host.split(":", 1)[0].lower()
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def attached(route: dict, gateway: dict, listener: dict) -> bool:
    """Whether an HTTPRoute is attached to this Gateway listener (parentRefs, sectionName/port, hostnames)."""
    gw_ns, gw_name = gateway["metadata"]["namespace"], gateway["metadata"]["name"]
    route_ns = route["metadata"]["namespace"]
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if ref.get("kind", "Gateway") != "Gateway" or ref.get("name") != gw_name:
            continue
        if ref.get("namespace", route_ns) != gw_ns:
            continue
        if ref.get("sectionName") and ref["sectionName"] != listener["name"]:
            continue
        if ref.get("port") and int(ref["port"]) != int(listener["port"]):
            continue
        hostnames = (route.get("spec") or {}).get("hostnames") or []
        if listener.get("hostname") and hostnames and not any(
                hostname_matches(h, listener["hostname"].lstrip("*.")) or hostname_matches(listener["hostname"], h)
                for h in hostnames):
            continue
        return True
    return False


def _path_score(match: dict, path: str) -> tuple | None:
    spec = match.get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = spec.get("type", "PathPrefix"), spec.get("value", "/")
    if kind == "Exact":
        return (2, len(value)) if path == value else None
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        if path == prefix or path.startswith(prefix + "/") or not prefix:
            return (1, len(prefix))
        return None
    return None  # RegularExpression: Envoy Gateway's extended support; not used by the collection


def match(routes: list[dict], host: str, method: str, path: str, headers: dict) -> tuple[dict, int] | None:
    """``(route, rule index)`` of the rule Envoy would pick for a request among the listener's routes, or None.

    Precedence (Gateway API HTTPRoute): the route's hostnames must match; then the exact path, else the longest
    prefix; then the method match; then the most header matches; ties go to the oldest route, then ns/name."""
    path = path.split("?", 1)[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    best, best_key = None, None
    for route in routes:
        spec = route.get("spec") or {}
        if spec.get("hostnames") and not any(hostname_matches(h, host) for h in spec["hostnames"]):
            continue
        for index, rule in enumerate(spec.get("rules") or []):
            for one in rule.get("matches") or [{}]:
                score = _path_score(one, path)
                if score is None or (one.get("method") and one["method"] != method):
                    continue
                wanted = one.get("headers") or []
                if any(h.get("type", "Exact") != "Exact" or lowered.get(h["name"].lower()) != h.get("value")
                       for h in wanted):
                    continue
                meta = route["metadata"]
                key = (score, 1 if one.get("method") else 0, len(wanted), -_created(meta),
                       tuple(-ord(c) for c in f"{meta['namespace']}/{meta['name']}"))
                if best_key is None or key > best_key:
                    best, best_key = (route, index), key
    return best


def _created(meta: dict) -> float:
    stamp = meta.get("creationTimestamp")
    if not stamp:
        return 0.0
    return time.mktime(time.strptime(str(stamp)[:19], "%Y-%m-%dT%H:%M:%S"))


def service_endpoints(service: dict, pods: list[dict], port: int | str) -> list[str]:
    """``ip:port`` of a Service port's endpoints, computed as the EndpointSlice controller does: the Service's
    namespace, pods matching its selector, Ready, with a pod IP; the target port by number, or by name from the
    pod's container ports. (The test world cannot have the slices themselves: kube-apiserver refuses an
    EndpointSlice address in 127.0.0.0/8, "may not be in the loopback range", and every pod IP here is one.)"""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    service_port = next((p for p in spec.get("ports") or [] if p.get("port") == port or p.get("name") == port), None)
    if not selector or service_port is None:
        return []
    target = service_port.get("targetPort", service_port.get("port"))
    found = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") != service["metadata"]["namespace"] or meta.get("deletionTimestamp") or \
                any(labels.get(k) != v for k, v in selector.items()) or not status.get("podIP"):
            continue
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
            continue
        number = target if isinstance(target, int) else next(
            (p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
             for p in c.get("ports") or [] if p.get("name") == target), None)
        if number:
            found.append(f"{status['podIP']}:{number}")
    return sorted(found)


def loopback(endpoint: str) -> bool:
    try:
        return ipaddress.ip_address(endpoint.rsplit(":", 1)[0]) in LOOPBACK
    except ValueError:
        return False


def aigw_backend_name(route: dict, rule: int, ref: int, pool: str) -> str:
    """The backend name the AI Gateway controller writes into the filter config for an InferencePool reference
    (``<route ns>/<pool>/route/<route>/rule/<rule>/ref/<ref>``, internalapi.go)."""
    return f"{route['metadata']['namespace']}/{pool}/route/{route['metadata']['name']}/rule/{rule}/ref/{ref}"


def sse_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete ``\\n\\n``-terminated events in ``buffer`` and the rest."""
    events = []
    while b"\n\n" in buffer:
        event, buffer = buffer.split(b"\n\n", 1)
        events.append(event + b"\n\n")
    return events, buffer


# --- the configuration Envoy would have -------------------------------------------------------------------------

class Snapshot:
    """What the gateway knows from the cluster at one moment (rebuilt every :data:`POLL_INTERVAL` s)."""

    def __init__(self, kube: Kubernetes, kuadrant_namespace: str):
        custom = kube.custom

        def listed(group, version, plural):
            try:
                return custom.list_cluster_custom_object(group, version, plural).get("items") or []
            except kube.ApiException as exc:
                if exc.status == 404:
                    return []
                raise
        self.gateways = listed("gateway.networking.k8s.io", "v1", "gateways")
        self.routes = listed("gateway.networking.k8s.io", "v1", "httproutes")
        self.filters = {_key(f): f for f in listed("gateway.envoyproxy.io", "v1alpha1", "httproutefilters")}
        self.pools = {_key(p): p for p in listed(POOL_GROUP, "v1", "inferencepools")}
        self.wasm = {}
        for policy in listed("gateway.envoyproxy.io", "v1alpha1", "envoyextensionpolicies"):
            name = policy["metadata"]["name"]
            wasm = (policy.get("spec") or {}).get("wasm") or []
            if name.startswith("kuadrant-") and wasm:
                self.wasm[f"{policy['metadata']['namespace']}/{name[len('kuadrant-'):]}"] = wasm[0].get("config")
        limitadors = [item for item in listed("limitador.kuadrant.io", "v1alpha1", "limitadors")
                      if item["metadata"]["namespace"] == kuadrant_namespace]
        self.limits = [limit for item in limitadors for limit in (item.get("spec") or {}).get("limits") or []]
        serialize = kube.api.sanitize_for_serialization
        self.services = {_key(svc): svc for svc in serialize(kube.core.list_service_for_all_namespaces()).get("items")
                         or []}
        self.pods = serialize(kube.core.list_pod_for_all_namespaces()).get("items") or []

    def listeners(self) -> dict:
        """``{"<ns>/<gateway>/<listener>": (gateway, listener)}`` of the HTTP listeners."""
        return {f"{_key(g)}/{listener['name']}": (g, listener) for g in self.gateways
                for listener in (g.get("spec") or {}).get("listeners") or [] if listener.get("protocol") == "HTTP"}

    def routes_of(self, gateway: dict, listener: dict) -> list[dict]:
        return [r for r in self.routes if attached(r, gateway, listener)]


def _key(obj: dict) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


# --- one request ------------------------------------------------------------------------------------------------

class Answer(Exception):
    """The gateway answers the client itself (a local reply): status, body, headers."""

    def __init__(self, status: int, body: bytes = b"", headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _json_answer(status: int, message: str) -> Answer:
    return Answer(status, json.dumps({"error": {"message": message}}).encode(), {"content-type": "application/json"})


class Gateway:
    """The request path of every listener, with the servers it calls."""

    def __init__(self, kube: Kubernetes, state: State, kuadrant_namespace: str, redis_url: str):
        self.kube, self.state, self.kuadrant_namespace = kube, state, kuadrant_namespace
        self.redis_url = redis_url
        self.snapshot: Snapshot | None = None
        self.harnesses: dict[str, tuple[str, quota_harness.QuotaHarness, threading.Lock]] = {}
        self.lock = threading.Lock()
        self._authorino: tuple[int, AuthorinoClient] | None = None
        self._channels: dict[int, grpc.Channel] = {}
        self.ports: dict[str, dict] = {}
        self.timings: dict[str, list] = {}  # phase -> [requests, total seconds]

    @contextlib.contextmanager
    def timed(self, phase: str):
        """Add the block's wall time to ``phase`` (:data:`PHASES`; the status file's ``timings_ms``)."""
        begin = time.perf_counter()
        try:
            yield
        finally:
            with self.lock:
                entry = self.timings.setdefault(phase, [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - begin

    def timings_ms(self) -> dict:
        with self.lock:
            return {phase: {"count": count, "total_ms": round(total * 1000, 3)}
                    for phase, (count, total) in sorted(self.timings.items())}

    # the servers ------------------------------------------------------------------------------------------------
    def _read_ports(self) -> None:
        """Authorino's gRPC port and the ext_proc ports of the extprocs and pickers, from the test world's state and
        the supervisors' status files (kept from the last good read when a file is being rewritten)."""
        for component, items in (("ai-gateway-extproc", "gateways"), ("endpoint-pickers", "pickers")):
            try:
                found = json.loads((self.state.root / f"{component}.status.json").read_text()).get(items) or {}
            except (OSError, ValueError):
                continue
            self.ports[component] = {key: item.get("ext_proc") for key, item in found.items()}
        try:
            self.ports["authorino"] = authorino_component.load(self.state).get("grpc_port")
        except ValueError:
            pass

    def extproc_port(self, gateway_key: str) -> int | None:
        return self.ports.get("ai-gateway-extproc", {}).get(gateway_key)

    def picker_port(self, pool_key: str) -> int | None:
        return self.ports.get("endpoint-pickers", {}).get(pool_key)

    def authorino(self) -> AuthorinoClient:
        """A client of the test world's Authorino (one gRPC channel, shared by the request threads)."""
        port = self.ports.get("authorino")
        if not port:
            raise _json_answer(500, "the gateway stand-in finds no Authorino (component authorino is not up)")
        with self.lock:
            if self._authorino is None or self._authorino[0] != port:
                if self._authorino is not None:
                    self._authorino[1].close()
                self._authorino = (port, AuthorinoClient(port))
            return self._authorino[1]

    def channel(self, port: int) -> grpc.Channel:
        """The gRPC connection to an ext_proc server on ``127.0.0.1:<port>``, kept open and shared by the request
        threads (as Envoy keeps its gRPC connections to an ext_proc cluster)."""
        with self.lock:
            if port not in self._channels:
                self._channels[port] = grpc.insecure_channel(f"127.0.0.1:{port}")
            return self._channels[port]

    # the configuration ------------------------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Read the cluster again; (re)configure each Gateway's wasm-shim pipeline when it or the limits changed."""
        snapshot = Snapshot(self.kube, self.kuadrant_namespace)
        self._read_ports()
        problems = []
        for key, plugin in snapshot.wasm.items():
            digest = json.dumps([plugin, snapshot.limits], sort_keys=True)
            current = self.harnesses.get(key)
            if current and current[0] == digest:
                continue
            harness = current[1] if current else quota_harness.QuotaHarness()
            lock = current[2] if current else threading.Lock()
            with lock:
                answer = harness.call(op="configure", plugin=plugin, limits=snapshot.limits, storage=self.redis_url)
            if "error" in answer:
                problems.append(f"{key}: the wasm-shim configuration is refused: {answer['error']}")
                continue
            self.harnesses[key] = (digest, harness, lock)
        with self.lock:
            self.snapshot = snapshot
        return problems

    def close(self) -> None:
        for _digest, harness, _lock in self.harnesses.values():
            harness.close()
        if self._authorino is not None:
            self._authorino[1].close()
        for channel in self._channels.values():
            channel.close()

    # the filter chain -------------------------------------------------------------------------------------------
    def handle(self, listener_key: str, method: str, target: str, headers: dict, body: bytes, respond) -> None:
        """One request on a listener; ``respond(status, headers, chunks)`` writes the answer (``chunks`` an
        iterator of bytes; a streamed body when ``headers`` has no content-length)."""
        snapshot = self.snapshot
        if snapshot is None or listener_key not in snapshot.listeners():
            raise _json_answer(404, f"no listener {listener_key}")
        gateway, listener = snapshot.listeners()[listener_key]
        gateway_key = _key(gateway)
        request_headers = {k.lower(): v for k, v in headers.items()}
        request_headers.setdefault("x-request-id", str(uuid.uuid4()))
        host = request_headers.get("host", "")
        if listener.get("hostname") and not hostname_matches(listener["hostname"], host):
            raise Answer(404)  # Envoy: no virtual host for this authority
        routes = snapshot.routes_of(gateway, listener)
        path = target
        chosen = match(routes, host, method, path, request_headers)
        if chosen is None:
            raise Answer(404)
        conversation = None
        try:
            # 2. the AI Gateway's router-level ext_proc, on its generated routes
            route, rule = chosen
            if (route["metadata"].get("annotations") or {}).get(AI_GATEWAY_GENERATED) == "true":
                port = self.extproc_port(gateway_key)
                if not port:
                    raise _json_answer(500, f"no AI Gateway extproc for Gateway {gateway_key}")
                conversation = Conversation(port, channel=self.channel(port))
                pseudo = {":method": method, ":path": path, ":authority": host, ":scheme": "http"}
                with self.timed("ai_gateway_router"):
                    exchange = conversation.request({**pseudo, **request_headers}, body)
                if exchange.status is not None:
                    raise Answer(exchange.status, exchange.immediate_body, {"content-type": "application/json"})
                request_headers.update({k: v for k, v in exchange.request_headers.items() if not k.startswith(":")})
                chosen = match(routes, host, method, path, request_headers)  # clear_route_cache
                if chosen is None:
                    raise Answer(404)
                route, rule = chosen
            # 3. wasm-shim: auth, then limits (the token report waits for the response)
            quota = self.harnesses.get(gateway_key)
            wasm_request = {"method": method, "path": path, "host": host, "headers": request_headers}
            identity, deferred = None, None
            if quota:
                identity, deferred = self._wasm_request(quota, wasm_request, request_headers)
            # the route's own filters (an HTTPRouteFilter's direct response: the AI Gateway's route-not-found)
            self._route_filters(snapshot, route, rule)
            # 4. the endpoint picker, 5. the router
            endpoint, backend = self._endpoint(snapshot, route, rule, path, body, request_headers)
            upstream_body = body
            if conversation is not None:
                with self.timed("ai_gateway_upstream"):
                    exchange = conversation.upstream(endpoint, backend, _key(route), request_headers)
                if exchange.status is not None:
                    raise Answer(exchange.status, exchange.immediate_body, {"content-type": "application/json"})
                path = exchange.upstream_headers.get(":path", path)
                request_headers.update({k: v for k, v in exchange.upstream_headers.items()
                                        if not k.startswith(":")})
                if exchange.upstream_body is not None:
                    upstream_body = exchange.upstream_body
            self._proxy(endpoint, method, path, request_headers, upstream_body, conversation, quota, wasm_request,
                        identity, deferred, respond)
        finally:
            if conversation is not None:
                conversation.close()

    def _wasm_request(self, quota, wasm_request: dict, request_headers: dict):
        _digest, harness, lock = quota
        with self.timed("wasm_action_set"), lock:
            route = harness.route(wasm_request)
        if route.get("status") == 500:
            raise Answer(500, b"Internal Server Error.\n")
        auth = route.get("auth") or {}
        if auth.get("error"):
            raise Answer(500, b"Internal Server Error.\n")
        identity = None
        if auth.get("call"):
            with self.timed("auth"):
                decision = self.authorino().check(auth["scope"], method=wasm_request["method"],
                                                  path=wasm_request["path"], headers=request_headers,
                                                  host=wasm_request["host"])
            if not decision.allowed:
                extra = {"x-ext-auth-reason": decision.reason} if decision.reason else {}
                if decision.http_status == 401:
                    extra["www-authenticate"] = "Bearer"
                raise Answer(decision.http_status, b"", extra)
            identity = decision.identity
            request_headers.update(decision.headers)
        if not route.get("action_set"):
            return identity, None
        with self.timed("limits"), lock:
            result = harness.request(wasm_request, identity)
        if "error" in result:
            raise Answer(500, b"Internal Server Error.\n")
        if result["status"] != 200:
            raise Answer(result["status"], (result.get("body") or "").encode())
        return identity, result.get("deferred")

    def _route_filters(self, snapshot: Snapshot, route: dict, rule: int) -> None:
        for item in (route["spec"]["rules"][rule].get("filters") or []):
            ref = item.get("extensionRef") or {}
            if item.get("type") != "ExtensionRef" or ref.get("kind") != "HTTPRouteFilter":
                continue
            found = snapshot.filters.get(f"{route['metadata']['namespace']}/{ref.get('name')}") or {}
            direct = (found.get("spec") or {}).get("directResponse")
            if direct:
                body = (direct.get("body") or {}).get("inline") or ""
                raise Answer(int(direct.get("statusCode") or 200), body.encode(),
                             {"content-type": direct.get("contentType") or "text/plain"})

    def _endpoint(self, snapshot: Snapshot, route: dict, rule: int, path: str, body: bytes,
                  request_headers: dict) -> tuple[str, str]:
        refs = route["spec"]["rules"][rule].get("backendRefs") or []
        if not refs:
            raise Answer(500)
        ref = refs[0]
        namespace = ref.get("namespace", route["metadata"]["namespace"])
        if ref.get("group") == POOL_GROUP and ref.get("kind") == "InferencePool":
            pool_key = f"{namespace}/{ref['name']}"
            port = self.picker_port(pool_key)
            if not port:
                raise _json_answer(503, f"no endpoint picker for InferencePool {pool_key}")
            try:
                payload = json.loads(body or b"{}")
            except ValueError as exc:
                raise _json_answer(400, "the body is not JSON") from exc
            with self.timed("endpoint_picker"):
                picked = pick(port, payload, path=path.split("?", 1)[0], channel=self.channel(port),
                              headers={k: v for k, v in request_headers.items() if k.startswith("x-")})
            if picked.endpoint is None:
                raise _json_answer(picked.status or 503, "the endpoint picker chose no endpoint")
            endpoint = picked.endpoint
            request_headers["x-gateway-destination-endpoint"] = endpoint
            backend = aigw_backend_name(route, rule, 0, ref["name"])
        else:
            service = snapshot.services.get(f"{namespace}/{ref['name']}") or {"metadata": {"namespace": namespace}}
            endpoints = service_endpoints(service, snapshot.pods, ref.get("port") or 80)
            if not endpoints:
                raise _json_answer(503, f"no ready endpoint for Service {namespace}/{ref['name']}")
            endpoint = endpoints[hash(request_headers.get("x-request-id")) % len(endpoints)]
            backend = f"{namespace}/{ref['name']}"
        if not loopback(endpoint):
            raise _json_answer(503, f"endpoint {endpoint} is outside 127.0.0.0/8; the test world never dials it")
        return endpoint, backend

    def _proxy(self, endpoint, method, path, request_headers, body, conversation, quota, wasm_request, identity,
               deferred, respond) -> None:
        host, port = endpoint.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=UPSTREAM_TIMEOUT)
        try:
            forwarded = {k: v for k, v in request_headers.items() if k not in HOP_BY_HOP and not k.startswith(":")}
            forwarded["host"] = request_headers.get("host", endpoint)
            if body:
                forwarded["content-length"] = str(len(body))
            try:
                with self.timed("model_server_headers"):
                    connection.request(method, path, body=body or None, headers=forwarded)
                    upstream = connection.getresponse()
            except OSError as exc:
                raise _json_answer(503, f"upstream connect error: {exc}") from exc
            content_type = upstream.getheader("content-type") or ""
            streaming = "text/event-stream" in content_type
            if conversation is not None and streaming:
                conversation.response_headers(upstream.status, content_type)
            # the upstream's headers go back to the client (Envoy's router drops only the hop-by-hop ones)
            out_headers = {k.lower(): v for k, v in upstream.getheaders()
                           if k.lower() not in HOP_BY_HOP | {"server", "date"}}  # Envoy writes its own server
            received = []

            def finish():
                whole = b"".join(received)
                if quota and deferred is not None:
                    _digest, harness, lock = quota
                    with self.timed("token_report"), lock:
                        harness.respond(wasm_request, identity, {"content_type": content_type,
                                                                 "body": whole.decode(errors="replace")}, deferred)

            if not streaming:
                whole = upstream.read()
                received.append(whole)
                if conversation is not None:
                    with self.timed("ai_gateway_response"):
                        conversation.response_headers(upstream.status, content_type)
                        conversation.response_body(whole, True)
                finish()
                respond(upstream.status, {**out_headers, "content-length": str(len(whole))}, iter([whole]))
                return

            def events():
                buffer = b""
                while True:
                    piece = upstream.read1(65536)
                    if not piece:
                        break
                    buffer += piece
                    ready, buffer = sse_events(buffer)
                    for event in ready:
                        received.append(event)
                        if conversation is not None:
                            conversation.response_body(event, False)
                        yield event
                if buffer:
                    received.append(buffer)
                    yield buffer
                if conversation is not None:
                    conversation.response_body(buffer, True)
                finish()
            respond(upstream.status, out_headers, events())
        finally:
            connection.close()


# --- the HTTP server --------------------------------------------------------------------------------------------

def handler_for(gateway: Gateway, listener_key: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tokenlabs-gateway-stand-in"
        # Envoy sets TCP_NODELAY on its connections; without it the body written after the headers waits for the
        # client's delayed ACK (40 ms a response).
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            pass

        def _serve(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                gateway.handle(listener_key, self.command, self.path, dict(self.headers.items()), body, self._respond)
            except Answer as answer:
                self._respond(answer.status, {**answer.headers, "content-length": str(len(answer.body))},
                              iter([answer.body]))
            except Exception as exc:  # noqa: BLE001 - Envoy answers 500 on a filter failure
                _log(f"{listener_key}: {self.command} {self.path}: {exc!r}")
                text = b"gateway stand-in: internal error\n"
                self._respond(500, {"content-length": str(len(text))}, iter([text]))

        def _respond(self, status, headers, chunks):
            self.send_response(status)
            chunked = "content-length" not in headers
            for key, value in headers.items():
                self.send_header(key, value)
            if chunked:
                self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                if not chunk:
                    continue
                if chunked:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    return Handler


def _log(msg: str) -> None:
    print(f"gateway stand-in: {msg}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.kube = Kubernetes(args.kubeconfig)
        self.redis = RedisServer(Path(args.work_dir) / "redis")
        self.gateway = Gateway(self.kube, State(args.state_dir), args.kuadrant_namespace, self.redis.url)
        self.servers: dict[str, tuple[ThreadingHTTPServer, int]] = {}
        self.stopping = False

    def reconcile(self) -> dict:
        problems = self.gateway.refresh()
        listeners = self.gateway.snapshot.listeners()
        for key in list(self.servers):
            if key not in listeners:
                self.servers.pop(key)[0].shutdown()
        for key in listeners:
            if key not in self.servers:
                port = free_port()
                server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(self.gateway, key))
                server.daemon_threads = True
                threading.Thread(target=server.serve_forever, daemon=True).start()
                self.servers[key] = (server, port)
                _log(f"listener {key} served on 127.0.0.1:{port}")
        return {"listeners": {key: {"port": port, "ready": True} for key, (_server, port) in self.servers.items()},
                "wasm": sorted(self.gateway.harnesses), "redis": self.gateway.redis_url,
                "timings_ms": self.gateway.timings_ms(), "problems": problems}

    def stop_all(self) -> None:
        for server, _port in self.servers.values():
            server.shutdown()
        self.servers = {}
        self.gateway.close()
        self.redis.stop()

    def loop(self) -> None:
        reconcile_until_stopped(self, "listeners", "ready", "not serving yet", "listener(s)", POLL_INTERVAL, _log)


def run(argv=None) -> int:
    parser, p_run = reconciler_parser(__doc__, "serve the Gateways' listeners (see the module docstring)",
                                      "the redis-server's directory")
    p_run.add_argument("--state-dir", type=Path, required=True, help="the test world's state (component ports)")
    p_run.add_argument("--kuadrant-namespace", default="kuadrant-system")
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def up(state: State, timeout: float = 120.0) -> dict:
    """Start the gateway stand-in (building the quota harness once); running and ready: nothing is done."""
    quota_harness.build()
    return up_reconciler(state, NAME, "testworld.gateway", None, None, SUBJECT, POLL_INTERVAL, timeout,
                         args=(f"--state-dir={state.root}",), work_dir=True)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, reconciler_ready)


if __name__ == "__main__":
    sys.exit(run())
