"""The Kuadrant operators of the test world: what the supervisor makes of the chart's Deployments (pure functions)."""

from __future__ import annotations

import json
import time

from testworld import gobuild, kuadrant

# The container env of the kuadrant-operator 1.5.2 chart's Deployments (charts/kuadrant-operator-1.5.2.tgz).
KUADRANT_ENV = [
    {"name": "EXTENSIONS_DIR", "value": "/extensions"},
    {"name": "EXTENSIONS_DESCRIPTOR_SERVICE_PORT", "value": "50051"},
    {"name": "RELATED_IMAGE_WASMSHIM", "value": "quay.io/kuadrant/wasm-shim:v0.14.1"},
    {"name": "RELATED_IMAGE_DEVELOPERPORTAL", "value": "quay.io/kuadrant/developer-portal-controller:v0.2.1"},
    {"name": "OPERATOR_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
]
LIMITADOR_ENV = [{"name": "RELATED_IMAGE_LIMITADOR", "value": "quay.io/kuadrant/limitador:v2.4.2"}]


def test_kuadrant_operator_env_is_the_charts_with_extensions_off():
    env = kuadrant.operator_env("kuadrant-operator", KUADRANT_ENV, "kuadrant-system")
    assert env["OPERATOR_NAMESPACE"] == "kuadrant-system"  # the fieldRef, resolved to the Deployment's namespace
    assert env["RELATED_IMAGE_WASMSHIM"] == "quay.io/kuadrant/wasm-shim:v0.14.1"
    assert env["WITH_EXTENSIONS"] == "false"
    assert env["EXTENSIONS_DIR"] == "/extensions"


def test_the_charts_values_win_over_the_defaults_and_the_overrides_over_the_chart():
    env = kuadrant.operator_env("kuadrant-operator", [{"name": "RELATED_IMAGE_WASMSHIM", "value": "example/shim:1"},
                                                      {"name": "WITH_EXTENSIONS", "value": "true"}], "ns")
    assert env["RELATED_IMAGE_WASMSHIM"] == "example/shim:1"
    assert env["WITH_EXTENSIONS"] == "false"


def test_defaults_fill_what_the_chart_leaves_out():
    assert kuadrant.operator_env("kuadrant-operator", [], "kuadrant-system") == {
        "RELATED_IMAGE_WASMSHIM": "quay.io/kuadrant/wasm-shim:v0.14.1", "OPERATOR_NAMESPACE": "kuadrant-system",
        "WITH_EXTENSIONS": "false"}
    assert kuadrant.operator_env("limitador-operator", None, "x") == {
        "RELATED_IMAGE_LIMITADOR": "quay.io/kuadrant/limitador:v2.4.2"}
    assert kuadrant.operator_env("authorino-operator", [], "x") == {
        "RELATED_IMAGE_AUTHORINO": "quay.io/kuadrant/authorino:v0.26.2"}


def test_other_value_sources_are_left_out():
    env = kuadrant.operator_env("limitador-operator", LIMITADOR_ENV + [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "EMPTY"}], "ns")
    assert "TOKEN" not in env
    assert env["EMPTY"] == ""
    assert "OPERATOR_NAMESPACE" not in env  # only kuadrant-operator reads it


def test_container_env_of_a_deployment():
    dep = {"spec": {"template": {"spec": {"containers": [{"name": "manager", "env": LIMITADOR_ENV}]}}}}
    assert kuadrant.container_env(dep) == LIMITADOR_ENV
    assert kuadrant.container_env({"spec": {"template": {"spec": {"containers": [{"name": "m"}]}}}}) == []
    assert kuadrant.container_env(None) == []


def test_argv_binds_loopback_only_and_leader_election_is_off():
    argv = kuadrant.operator_argv("authorino-operator", "/bin/authorino-operator", 4001, 4002)
    assert argv == ["/bin/authorino-operator", "--leader-elect=false", "--metrics-bind-address=127.0.0.1:4001",
                    "--health-probe-bind-address=127.0.0.1:4002"]


def test_providers_are_detected_as_kuadrant_operator_does():
    discovery = {"gateway.networking.k8s.io/v1": {"httproutes", "gateways"},
                 "gateway.envoyproxy.io/v1alpha1": {"envoyextensionpolicies", "envoypatchpolicies"},
                 "limitador.kuadrant.io/v1alpha1": {"limitadors"},
                 "operator.authorino.kuadrant.io/v1beta1": {"authorinos"},
                 "authorino.kuadrant.io/v1beta3": {"authconfigs"},
                 "cert-manager.io/v1": {"certificates", "issuers"}}  # no clusterissuers: not detected
    assert kuadrant.served_providers(discovery) == ["authorino-operator", "envoy-gateway", "gateway-api",
                                                    "limitador-operator"]
    del discovery["gateway.envoyproxy.io/v1alpha1"]
    assert "envoy-gateway" not in kuadrant.served_providers(discovery)
    assert kuadrant.served_providers({}) == []


def test_missing_kinds():
    required = kuadrant.OPERATORS["limitador-operator"]["kinds"]
    assert kuadrant.missing_kinds(required, {"limitador.kuadrant.io/v1alpha1": {"limitadors"}}) == []
    assert kuadrant.missing_kinds(required, {"limitador.kuadrant.io/v1beta1": {"limitadors"}}) == [
        "limitadors.limitador.kuadrant.io/v1alpha1"]
    kuadrant_kinds = kuadrant.OPERATORS["kuadrant-operator"]["kinds"]
    missing = kuadrant.missing_kinds(kuadrant_kinds, {"kuadrant.io/v1": {"authpolicies", "ratelimitpolicies"}})
    assert "tokenratelimitpolicies.kuadrant.io/v1alpha1" in missing and "authpolicies.kuadrant.io/v1" not in missing


def test_overall_phase():
    assert kuadrant.overall_phase({"a": "ready", "b": "ready"}) == "ready"
    assert kuadrant.overall_phase({"a": "waiting-for-chart", "b": "waiting-for-chart"}) == "waiting-for-chart"
    assert kuadrant.overall_phase({"a": "ready", "b": "exited"}) == "starting"
    assert kuadrant.overall_phase({}) == "starting"


def test_up_waits_for_the_chart_or_every_operator_ready(ready_phases):
    assert ready_phases(kuadrant.supervisor_ready) == {"waiting-for-chart", "ready"}


def test_what_up_waits_for_is_each_operators_phase(tmp_path):
    status_file = tmp_path / "kuadrant.status.json"
    check = kuadrant.supervisor_ready(status_file, time.time() - 10)
    status_file.write_text(json.dumps({"phase": "starting", "updated_at": time.time(), "operators": {
        "limitador-operator": {"phase": "ready"},
        "kuadrant-operator": {"phase": "waiting", "detail": "limitador-operator is not ready yet"}}}))
    assert check() == (False, "phase starting: limitador-operator: ready; "
                              "kuadrant-operator: waiting limitador-operator is not ready yet")


def test_each_operator_has_its_own_identity_and_binary():
    assert kuadrant.SUBJECTS == {
        "limitador-operator": "/O=system:masters/CN=system:limitador-operator",
        "authorino-operator": "/O=system:masters/CN=system:authorino-operator",
        "kuadrant-operator": "/O=system:masters/CN=system:kuadrant-operator"}
    for name in kuadrant.OPERATORS:
        assert name in gobuild.COMPONENTS[name]["commands"]
        assert gobuild.COMPONENTS[name]["env"]["GONOSUMDB"] == "github.com/kuadrant/*"


def test_the_pinned_versions():
    assert gobuild.pinned_version("kuadrant-operator") == "v1.5.2"
    assert gobuild.pinned_version("limitador-operator") == "v0.18.3"
    assert gobuild.pinned_version("authorino-operator") == "v0.25.1"
    assert "-X main.version=v1.5.2" in gobuild.ldflags("kuadrant-operator")
