"""The release record site.yml writes and the downgrade check the preflight makes from it."""

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import releases

CURRENT = {"gateway_api": "v1.6.1", "envoy_gateway": "v1.9.0", "ai_gateway": "v1.0.0", "kuadrant": "1.5.2",
           "inference_extension": "v1.5.0", "modelservice": "v0.4.12", "gpu_operator": "v26.7.0"}
REFERENCE = {"gateway_api": "v1.4.1", "envoy_gateway": "v1.6.4", "ai_gateway": "v0.5.0", "kuadrant": "1.4.3",
             "inference_extension": "v1.3.0", "modelservice": "v0.4.5", "gpu_operator": "v25.10.1"}


def test_record_names_the_set_and_every_component():
    record = releases.release_record("current", dict(CURRENT, unrelated="x"), "kube-system")
    assert record["metadata"]["name"] == "tokenlabs-platform-release"
    assert record["metadata"]["namespace"] == "kube-system"
    assert record["data"] == dict(CURRENT, **{"release-set": "current"})


def test_upgrade_and_rerun_are_not_downgrades():
    recorded = releases.release_record("reference", REFERENCE, "kube-system")["data"]
    assert releases.downgrades(recorded, CURRENT, "current") == []
    assert releases.downgrades(releases.release_record("current", CURRENT, "ns")["data"], CURRENT, "current") == []
    assert releases.downgrades({}, REFERENCE, "reference") == []  # a cluster without a record (before the record)
    assert releases.downgrades(None, REFERENCE, "reference") == []


def test_downgrade_names_each_component_its_versions_and_variable():
    recorded = releases.release_record("current", CURRENT, "kube-system")["data"]
    messages = releases.downgrades(recorded, REFERENCE, "reference")
    assert len(messages) == 7
    assert ("Envoy Gateway v1.9.0 runs on the cluster (release set current); tokenlabs_envoy_gateway_version v1.6.4 "
            "(release set reference) would downgrade it") in messages
    # one component pinned back by hand is a downgrade too, and "v" prefixes do not matter
    one = releases.downgrades(recorded, dict(CURRENT, kuadrant="v1.5.1"), "current")
    assert one == ["kuadrant-operator 1.5.2 runs on the cluster (release set current); tokenlabs_kuadrant_version "
                   "v1.5.1 (release set current) would downgrade it"]


def test_values_that_are_not_versions_are_left_to_the_version_check():
    recorded = releases.release_record("current", CURRENT, "kube-system")["data"]
    assert releases.downgrades(recorded, dict(CURRENT, envoy_gateway="latest"), "current") == []
