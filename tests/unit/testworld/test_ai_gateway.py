"""The AI Gateway component of the test world: what it makes of the chart's Deployment (pure functions)."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest

from testworld import ai_gateway, netns
from testworld.base import TestWorldError, free_port

# The controller container's arguments ai-gateway-helm v1.0.0 renders for the collection's (default) values.
CHART_ARGS = [
    "-logLevel=info", "--extProcImage=docker.io/envoyproxy/ai-gateway-extproc:v1.0.0",
    "--extProcImagePullPolicy=IfNotPresent", "--extProcLogLevel=info", "--envoyGatewayNamespace=envoy-gateway-system",
    "--endpointPrefixes=openai:,cohere:/cohere,anthropic:/anthropic", "--tlsCertDir=/certs", "--tlsCertName=tls.crt",
    "--tlsKeyName=tls.key", "--webhookPort=9443", "--enableLeaderElection=true", "--rootPrefix=/",
    "--cacheSyncTimeout=2m", "--watchNamespaces=",
    "--quotaRateLimitServiceAddr=envoy-ai-gateway-ratelimit.envoy-gateway-system", "--quotaRateLimitTimeout=5",
    "--quotaRateLimitFailureModeDeny=false", "--mcpSessionEncryptionSeed=default-insecure-seed",
    "--mcpSessionEncryptionIterations=100000"]

DEPLOYMENT = {
    "metadata": {"name": "ai-gateway-controller", "namespace": "envoy-ai-gateway-system"},
    "spec": {"template": {"spec": {
        "containers": [{
            "name": "ai-gateway-helm", "image": "docker.io/envoyproxy/ai-gateway-controller:v1.0.0",
            "args": CHART_ARGS,
            "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
            "volumeMounts": [{"mountPath": "/certs", "name": "certs", "readOnly": True}]}],
        "volumes": [{"name": "certs", "secret": {"secretName": "self-signed-cert-for-mutating-webhook"}}]}}},
}


def test_the_chart_arguments_are_kept_but_certificates_and_leader_election():
    args = ai_gateway.controller_args(DEPLOYMENT, Path("/state/ai-gateway/certs"))
    assert args[-2:] == ["--tlsCertDir=/state/ai-gateway/certs", "--enableLeaderElection=false"]
    kept = [a for a in CHART_ARGS if not a.startswith(("--tlsCertDir=", "--enableLeaderElection="))]
    assert args[:-2] == kept
    assert not any(a.startswith("--tlsCertDir=/certs") or a == "--enableLeaderElection=true" for a in args)


def test_single_dash_and_bare_flags_are_recognised():
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = ["-tlsCertDir=/x", "-enableLeaderElection",
                                                                       "--extProcEnableRedaction"]
    assert ai_gateway.controller_args(deployment, Path("/c")) == [
        "--extProcEnableRedaction", "--tlsCertDir=/c", "--enableLeaderElection=false"]


def test_a_flag_value_as_its_own_argument_is_refused():
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = ["--logLevel", "debug"]
    with pytest.raises(TestWorldError, match="'debug'"):
        ai_gateway.controller_args(deployment, Path("/c"))


def test_a_deployment_without_containers_is_refused():
    with pytest.raises(TestWorldError, match="no container"):
        ai_gateway.controller_args({"spec": {"template": {"spec": {}}}}, Path("/c"))


@pytest.mark.parametrize("args, port", [([], 1063), (["--port=:2000"], 2000), (["-port=127.0.0.1:2001"], 2001)])
def test_the_extension_server_port_inside(args, port):
    assert ai_gateway.extension_listen_port(["-logLevel=info", *args]) == port


def test_the_environment_is_resolved_as_the_kubelet_would():
    assert ai_gateway.controller_env(DEPLOYMENT) == {"POD_NAMESPACE": "envoy-ai-gateway-system"}
    deployment = copy.deepcopy(DEPLOYMENT)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": 1}, {"name": "B", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.name"}}}]
    assert ai_gateway.controller_env(deployment) == {"A": "1", "B": "ai-gateway-controller-testworld",
                                                     "POD_NAMESPACE": "envoy-ai-gateway-system"}
    container["env"] = [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    with pytest.raises(TestWorldError, match="S comes from"):
        ai_gateway.controller_env(deployment)


def test_the_certificates_come_from_the_secret_mounted_on_certs():
    assert ai_gateway.certs_secret_name(DEPLOYMENT) == "self-signed-cert-for-mutating-webhook"
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] = "from-cert-manager"
    assert ai_gateway.certs_secret_name(deployment) == "from-cert-manager"
    del deployment["spec"]["template"]["spec"]["volumes"]
    assert ai_gateway.certs_secret_name(deployment) == ai_gateway.DEFAULT_CERTS_SECRET


def test_secret_files_are_the_secret_volume_and_must_hold_what_the_flags_name():
    data = {k: base64.b64encode(f"<{k}>".encode()).decode() for k in ("tls.crt", "tls.key", "ca.crt")}
    assert ai_gateway.secret_files(data, CHART_ARGS) == {"tls.crt": b"<tls.crt>", "tls.key": b"<tls.key>",
                                                         "ca.crt": b"<ca.crt>"}
    with pytest.raises(TestWorldError, match="bundle.pem"):
        ai_gateway.secret_files(data, ["--caBundleName=bundle.pem"])
    with pytest.raises(TestWorldError, match="tls.key"):
        ai_gateway.secret_files({k: v for k, v in data.items() if k != "tls.key"}, CHART_ARGS)


def test_the_fingerprint_follows_what_the_controller_is_started_from():
    base = ai_gateway.fingerprint(CHART_ARGS, {"POD_NAMESPACE": "x"}, {"tls.crt": "a"})
    assert base == ai_gateway.fingerprint(list(CHART_ARGS), {"POD_NAMESPACE": "x"}, {"tls.crt": "a"})
    assert base != ai_gateway.fingerprint(CHART_ARGS, {"POD_NAMESPACE": "x"}, {"tls.crt": "b"})
    assert base != ai_gateway.fingerprint(CHART_ARGS[1:], {"POD_NAMESPACE": "x"}, {"tls.crt": "a"})


def test_up_waits_for_the_chart_or_a_ready_controller(ready_phases):
    assert ready_phases(ai_gateway.supervisor_ready) == {"waiting-for-chart", "ready"}


def test_nothing_serving_is_not_serving():
    assert ai_gateway.grpc_serving(free_port(), timeout=0.5) is False


def test_the_pod_mutator_is_served_at_the_controller_services_cluster_ip():
    """The chart's webhook configuration and Service (ports of its values), the ClusterIP from the loopback range."""
    configuration = {"webhooks": [{
        "name": "ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local", "failurePolicy": "Fail",
        "clientConfig": {"service": {"name": "ai-gateway-controller", "namespace": "envoy-ai-gateway-system",
                                     "port": 9443, "path": "/mutate"}}}]}
    service = {"metadata": {"name": "ai-gateway-controller", "namespace": "envoy-ai-gateway-system"},
               "spec": {"type": "ClusterIP", "clusterIP": "127.96.35.193", "ports": [
                   {"name": "mutating-webhook", "port": 9443, "targetPort": 9443, "protocol": "TCP"},
                   {"name": "grpc", "port": 1063, "targetPort": 1063, "protocol": "TCP"}]}}
    [(namespace, name, port)] = netns.webhook_services(configuration)
    assert (namespace, name, port) == ("envoy-ai-gateway-system", "ai-gateway-controller", 9443)
    assert netns.webhook_endpoint(service, port) == ("127.96.35.193", 9443, 9443)
    service["spec"]["ports"][0]["targetPort"] = "webhook"
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "webhook", "containerPort": 9443}, {"containerPort": 1063}]
    assert ai_gateway.container_ports(deployment) == {"webhook": 9443}
    assert netns.webhook_endpoint(service, port, ai_gateway.container_ports(deployment))[2] == 9443
    assert ai_gateway.container_ports(DEPLOYMENT) == {}
