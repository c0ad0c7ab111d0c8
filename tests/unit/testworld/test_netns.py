"""The network-namespace plumbing of the platform's controllers: their command lines, the loopback bridges, the HTTP
probes and the admission webhooks served at their Services' ClusterIPs (no namespace is entered here)."""

from __future__ import annotations

import copy
import random
import socket
import threading

import pytest

from testworld import base, netns
from testworld.base import State, TestWorldError, free_port


def test_a_controller_runs_in_a_private_network_namespace():
    argv = netns.namespaced_argv(["/bin/aigw", "--a=b c", "--tlsCertDir=/s"])
    assert argv[:4] == ["unshare", "--net", "sh", "-c"]
    script = argv[-1]
    assert script.index("ip link set lo up") < script.index("read -r _") < script.index("exec /bin/aigw")
    assert script.endswith("exec /bin/aigw '--a=b c' --tlsCertDir=/s")


def test_mounts_add_a_private_mount_namespace_with_bind_mounts(tmp_path):
    argv = netns.namespaced_argv(["/bin/eg", "server"], {tmp_path / "certs": "/certs", tmp_path / "a b": "/x"})
    assert argv[:5] == ["unshare", "--mount", "--net", "--propagation", "private"]
    script = argv[-1]
    assert f"mount --bind {tmp_path / 'certs'} /certs && mount --bind '{tmp_path / 'a b'}' /x && read -r _" in script
    assert script.startswith("ip link set lo up && ") and script.endswith("exec /bin/eg server")


@pytest.mark.parametrize("head, code", [(b"HTTP/1.1 200 OK\r\nContent-Length: 2", 200),
                                        (b"HTTP/1.0 500 Internal Server Error\r\n", 500), (b"", None),
                                        (b"garbage", None)])
def test_http_status(head, code):
    assert netns.http_status(head) == code


def _server(answer):
    """A loopback server that answers each connection with ``answer(request)``, then closes it."""
    listener = netns.listen(0)

    def serve():
        while True:
            try:
                conn, _peer = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(answer(conn.recv(1000)))
    threading.Thread(target=serve, daemon=True).start()
    return listener


def _echo_server():
    """A loopback server that answers each connection with ``b"inside:"`` and what it received."""
    return _server(lambda request: b"inside:" + request)


def _ask(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"hello")
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(100)


def test_http_get_reads_the_status_and_the_body_only_when_asked():
    requests = []

    def answer(request):
        requests.append(request)
        return b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nmetric 1\n"
    server = _server(answer)
    try:
        def dial():
            return socket.create_connection(server.getsockname(), timeout=5)
        assert netns.http_get(dial, "/readyz") == (200, b"")
        assert requests == [b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n"]
        assert netns.http_get(dial, "/metrics", body=True) == (200, b"metric 1\n")
    finally:
        netns.close_listener(server)


def test_http_get_without_an_answer_has_no_status():
    def refused():
        raise ConnectionRefusedError("nothing listens")
    assert netns.http_get(refused, "/readyz") == (None, b"")
    server = _server(lambda request: b"not http\r\n")
    try:
        assert netns.http_get(lambda: socket.create_connection(server.getsockname(), timeout=5), "/") == (None, b"")
    finally:
        netns.close_listener(server)


def test_a_bridge_forwards_each_connection_until_its_listener_is_closed():
    inside = _echo_server()
    outside = netns.listen(0)
    try:
        netns.bridge(outside, lambda: socket.create_connection(inside.getsockname(), timeout=5))
        assert _ask(outside.getsockname()) == b"inside:hello"
        address = outside.getsockname()
        netns.close_listener(outside)
        with pytest.raises(OSError):
            _ask(address)
    finally:
        netns.close_listener(outside)
        inside.close()


def test_missing_tools_are_named_with_the_reason():
    base.require_tools(("sh",), "never raised")
    with pytest.raises(TestWorldError, match=r"^`no-such-tool-here` is missing: it runs in a namespace$"):
        base.require_tools(("sh", "no-such-tool-here"), "it runs in a namespace")


def test_the_extension_port_is_picked_once_per_state_directory(tmp_path):
    state = State(tmp_path / "world")
    port = netns.extension_server_port(state)
    assert 0 < port < 65536
    assert netns.extension_server_port(state) == port
    assert netns.extension_server_port(State(tmp_path / "world")) == port


# The topology injector's webhook and Service as gateway-helm v1.9.0 renders them (the cluster gives the ClusterIP).
TOPOLOGY_WEBHOOK = {
    "metadata": {"name": "envoy-gateway-topology-injector.envoy-gateway-system"},
    "webhooks": [{
        "name": "topology.webhook.gateway.envoyproxy.io", "failurePolicy": "Ignore",
        "clientConfig": {"service": {"name": "envoy-gateway", "namespace": "envoy-gateway-system",
                                     "path": "/inject-pod-topology", "port": 9443}}}],
}
EG_SERVICE = {
    "metadata": {"name": "envoy-gateway", "namespace": "envoy-gateway-system"},
    "spec": {"type": "ClusterIP", "clusterIP": "127.96.35.193", "clusterIPs": ["127.96.35.193"],
             "ports": [{"name": "grpc", "port": 18000, "protocol": "TCP", "targetPort": 18000},
                       {"name": "webhook", "port": 9443, "protocol": "TCP", "targetPort": 9443}]},
}


def test_webhook_services_are_the_configurations_service_references():
    assert netns.webhook_services(TOPOLOGY_WEBHOOK) == [("envoy-gateway-system", "envoy-gateway", 9443)]
    two = {"webhooks": [
        {"clientConfig": {"service": {"name": "a", "namespace": "n"}}},  # port defaults to 443
        {"clientConfig": {"service": {"name": "a", "namespace": "n", "port": 443}}},  # the same Service: once
        {"clientConfig": {"url": "https://127.0.0.1:1/x"}}]}  # kube-apiserver dials URLs itself
    assert netns.webhook_services(two) == [("n", "a", 443)]
    assert netns.webhook_services({}) == []


def test_the_webhook_is_served_at_the_services_cluster_ip_and_forwarded_to_its_target_port():
    assert netns.webhook_endpoint(EG_SERVICE, 9443) == ("127.96.35.193", 9443, 9443)
    service = copy.deepcopy(EG_SERVICE)
    service["spec"]["ports"][1]["targetPort"] = "webhook"
    assert netns.webhook_endpoint(service, 9443, {"webhook": 19443}) == ("127.96.35.193", 9443, 19443)
    service["spec"]["ports"][1]["targetPort"] = "9444"
    assert netns.webhook_endpoint(service, 9443) == ("127.96.35.193", 9443, 9444)
    del service["spec"]["ports"][1]["targetPort"]  # defaults to the port
    assert netns.webhook_endpoint(service, 9443) == ("127.96.35.193", 9443, 9443)


@pytest.mark.parametrize("change, error", [
    ({"clusterIP": "10.96.35.193"}, "outside 127.0.0.0/8"),
    ({"clusterIP": "fd00::1"}, "outside 127.0.0.0/8"),
    ({"clusterIP": "None"}, "has no ClusterIP"),
    ({"type": "ExternalName", "clusterIP": None}, "has no ClusterIP"),
    ({"clusterIP": "nonsense"}, "not an IP address"),
    ({"ports": [{"port": 9443, "protocol": "UDP"}]}, "has no TCP port 9443"),
    ({"ports": [{"port": 9443, "targetPort": "webhook"}]}, "names no port"),
])
def test_a_webhook_service_the_test_world_cannot_serve_is_refused(change, error):
    service = copy.deepcopy(EG_SERVICE)
    service["spec"].update(change)
    with pytest.raises(TestWorldError, match=error):
        netns.webhook_endpoint(service, 9443)


def test_the_forwarder_binds_the_cluster_ip_and_follows_the_service():
    inside = _echo_server()
    logs = []
    dialed = []

    def dial_inside(port):
        dialed.append(port)
        return socket.create_connection(("127.0.0.1", inside.getsockname()[1]), timeout=5)
    forwarder = netns.WebhookForwarder(dial_inside, logs.append)
    service = copy.deepcopy(EG_SERVICE)
    service["spec"]["clusterIP"] = f"127.96.{random.randint(1, 254)}.{random.randint(1, 254)}"
    service["spec"]["ports"][1]["port"] = free_port()
    port = service["spec"]["ports"][1]["port"]
    configuration = copy.deepcopy(TOPOLOGY_WEBHOOK)
    configuration["webhooks"][0]["clientConfig"]["service"]["port"] = port
    services = {("envoy-gateway-system", "envoy-gateway"): service}
    try:
        forwarder.refresh("topology", lambda: configuration, lambda ns, name: services.get((ns, name)))
        assert forwarder.error is None
        assert forwarder.served() == [f"{service['spec']['clusterIP']}:{port}->9443"]
        assert _ask((service["spec"]["clusterIP"], port)) == b"inside:hello"
        assert dialed == [9443]
        # A new targetPort: the same listener, forwarded elsewhere.
        service["spec"]["ports"][1]["targetPort"] = 9444
        forwarder.refresh("topology", lambda: configuration, lambda ns, name: services.get((ns, name)))
        assert _ask((service["spec"]["clusterIP"], port)) == b"inside:hello"
        assert dialed == [9443, 9444]
        # A ClusterIP outside loopback: refused, and the old address no longer served.
        service["spec"]["clusterIP"] = "10.96.0.10"
        old = forwarder.served()
        forwarder.refresh("topology", lambda: configuration, lambda ns, name: services.get((ns, name)))
        assert forwarder.served() == [] and "outside 127.0.0.0/8" in forwarder.error
        assert any("no longer served" in line for line in logs)
        with pytest.raises(OSError):
            _ask((old[0].split(":")[0], port))
        # The Service gone: an error; the configuration gone: nothing to serve, no error.
        services.clear()
        forwarder.refresh("topology", lambda: configuration, lambda ns, name: services.get((ns, name)))
        assert "no Service envoy-gateway-system/envoy-gateway" in forwarder.error
        forwarder.refresh("topology", lambda: None, lambda ns, name: None)
        assert forwarder.error is None
    finally:
        forwarder.close()
        inside.close()


def test_the_forwarder_keeps_what_it_serves_while_the_api_server_is_unreachable():
    forwarder = netns.WebhookForwarder(lambda port: None, lambda msg: None)
    service = copy.deepcopy(EG_SERVICE)
    service["spec"]["ports"][1]["port"] = port = free_port()
    configuration = copy.deepcopy(TOPOLOGY_WEBHOOK)
    configuration["webhooks"][0]["clientConfig"]["service"]["port"] = port

    def fail():
        raise OSError("connection refused")
    try:
        forwarder.refresh("topology", lambda: configuration, lambda ns, name: service)
        served = forwarder.served()
        forwarder.refresh("topology", fail, lambda ns, name: None)
        assert forwarder.served() == served and "connection refused" in forwarder.error
    finally:
        forwarder.close()
