"""Calls an endpoint picker the way Envoy's ext_proc filter does (``envoy.service.ext_proc.v3``).

The picker (GAIE v1.5.0 ``cmd/epp``) expects the request body streamed in full duplex (the processing mode the AI
Gateway's extension server configures for it): a ``request_headers`` message (with ``:path``, which tells it the
API, and ``end_of_stream`` false), then the body in ``request_body`` messages, the last with ``end_of_stream``. It
answers nothing until the body is complete, then a ``request_headers`` response whose header mutation sets
``x-gateway-destination-endpoint: <ip>:<port>`` (also as dynamic metadata ``envoy.lb``), followed by
``request_body`` response(s) carrying the body back; or an ``immediate_response`` (400 bad body, 503 no endpoint,
429 scheduler refusal). Source: ``pkg/epp/handlers/server.go`` and ``request.go`` at v1.5.0
(``docs/dev/endpoint-picker-v1.5.0.md``, section 5). Messages from ``xds-protos``, transport ``grpcio``.
"""

from __future__ import annotations

import contextlib
import json
import queue
from dataclasses import dataclass, field

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ext_proc
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ext_proc_grpc
from google.protobuf import json_format

DESTINATION = "x-gateway-destination-endpoint"


@dataclass
class Pick:
    """What Envoy learns from the picker for one request."""

    endpoint: str | None  # "<ip>:<port>" when picked
    status: int | None = None  # the immediate response's HTTP status when refused
    headers: dict = field(default_factory=dict)  # the header mutation's set headers
    metadata: dict = field(default_factory=dict)  # dynamic metadata
    body: bytes = b""  # the body the picker sent back


def _header_map(headers: dict) -> base_pb2.HeaderMap:
    return base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers.items()])


def _set_headers(mutation) -> dict:
    return {h.header.key: (h.header.raw_value or h.header.value.encode()).decode() for h in mutation.set_headers}


def pick(port: int, body: dict, path: str = "/v1/chat/completions", timeout: float = 10.0,
         headers: dict | None = None, channel: grpc.Channel | None = None) -> Pick:
    """One request's conversation with the picker at ``127.0.0.1:<port>`` (on ``channel``, a connection the caller
    keeps, else on one of its own)."""
    payload = json.dumps(body).encode()
    outbox: queue.Queue = queue.Queue()
    outbox.put(ext_proc.ProcessingRequest(request_headers=ext_proc.HttpHeaders(headers=_header_map({
        ":method": "POST", ":path": path, ":authority": "gateway.test", ":scheme": "http",
        "content-type": "application/json", "content-length": str(len(payload)), **(headers or {})}),
        end_of_stream=False)))
    outbox.put(ext_proc.ProcessingRequest(request_body=ext_proc.HttpBody(body=payload, end_of_stream=True)))
    done = object()

    def requests():
        while True:
            item = outbox.get()
            if item is done:
                return
            yield item

    result = Pick(endpoint=None)
    with contextlib.nullcontext(channel) if channel else grpc.insecure_channel(f"127.0.0.1:{port}") as connection:
        stream = ext_proc_grpc.ExternalProcessorStub(connection).Process(requests(), timeout=timeout)
        try:
            for response in stream:
                if response.HasField("immediate_response"):
                    result.status = response.immediate_response.status.code
                    break
                if response.HasField("dynamic_metadata"):
                    result.metadata.update(json_format.MessageToDict(response.dynamic_metadata))
                if response.HasField("request_headers"):
                    result.headers.update(_set_headers(response.request_headers.response.header_mutation))
                    result.endpoint = result.headers.get(DESTINATION)
                if response.HasField("request_body"):
                    mutation = response.request_body.response.body_mutation
                    result.body += mutation.streamed_response.body if mutation.HasField("streamed_response") \
                        else mutation.body
                    if not mutation.HasField("streamed_response") or mutation.streamed_response.end_of_stream:
                        break
        finally:
            outbox.put(done)
            stream.cancel()
    return result
