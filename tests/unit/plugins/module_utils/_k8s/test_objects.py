"""Unit tests of the objects the roles build and of reading object conditions (k8s_wait)."""

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s import objects as k8s_objects


def test_pending_conditions():
    resources = [
        {"metadata": {"name": "ready"}, "status": {"conditions": [{"type": "Available", "status": "True"}]}},
        {"metadata": {"name": "slow"}, "status": {"conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability."}]}},
        {"metadata": {"name": "new"}},
    ]
    assert k8s_objects.pending_conditions(resources, ["ready", "slow", "new", "gone"], "Available") == {
        "slow": ["Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"],
        "new": ["no status conditions reported yet"],
        "gone": ["object not found"],
    }


def test_a_deployment_is_only_ready_when_its_rollout_is_complete():
    """maxUnavailable 1 and one replica: Available=True with no pod at all (the model servers' strategy)."""
    available = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}

    def deployment(name, generation=2, observed=2, replicas=1, updated=1, available_replicas=1, current=1):
        return {"kind": "Deployment", "metadata": {"name": name, "generation": generation},
                "spec": {"replicas": replicas},
                "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": current,
                           "availableReplicas": available_replicas, "conditions": [available]}}
    resources = [deployment("done"), deployment("no-pod", available_replicas=0),
                 deployment("rolling", updated=0, current=1, available_replicas=1),
                 deployment("unseen", observed=1), deployment("old-left", current=2)]
    assert k8s_objects.pending_conditions(resources, [r["metadata"]["name"] for r in resources], "Available") == {
        "no-pod": ["rollout: 0 of 1 replicas available", "Available=True (MinimumReplicasAvailable: )"],
        "rolling": ["rollout: 0 of 1 replicas updated", "rollout: 1 old replicas still present",
                    "Available=True (MinimumReplicasAvailable: )"],
        "unseen": ["rollout: generation 2 not observed yet", "Available=True (MinimumReplicasAvailable: )"],
        "old-left": ["rollout: 1 old replicas still present", "Available=True (MinimumReplicasAvailable: )"],
    }


def test_helm_ownership_patch_and_namespace():
    patch = k8s_objects.helm_ownership_patch("kuadrants.kuadrant.io", "apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                             "kuadrant-operator", "kuadrant-system")
    assert patch["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    assert patch["metadata"]["annotations"] == {"meta.helm.sh/release-name": "kuadrant-operator",
                                                "meta.helm.sh/release-namespace": "kuadrant-system"}
    assert k8s_objects.namespace_definition("token-labs")["metadata"]["labels"] == {"app.kubernetes.io/part-of": "token-labs"}


def test_warning_events_of_a_workload_and_what_it_made():
    events = [
        {"type": "Warning", "reason": "FailedScheduling", "message": "0/3 nodes are available: 1 Insufficient nvidia.com/gpu.",
         "involvedObject": {"name": "engine-5df98577db-x2k4p"}, "lastTimestamp": "2026-12-03T07:00:02Z"},
        {"type": "Warning", "reason": "FailedCreate", "message": 'pod rejected: RuntimeClass "nvidia" not found',
         "involvedObject": {"name": "engine-5df98577db"}, "lastTimestamp": "2026-12-03T07:00:03Z"},
        {"type": "Normal", "reason": "ScalingReplicaSet", "message": "Scaled up", "involvedObject": {"name": "engine"}},
        {"type": "Warning", "reason": "FailedScheduling", "message": "other", "involvedObject": {"name": "engines-1"}},
    ]
    assert k8s_objects.warning_events(events, ["engine"]) == {"engine": [
        'FailedCreate: pod rejected: RuntimeClass "nvidia" not found',
        "FailedScheduling: 0/3 nodes are available: 1 Insufficient nvidia.com/gpu."]}
    assert k8s_objects.warning_events([], ["engine"]) == {}


def test_routes_are_judged_per_parent_gateway():
    def route(*parents, refs=1):
        return {"kind": "HTTPRoute", "metadata": {"name": "tts"},
                "spec": {"parentRefs": [{"name": "gw"}] * refs},
                "status": {"parents": [{"parentRef": {"name": "gw"}, "conditions": conds} for conds in parents]}}
    accepted = [{"type": "Accepted", "status": "True"}, {"type": "ResolvedRefs", "status": "True"}]
    refused = [{"type": "Accepted", "status": "True"},
               {"type": "ResolvedRefs", "status": "False", "reason": "InvalidKind", "message": "InferencePool"}]
    assert k8s_objects.pending_conditions([route(accepted)], ["tts"], "Accepted") == {}
    assert k8s_objects.pending_conditions([route(accepted)], ["tts"], "ResolvedRefs") == {}
    assert k8s_objects.pending_conditions([route(refused)], ["tts"], "ResolvedRefs") == {
        "tts": ["Gateway gw: Accepted=True, ResolvedRefs=False (InvalidKind: InferencePool)"]}
    assert k8s_objects.pending_conditions([route()], ["tts"], "Accepted") == {
        "tts": ["no parent (Gateway) has reported a status yet"]}
    assert k8s_objects.pending_conditions([route(accepted, refs=2)], ["tts"], "Accepted") == {
        "tts": ["1 of 2 parents have reported"]}
    # Kuadrant writes its own entry for the same Gateway: the parent counts once, by any entry
    kuadrant = [{"type": "kuadrant.io/AuthPolicyAffected", "status": "True"}]
    assert k8s_objects.pending_conditions([route(kuadrant, accepted)], ["tts"], "Accepted") == {}
    assert k8s_objects.pending_conditions([route(kuadrant)], ["tts"], "Accepted") == {
        "tts": ["Gateway gw: kuadrant.io/AuthPolicyAffected=True"]}
