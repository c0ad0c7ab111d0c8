"""Non-LLM services: their checks (field, value, allowed) and the objects they become."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import services as service_catalog

TTS = {"name": "magpie-tts", "image": "ghcr.io/example/magpie-tts:v1", "node": "spark-01", "port": 8000,
       "paths": ["/v1/audio/speech"], "gpu_memory_share": 0.05}
MODEL = {"name": "big", "node": "spark-01", "gpu_memory_share": 0.9}


def errors_of(*services, models=(MODEL,)):
    return service_catalog.validate_services(list(services), list(models))


def test_a_valid_service():
    assert errors_of(TTS) == [] and service_catalog.validate_services(None) == []


@pytest.mark.parametrize("change,message", [
    ({"port": None}, "field 'port' is missing"),
    ({"paths": []}, "field 'paths' is missing"),
    ({"port": 70000}, "port 70000 must be a TCP port number, 1-65535"),
    ({"paths": ["v1/audio"]}, "must be a URL path starting with '/'"),
    ({"paths": ["/v1/chat/completions"]}, "is served to the models by the AIGatewayRoute"),
    ({"name": "big"}, "name 'big' is taken (a model of tokenlabs_models)"),
    ({"name": "Magpie"}, "is not a valid DNS-1123 label"),
    ({"gpu_memory_share": 1.5}, "gpu_memory_share 1.5 must be a number with 0 < share <= 1"),
    ({"gpu_memory_share": 0.2}, "node 'spark-01': gpu_memory_share of big, magpie-tts (models and services) adds "
                                "up to 1.10"),
    ({"colour": "blue"}, "unknown field 'colour'"),
])
def test_bad_services_are_named_with_field_value_and_allowed(change, message):
    service = dict(TTS, **change)
    assert any(message in e for e in errors_of(service)), errors_of(service)


def test_two_services_cannot_claim_one_path():
    errors = errors_of(TTS, dict(TTS, name="other"))
    assert errors == ["tokenlabs_services[1] (other): path '/v1/audio/speech' is already routed to magpie-tts; "
                      "each path goes to one service"]


def test_objects_on_the_gateway():
    deployment, service, route = service_catalog.render(TTS, "token-labs", "token-labs-gateway", "token-labs")
    assert deployment["metadata"]["labels"]["tokenlabs.io/component"] == "service"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "spark-01"} and pod["runtimeClassName"] == "nvidia"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"name": "TOKENLABS_GPU_MEMORY_SHARE", "value": "0.05"} in pod["containers"][0]["env"]
    assert service["spec"]["ports"][0]["port"] == 8000
    assert route["spec"]["parentRefs"][0]["name"] == "token-labs-gateway"
    assert route["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1/audio/speech"}}]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "magpie-tts", "port": 8000}]
    cpu_only = service_catalog.render({k: v for k, v in TTS.items() if k != "gpu_memory_share"}, "ns", "gw", "ns")[0]
    assert "runtimeClassName" not in cpu_only["spec"]["template"]["spec"]


def test_prune_selects_only_the_services_objects():
    prune = service_catalog.service_prune("gw")
    assert prune["label_selector"] == "app.kubernetes.io/managed-by=tokenlabs.inference,tokenlabs.io/component=service"
    assert prune["namespace"] == "gw"
    assert [k["kind"] for k in prune["kinds"]] == ["Deployment", "Service", "HTTPRoute"]
    labels = service_catalog.render_all([{"name": "tts", "image": "i:1", "node": "spark-01", "port": 8000,
                                          "paths": ["/v1/audio/speech"]}], "gw", "gateway", "gw")[0]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in (part.split("=") for part in prune["label_selector"].split(",")))
