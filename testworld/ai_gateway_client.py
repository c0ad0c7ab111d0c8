"""Calls Envoy AI Gateway's ext_proc server the way Envoy's two ext_proc filters do (``envoy.service.ext_proc.v3``).

One request is two gRPC streams on the same server (``docs/dev/ai-gateway-extproc-v1.0.0.md``, section 3):

1. the **router-level** stream (HCM filter ``envoy.filters.http.ext_proc/aigateway``): ``request_headers`` -- the
   answer sets ``x-ai-eg-internal-req-id``; the whole ``request_body`` (BUFFERED) -- the answer sets
   ``x-ai-eg-model`` from the body's ``model`` and ``x-ai-eg-original-path``, or is an ``immediate_response`` (a body
   that is not JSON: 400; a path it does not serve: 404). The stream stays open.
2. the **upstream-level** stream (the cluster's upstream filter), once Envoy has picked the route and endpoint:
   ``request_headers`` with the headers so far and the ``attributes`` Envoy sends -- the route rule's backend name
   from the cluster metadata (``per_route_rule_backend_name``; for an InferencePool read only from there) and the
   AIGatewayRoute's name (``aigw_route_name``); the answer rewrites ``:path`` and may replace the body (a stream gets
   ``stream_options.include_usage``).
3. back on the router stream: ``response_headers`` (``:status``), then the ``response_body`` (whole, or each SSE
   chunk for a stream): the extproc reads ``usage`` from it and records its metrics (token usage per type, labelled
   with the request headers ``-metricsRequestHeaderAttributes`` names).

Source: ai-gateway v1.0.0 ``internal/extproc/server.go`` and ``processor_impl.go``. Messages from ``xds-protos``,
transport ``grpcio``; every header value is sent and read as ``raw_value``.
"""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass, field

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ext_proc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ext_proc_grpc
from google.protobuf import json_format, struct_pb2

MODEL_HEADER = "x-ai-eg-model"
ATTRIBUTES_KEY = "envoy.filters.http.ext_proc"
BACKEND_ATTRIBUTE = "xds.cluster_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']"
ROUTE_ATTRIBUTE = "xds.route_metadata.filter_metadata['aigateway.envoy.io']['aigw_route_name']"
DESTINATION = "x-gateway-destination-endpoint"


@dataclass
class Exchange:
    """What Envoy learns from the extproc for one request."""

    status: int | None = None  # an immediate response's HTTP status
    immediate_body: bytes = b""
    request_headers: dict = field(default_factory=dict)  # set by the router stream (headers and body phases)
    upstream_headers: dict = field(default_factory=dict)  # set by the upstream stream
    upstream_body: bytes | None = None  # the body the upstream stream replaced, if it did
    response_metadata: dict = field(default_factory=dict)  # dynamic metadata at the end of the response

    @property
    def model(self) -> str | None:
        return self.request_headers.get(MODEL_HEADER)


def _header_map(headers: dict) -> base_pb2.HeaderMap:
    return base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=str(v).encode())
                                       for k, v in headers.items()])


def _set_headers(common) -> dict:
    return {h.header.key: (h.header.raw_value or h.header.value.encode()).decode()
            for h in common.header_mutation.set_headers}


class _Stream:
    """One bidirectional ext_proc stream: each :meth:`send` waits for the extproc's answer to that message."""

    def __init__(self, channel, timeout: float):
        self.outbox: queue.Queue = queue.Queue()
        self.done = object()
        self.responses = ext_proc_grpc.ExternalProcessorStub(channel).Process(self._requests(), timeout=timeout)

    def _requests(self):
        while True:
            item = self.outbox.get()
            if item is self.done:
                return
            yield item

    def send(self, request) -> ext_proc.ProcessingResponse:
        self.outbox.put(request)
        return next(self.responses)

    def close(self) -> None:
        self.outbox.put(self.done)
        self.responses.cancel()


def _common(response, phase: str):
    return getattr(response, phase).response


class Conversation:
    """One request's conversation with the extproc at ``127.0.0.1:<port>``, phase by phase, in the order Envoy's
    filters have it (a gateway calls each phase when its request gets there); :attr:`exchange` collects what the
    extproc answered. An immediate response ends it: :attr:`Exchange.status` is set and later phases do nothing."""

    def __init__(self, port: int, timeout: float = 10.0, channel: grpc.Channel | None = None):
        """``channel``: a connection to the port the caller keeps (and closes); by default one of its own."""
        self.own_channel = channel is None
        self.channel = channel or grpc.insecure_channel(f"127.0.0.1:{port}")
        self.timeout = timeout
        self.router = _Stream(self.channel, timeout)
        self.exchange = Exchange()
        self.headers: dict = {}

    @property
    def ended(self) -> bool:
        return self.exchange.status is not None

    def request(self, headers: dict, payload: bytes) -> Exchange:
        """Router stream: the request headers, then the whole body (BUFFERED; none for a request without one);
        what the extproc set is added to the headers the upstream stream sends."""
        self.headers = dict(headers)
        answer = self.router.send(ext_proc.ProcessingRequest(request_headers=ext_proc.HttpHeaders(
            headers=_header_map(self.headers), end_of_stream=not payload)))
        if answer.HasField("immediate_response"):
            return _immediate(self.exchange, answer)
        self.exchange.request_headers.update(_set_headers(_common(answer, "request_headers")))
        if not payload:  # a request without a body (GET /v1/models): Envoy sends no body message
            self.headers.update(self.exchange.request_headers)
            return self.exchange
        answer = self.router.send(ext_proc.ProcessingRequest(request_body=ext_proc.HttpBody(body=payload,
                                                                                            end_of_stream=True)))
        if answer.HasField("immediate_response"):
            return _immediate(self.exchange, answer)
        self.exchange.request_headers.update(_set_headers(_common(answer, "request_body")))
        self.headers.update(self.exchange.request_headers)
        return self.exchange

    def upstream(self, endpoint: str, backend: str, route: str, headers: dict | None = None) -> Exchange:
        """The upstream stream, once the route and endpoint are chosen: the request headers (``headers`` added to
        what the router stream left) with the route rule's backend name and the AIGatewayRoute's name."""
        if self.ended:
            return self.exchange
        current = {**self.headers, **(headers or {}), DESTINATION: endpoint}
        attributes = struct_pb2.Struct()
        attributes.update({BACKEND_ATTRIBUTE: backend, ROUTE_ATTRIBUTE: route})
        stream = _Stream(self.channel, self.timeout)
        try:
            answer = stream.send(ext_proc.ProcessingRequest(
                request_headers=ext_proc.HttpHeaders(headers=_header_map(current), end_of_stream=False),
                attributes={ATTRIBUTES_KEY: attributes}))
            if answer.HasField("immediate_response"):
                return _immediate(self.exchange, answer)
            common = _common(answer, "request_headers")
            self.exchange.upstream_headers.update(_set_headers(common))
            if common.status == ext_proc.CommonResponse.CONTINUE_AND_REPLACE:
                self.exchange.upstream_body = common.body_mutation.body
        finally:
            stream.close()
        return self.exchange

    def response_headers(self, status: int, content_type: str) -> None:
        if not self.ended:
            self.router.send(ext_proc.ProcessingRequest(response_headers=ext_proc.HttpHeaders(
                headers=_header_map({":status": str(status), "content-type": content_type}), end_of_stream=False)))

    def response_body(self, chunk: bytes, end: bool) -> None:
        """One piece of the response body (the whole body, or one SSE event), ``end`` on the last."""
        if self.ended:
            return
        piece = ext_proc.HttpBody(body=chunk, end_of_stream=end)
        answer = self.router.send(ext_proc.ProcessingRequest(response_body=piece))
        if answer.HasField("dynamic_metadata"):
            self.exchange.response_metadata.update(json_format.MessageToDict(answer.dynamic_metadata))

    def close(self) -> None:
        self.router.close()
        if self.own_channel:
            self.channel.close()


def process(port: int, body: dict | bytes, headers: dict, backend: str, route: str, endpoint: str,
            response_body: bytes, response_status: int = 200, path: str = "/v1/chat/completions",
            sse: bool = False, timeout: float = 10.0) -> Exchange:
    """One whole request through the extproc at ``127.0.0.1:<port>``; ``response_body`` is what the model server
    answered (for ``sse``, its ``data:`` events, sent one message per event)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    current = {":method": "POST", ":path": path, ":authority": "gateway.test", ":scheme": "http",
               "content-type": "application/json", "content-length": str(len(payload)), **headers}
    conversation = Conversation(port, timeout)
    try:
        if conversation.request(current, payload).status is not None:
            return conversation.exchange
        if conversation.upstream(endpoint, backend, route).status is not None:
            return conversation.exchange
        conversation.response_headers(response_status, "text/event-stream" if sse else "application/json")
        chunks = [event + b"\n\n" for event in response_body.split(b"\n\n") if event.strip()] if sse \
            else [response_body]
        for index, chunk in enumerate(chunks):
            conversation.response_body(chunk, index == len(chunks) - 1)
    finally:
        conversation.close()
    return conversation.exchange


def _immediate(result: Exchange, answer) -> Exchange:
    result.status = answer.immediate_response.status.code
    result.immediate_body = answer.immediate_response.body
    return result
