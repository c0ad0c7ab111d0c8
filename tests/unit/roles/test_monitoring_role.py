"""The monitoring role's PodMonitors, rendered from its template with the role's defaults: one per component that
exports metrics, the AI Gateway's ext_proc sidecar selected in the Gateway's Envoy pods by its port name."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "monitoring"


def render(**variables):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    env.filters["combine"] = lambda left, right: {**left, **right}
    values = {"tokenlabs_kuadrant_namespace": "kuadrant-system", "tokenlabs_gateway_namespace": "token-labs",
              "tokenlabs_gateway_name": "token-labs-gateway", "monitoring_envoy_namespace": "envoy-gateway-system",
              "monitoring_interval": "30s", "monitoring_labels": {}}
    values.update(variables)
    return yaml.safe_load(env.from_string((ROLE / "templates" / "monitors.yml.j2").read_text()).render(**values))


def test_one_pod_monitor_per_component_with_the_operator_labels():
    monitors = {m["metadata"]["name"]: m for m in render(monitoring_labels={"release": "kps"})}
    assert sorted(monitors) == ["ai-gateway", "authorino", "endpoint-pickers", "limitador", "model-servers"]
    assert all(m["kind"] == "PodMonitor" and m["metadata"]["labels"] == {"app.kubernetes.io/part-of": "token-labs",
                                                                         "release": "kps"} for m in monitors.values())


def test_the_ai_gateway_sidecar_and_envoy_are_scraped_in_the_gateways_envoy_pods():
    monitor = next(m for m in render() if m["metadata"]["name"] == "ai-gateway")
    assert monitor["metadata"]["namespace"] == "envoy-gateway-system"
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "envoy", "gateway.envoyproxy.io/owning-gateway-name": "token-labs-gateway",
        "gateway.envoyproxy.io/owning-gateway-namespace": "token-labs"}
    assert [(e["port"], e["path"]) for e in monitor["spec"]["podMetricsEndpoints"]] == [
        ("aigw-admin", "/metrics"), ("metrics", "/stats/prometheus")]


def test_defaults_and_argument_specs_agree():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)
    assert all(options[name]["default"] == value for name, value in defaults.items())
