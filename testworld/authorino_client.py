"""Calls Authorino the way wasm-shim v0.12.3 does (``src/services/auth.rs``).

gRPC ``envoy.service.auth.v3.Authorization/Check`` with
``attributes.context_extensions["host"]`` = the AuthConfig name (Authorino
prefers it over the HTTP host), ``attributes.request.time`` set (the expiry
rule reads ``request.time``), and the request's method, path, host and
headers.  The Envoy ext_authz messages come from the ``xds-protos`` package
(generated from envoyproxy/data-plane-api), the transport from ``grpcio``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import grpc
from envoy.config.core.v3 import address_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format, timestamp_pb2
from google.rpc import code_pb2

GRPC_OK = code_pb2.OK


@dataclass
class Decision:
    """What the wasm-shim learns from one Check."""

    code: int  # google.rpc.Code of CheckResponse.status (OK, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND...)
    http_status: int  # what the client gets: 200 when allowed, else denied_response.status
    reason: str = ""  # X-Ext-Auth-Reason of a denial
    dynamic_metadata: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)  # ok_response headers: what the wasm-shim adds to the request
    waited: float = 0.0  # set by pollers: seconds until this decision was seen

    @property
    def allowed(self) -> bool:
        return self.code == GRPC_OK

    @property
    def identity(self) -> dict:
        """``auth.identity.*`` as the wasm-shim flattens it (the ``identity`` filter entry)."""
        return self.dynamic_metadata.get("identity") or {}


class AuthorinoClient:
    def __init__(self, grpc_port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.channel = grpc.insecure_channel(f"{host}:{grpc_port}")
        self.stub = external_auth_pb2_grpc.AuthorizationStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def check(self, authconfig: str, *, method: str = "POST", path: str = "/v1/chat/completions",
              headers: dict | None = None, host: str = "inference.token-labs.local",
              at: float | None = None) -> Decision:
        now = time.time() if at is None else at
        request_time = timestamp_pb2.Timestamp(seconds=int(now), nanos=int((now % 1) * 1e9))
        http_headers = {":method": method, ":path": path, ":authority": host}
        http_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        attributes = attribute_context_pb2.AttributeContext(
            source=attribute_context_pb2.AttributeContext.Peer(
                address=address_pb2.Address(socket_address=address_pb2.SocketAddress(
                    address="127.0.0.1", port_value=40000))),
            destination=attribute_context_pb2.AttributeContext.Peer(
                address=address_pb2.Address(socket_address=address_pb2.SocketAddress(
                    address="127.0.0.1", port_value=8080))),
            request=attribute_context_pb2.AttributeContext.Request(
                time=request_time,
                http=attribute_context_pb2.AttributeContext.HttpRequest(
                    method=method, path=path, host=host, scheme="http", protocol="HTTP/1.1",
                    headers=http_headers)),
            context_extensions={"host": authconfig},
        )
        response = self.stub.Check(external_auth_pb2.CheckRequest(attributes=attributes), timeout=self.timeout)
        code = response.status.code
        if code == GRPC_OK:
            metadata = json_format.MessageToDict(response.dynamic_metadata) if response.HasField(
                "dynamic_metadata") else {}
            headers = {h.header.key: (h.header.raw_value or h.header.value.encode()).decode()
                       for h in response.ok_response.headers}
            return Decision(code=code, http_status=200, dynamic_metadata=metadata, headers=headers)
        denied = response.denied_response
        reason = next((h.header.value for h in denied.headers if h.header.key.lower() == "x-ext-auth-reason"), "")
        return Decision(code=code, http_status=int(denied.status.code) or 403, reason=reason)
