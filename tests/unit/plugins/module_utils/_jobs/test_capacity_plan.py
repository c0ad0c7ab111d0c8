"""The capacity plan: sold tokens/min over the benchmark's measured input + output tokens/min."""

import json

from ansible_collections.tokenlabs.inference.plugins.module_utils._jobs import capacity_plan

TIERS = {"free": {"tokens_per_minute": 5000}, "pro": {"tokens_per_minute": 50000}}
RECORD = {"format": 1, "models": [
    {"name": "a", "id": "org/a", "node": "spark-01", "levels": [
        {"input_tokens_per_s": 100.0, "decode_tokens_per_s": 400.0}, {"input_tokens_per_s": 300.0, "decode_tokens_per_s": 900.0}]},
    {"name": "b", "id": "org/b", "node": "spark-02", "levels": [{"input_tokens_per_s": 50.0, "decode_tokens_per_s": 250.0}]},
    {"name": "c", "id": "org/c", "node": "spark-02", "levels": [{"error": "timeout"}]}]}


def test_a_models_capacity_is_its_best_level_in_tokens_per_minute():
    assert capacity_plan.model_capacity(RECORD["models"][0]) == 72000
    assert capacity_plan.model_capacity(RECORD["models"][2]) is None


def test_sold_quota_against_platform_node_and_model_capacity():
    result = capacity_plan.plan(TIERS, ["pro", "pro", "free", "pro", "gold"], RECORD)
    assert result["tenants_per_tier"] == {"free": 1, "pro": 3} and result["sold_tokens_per_minute"] == 155000
    assert result["tenants_without_a_known_tier"] == 1
    assert result["capacity_tokens_per_minute"] == 90000 and result["oversubscription"] == 1.72
    assert [(n["node"], n["capacity_tokens_per_minute"], n["oversubscription_if_all_here"]) for n in result["nodes"]] == [
        ("spark-01", 72000, 2.15), ("spark-02", 18000, 8.61)]
    assert result["models"][2] == {"name": "c", "id": "org/c", "node": "spark-02", "capacity_tokens_per_minute": None,
                                   "oversubscription_if_all_here": None}


def test_without_a_record_only_the_sold_quota(tmp_path):
    assert capacity_plan.newest_record(str(tmp_path)) is None
    result = capacity_plan.plan(TIERS, ["free"], None)
    assert (result["sold_tokens_per_minute"], result["capacity_tokens_per_minute"], result["oversubscription"]) == (
        5000, None, None)
    for run_id in ("20261101T000000Z", "20261201T000000Z"):
        (tmp_path / ("benchmark-%s.json" % run_id)).write_text(json.dumps(RECORD))
    assert capacity_plan.newest_record(str(tmp_path)).endswith("benchmark-20261201T000000Z.json")


def test_tenant_tiers_come_from_the_main_secrets_not_the_retired_keys():
    def secret(name, tier):
        return {"metadata": {"name": name, "labels": {"app": "token-labs"},
                             "annotations": {"kuadrant.io/groups": tier, "tokenlabs.io/tenant": name[7:].split(".")[0]}}}
    secrets = [secret("tenant-acme", "pro"), secret("tenant-acme.retired-1a2b", "pro"), secret("tenant-beta", "free")]
    assert sorted(capacity_plan.tenant_tiers_of(secrets)) == ["free", "pro"]
