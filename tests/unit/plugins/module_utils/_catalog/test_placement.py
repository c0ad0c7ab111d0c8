"""Where the model servers run, read back from their pods: the scheduler's reason for a model that cannot run."""

from __future__ import annotations

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import placement

MODELS = [{"name": "big", "node": "spark-01"}, {"name": "small", "node": "spark-02"},
          {"name": "parked", "node": "spark-02", "replicas": 0}]
REFUSAL = ("0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) didn't match Pod's node "
           "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod.")


def pod(name, model, node=None, scheduled=True, message=None, role="decode", deleting=False):
    conditions = [{"type": "PodScheduled", "status": "True" if scheduled else "False",
                   "reason": None if scheduled else "Unschedulable", "message": message}]
    meta = {"name": name, "labels": {"llm-d.ai/model": model, "llm-d.ai/role": role}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T10:00:00Z"
    status = {"phase": "Running" if node else "Pending", "conditions": conditions}
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_models_on_their_nodes_have_no_problem():
    pods = [pod("big-decode-1", "big", "spark-01"), pod("small-decode-1", "small", "spark-02")]
    assert placement.placement_problems(MODELS, pods, "token-labs") == []


def test_an_unschedulable_model_is_named_with_its_node_and_the_schedulers_reason():
    pods = [pod("big-decode-1", "big", "spark-01"), pod("small-decode-1", "small", scheduled=False, message=REFUSAL)]
    [problem] = placement.placement_problems(MODELS, pods, "token-labs")
    assert problem.startswith("model small (Deployment token-labs/small-decode, catalog node spark-02): "
                              "pod small-decode-1 cannot be scheduled, the scheduler says: 0/3 nodes are available")
    assert "Insufficient nvidia.com/gpu" in problem


def test_a_pod_on_another_node_and_a_model_without_pods_are_reported():
    problems = placement.placement_problems(MODELS, [pod("big-decode-1", "big", "spark-02")], "ns")
    assert problems == ["model big (Deployment ns/big-decode, catalog node spark-01): pod big-decode-1 runs on node "
                        "spark-02", "model small (Deployment ns/small-decode, catalog node spark-02): no pod exists"]


def test_terminating_pods_and_other_roles_do_not_count():
    pods = [pod("big-decode-1", "big", "spark-01"), pod("small-old", "small", scheduled=False, deleting=True),
            pod("small-prefill", "small", scheduled=False, role="prefill"), pod("small-decode-2", "small", "spark-02")]
    assert placement.placement_problems(MODELS, pods, "ns") == []
