"""The Envoy Gateway component of the test world: what it makes of the chart's configuration, among it the path to
the AI Gateway extension server (pure functions)."""

from __future__ import annotations

import base64

import pytest
import yaml

from testworld import envoy_gateway
from testworld.base import TestWorldError

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


def test_up_waits_for_the_chart_or_a_ready_server(ready_phases):
    assert ready_phases(envoy_gateway.supervisor_ready) == {"waiting-for-config", "ready"}


# --- the extension manager dials the AI Gateway extension server on the bridged loopback port --------------------

def test_envoy_gateway_dials_the_extension_server_on_loopback():
    out = envoy_gateway.out_of_cluster_config(CHART_CONFIG, extension_port=41063)
    service = yaml.safe_load(out)["extensionManager"]["service"]
    assert service == {"ip": {"address": "127.0.0.1", "port": 41063}}
    assert envoy_gateway.extension_dialed(out) == 41063
    # Everything else of the extension manager is kept.
    doc, original = yaml.safe_load(out), yaml.safe_load(CHART_CONFIG)
    for d in (doc, original):
        d["extensionManager"].pop("service")
        d["provider"].pop("kubernetes", None)
    assert doc == original


def test_tls_and_retry_of_the_extension_service_are_kept():
    text = CHART_CONFIG.replace("    fqdn:\n", "    retry:\n      maxAttempts: 3\n    tls:\n      certificateRef:\n"
                                               "        name: ca\n    fqdn:\n")
    service = yaml.safe_load(envoy_gateway.out_of_cluster_config(text, 5))["extensionManager"]["service"]
    assert service == {"retry": {"maxAttempts": 3}, "tls": {"certificateRef": {"name": "ca"}},
                       "ip": {"address": "127.0.0.1", "port": 5}}


def test_without_an_extension_port_or_manager_nothing_is_dialed():
    out = envoy_gateway.out_of_cluster_config(CHART_CONFIG)
    assert yaml.safe_load(out)["extensionManager"]["service"]["fqdn"]["port"] == 1063
    assert envoy_gateway.extension_dialed(out) is None
    bare = envoy_gateway.out_of_cluster_config("kind: EnvoyGateway\nprovider:\n  type: Kubernetes\n", 41063)
    assert "extensionManager" not in yaml.safe_load(bare)
    assert envoy_gateway.extension_dialed(bare) is None
