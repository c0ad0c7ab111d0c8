"""Reading back what kuadrant-operator generated: the right object for the route, None while it is not there."""

import pytest

from testworld import kuadrant_outputs as ko


def fake(objects):
    def get_json(*args):
        return objects.get(args)
    return get_json


AUTHCONFIGS = ("get", "authconfigs", "-n", "kuadrant-system", "-l", ko.MANAGED_AUTHCONFIGS)


def authconfig(name, rule):
    return {"metadata": {"name": name, "annotations": {ko.ROUTE_RULE_ANNOTATION: rule}}}


def test_the_authconfig_of_a_route_rule_is_found_by_its_annotation():
    get_json = fake({AUTHCONFIGS: {"items": [authconfig("a" * 64, ko.route_rule("other", "llm-inference")),
                                             authconfig("b" * 64, ko.route_rule("g-1", "llm-inference"))]}})
    assert ko.authconfig(get_json, "kuadrant-system", "g-1", "llm-inference")["metadata"]["name"] == "b" * 64
    assert ko.authconfig(get_json, "kuadrant-system", "g-1", "llm-inference", rule=2) is None
    assert ko.route_rule("g-1", "r", 3) == "httproute.gateway.networking.k8s.io:g-1/r#rule-3"


def test_wasm_config_and_limits_of_a_route():
    config = {"services": {}, "actionSets": []}
    limits = [{"name": "free-requests", "namespace": "g-1/llm-inference"},
              {"name": "free-requests", "namespace": "g-2/llm-inference"}]
    get_json = fake({
        ("get", "envoyextensionpolicy", "kuadrant-gw", "-n", "g-1"): {"spec": {"wasm": [{"config": config}]}},
        ("get", "limitador", "limitador", "-n", "kuadrant-system"): {"spec": {"limits": limits}},
    })
    assert ko.wasm_config(get_json, "g-1", "gw") == config
    assert ko.wasm_config(get_json, "g-2", "gw") is None  # not generated (yet)
    assert ko.limitador_limits(get_json, "kuadrant-system", "g-1", "llm-inference") == limits[:1]
    assert ko.limitador_limits(fake({}), "kuadrant-system", "g-1", "llm-inference") == []


def test_waiting_names_what_did_not_appear():
    answers = iter([None, None, {"ok": 1}])
    assert ko.wait_for(lambda: next(answers), 5, "x", interval=0.01) == {"ok": 1}
    with pytest.raises(TimeoutError, match="did not produce the AuthConfig of g-1/r within 0s"):
        ko.wait_for(lambda: None, 0.05, "the AuthConfig of g-1/r", interval=0.01)
