"""The Envoy Gateway component of the test world: what it makes of the chart's configuration (pure functions)."""

from __future__ import annotations

import base64
import copy
import json
import random
import socket
import threading
import time

import pytest
import yaml

from testworld import envoy_gateway
from testworld.base import TestWorldError, free_port

# What the chart renders into envoy-gateway-config for the collection's values (roles/envoy_gateway).
CHART_CONFIG = """\
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyGateway
extensionApis:
  enableBackend: true
  enableEnvoyPatchPolicy: true
extensionManager:
  backendResources:
  - group: inference.networking.k8s.io
    kind: InferencePool
    version: v1
  service:
    fqdn:
      hostname: ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local
      port: 1063
gateway:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
logging:
  level:
    default: info
provider:
  kubernetes:
    rateLimitDeployment:
      container:
        image: docker.io/envoyproxy/ratelimit:example
  type: Kubernetes
rateLimit:
  backend:
    redis:
      url: redis.redis-system.svc.cluster.local:6379
    type: Redis
"""


def test_leader_election_is_disabled_and_everything_else_kept():
    doc = yaml.safe_load(envoy_gateway.out_of_cluster_config(CHART_CONFIG))
    assert doc["provider"]["kubernetes"]["leaderElection"] == {"disable": True}
    original = yaml.safe_load(CHART_CONFIG)
    doc["provider"]["kubernetes"].pop("leaderElection")
    assert doc == original


def test_existing_leader_election_settings_are_kept_but_disabled():
    text = CHART_CONFIG.replace("  kubernetes:\n", "  kubernetes:\n    leaderElection:\n      leaseDuration: 15s\n"
                                                   "      disable: false\n")
    doc = yaml.safe_load(envoy_gateway.out_of_cluster_config(text))
    assert doc["provider"]["kubernetes"]["leaderElection"] == {"leaseDuration": "15s", "disable": True}


def test_a_bare_config_gets_the_kubernetes_provider():
    doc = yaml.safe_load(envoy_gateway.out_of_cluster_config("apiVersion: gateway.envoyproxy.io/v1alpha1\n"
                                                             "kind: EnvoyGateway\nprovider:\n  kubernetes:\n"))
    assert doc["provider"] == {"kubernetes": {"leaderElection": {"disable": True}}, "type": "Kubernetes"}


@pytest.mark.parametrize("host, expected", [("0.0.0.0", "127.0.0.1"), ("10.1.2.3", "127.0.0.1"),
                                            ("127.0.0.1", "127.0.0.1")])
def test_the_admin_address_stays_on_loopback(host, expected):
    text = CHART_CONFIG + f"admin:\n  address:\n    host: {host}\n    port: 19500\n"
    out = envoy_gateway.out_of_cluster_config(text)
    assert yaml.safe_load(out)["admin"]["address"] == {"host": expected, "port": 19500}
    assert envoy_gateway.admin_port(out) == 19500


def test_admin_port_defaults_to_upstreams():
    assert envoy_gateway.admin_port(CHART_CONFIG) == 19000


@pytest.mark.parametrize("text", ["just a string", "kind: ConfigMap\n",
                                  "kind: EnvoyGateway\nprovider:\n  type: Custom\n"])
def test_what_is_not_a_kubernetes_envoy_gateway_config_is_refused(text):
    with pytest.raises(TestWorldError):
        envoy_gateway.out_of_cluster_config(text)


def test_cert_files_come_from_the_certgen_secret():
    data = {k: base64.b64encode(f"<{k}>".encode()).decode() for k in ("tls.crt", "tls.key", "ca.crt")}
    assert envoy_gateway.cert_files(data) == {"tls.crt": b"<tls.crt>", "tls.key": b"<tls.key>", "ca.crt": b"<ca.crt>"}
    with pytest.raises(TestWorldError, match="ca.crt"):
        envoy_gateway.cert_files({k: v for k, v in data.items() if k != "ca.crt"})


def test_certgen_disables_the_topology_injector_only_without_its_webhook():
    assert envoy_gateway.certgen_argv("eg", True) == ["eg", "certgen"]
    assert envoy_gateway.certgen_argv("eg", False) == ["eg", "certgen", "--disable-topology-injector"]


def test_the_server_runs_in_private_namespaces_with_certs_bind_mounted(tmp_path):
    argv = envoy_gateway.server_argv("/bin/eg", tmp_path / "c.yaml", tmp_path / "certs", tmp_path / "wasm")
    assert argv[:5] == ["unshare", "--mount", "--net", "--propagation", "private"]
    script = argv[-1]
    assert f"mount --bind {tmp_path / 'certs'} /certs" in script
    assert f"mount --bind {tmp_path / 'wasm'} /var/lib/eg" in script
    assert script.index("ip link set lo up") < script.index("read -r _") < script.index("exec /bin/eg server")
    assert script.endswith(f"--config-path {tmp_path / 'c.yaml'}")


@pytest.mark.parametrize("head, code", [(b"HTTP/1.1 200 OK\r\nContent-Length: 2", 200),
                                        (b"HTTP/1.0 500 Internal Server Error\r\n", 500), (b"", None),
                                        (b"garbage", None)])
def test_http_status(head, code):
    assert envoy_gateway.http_status(head) == code


def test_up_waits_for_the_chart_or_a_ready_server(tmp_path):
    status_file = tmp_path / "status.json"
    started = time.time()
    check = envoy_gateway.supervisor_ready(status_file, started)
    assert check()[0] is False
    for phase, ready in (("waiting-for-config", True), ("starting", False), ("ready", True), ("exited", False),
                         ("failed", False)):
        status_file.write_text(json.dumps({"phase": phase, "updated_at": started + 1}))
        assert check()[0] is ready, phase
    status_file.write_text(json.dumps({"phase": "ready", "updated_at": started - 1}))
    assert check()[0] is False  # written before this start


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
    assert envoy_gateway.webhook_services(TOPOLOGY_WEBHOOK) == [("envoy-gateway-system", "envoy-gateway", 9443)]
    two = {"webhooks": [
        {"clientConfig": {"service": {"name": "a", "namespace": "n"}}},  # port defaults to 443
        {"clientConfig": {"service": {"name": "a", "namespace": "n", "port": 443}}},  # the same Service: once
        {"clientConfig": {"url": "https://127.0.0.1:1/x"}}]}  # kube-apiserver dials URLs itself
    assert envoy_gateway.webhook_services(two) == [("n", "a", 443)]
    assert envoy_gateway.webhook_services({}) == []


def test_the_webhook_is_served_at_the_services_cluster_ip_and_forwarded_to_its_target_port():
    assert envoy_gateway.webhook_endpoint(EG_SERVICE, 9443) == ("127.96.35.193", 9443, 9443)
    service = copy.deepcopy(EG_SERVICE)
    service["spec"]["ports"][1]["targetPort"] = "webhook"
    assert envoy_gateway.webhook_endpoint(service, 9443, {"webhook": 19443}) == ("127.96.35.193", 9443, 19443)
    service["spec"]["ports"][1]["targetPort"] = "9444"
    assert envoy_gateway.webhook_endpoint(service, 9443) == ("127.96.35.193", 9443, 9444)
    del service["spec"]["ports"][1]["targetPort"]  # defaults to the port
    assert envoy_gateway.webhook_endpoint(service, 9443) == ("127.96.35.193", 9443, 9443)


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
        envoy_gateway.webhook_endpoint(service, 9443)


def _echo_server():
    """A loopback server that answers each connection with ``b"inside:"`` and what it received."""
    listener = envoy_gateway._listen(0)  # pylint: disable=protected-access

    def serve():
        while True:
            try:
                conn, _peer = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"inside:" + conn.recv(100))
    threading.Thread(target=serve, daemon=True).start()
    return listener


def _ask(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"hello")
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(100)


def test_the_forwarder_binds_the_cluster_ip_and_follows_the_service():
    inside = _echo_server()
    logs = []
    dialed = []

    def dial_inside(port):
        dialed.append(port)
        return socket.create_connection(("127.0.0.1", inside.getsockname()[1]), timeout=5)
    forwarder = envoy_gateway.WebhookForwarder(dial_inside, logs.append)
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
    forwarder = envoy_gateway.WebhookForwarder(lambda port: None, lambda msg: None)
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
