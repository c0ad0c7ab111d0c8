"""Each release set's model-serving values against its own mirrored charts (`helm template`, pinned helm).

The inferencepool chart renamed its image keys in v1.4 (hub/name -> registry/repository, each release ignoring
the other's) and GAIE v1.5 refuses the engine metric flags v1.3 needed: a wrong key renders the amd64-only
upstream EPP image without any error, so the rendered objects are what is checked here.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as mc
from support.cluster import REPO, _bin, mirror_path

DEFAULTS = yaml.safe_load((REPO / "roles" / "platform_defaults" / "defaults" / "main.yml").read_text())
SGLANG = {"id": "Qwen/Qwen3-8B", "name": "qwen3-8b", "engine": "sglang", "node": "spark-02",
          "image": "docker.io/lmsysorg/sglang:v0.5.5", "gpu_memory_share": 0.5}


def render(chart: str, values: dict, tmp_path) -> list[dict]:
    values_file = tmp_path / "values.yml"
    values_file.write_text(yaml.safe_dump(values))
    proc = subprocess.run([_bin("helm"), "template", "r", str(mirror_path() / "charts" / chart), "-f", str(values_file)],
                          capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.mark.parametrize("release_set", ["current", "reference"])
def test_endpoint_picker_image_flags_and_failure_mode(release_set, tmp_path):
    release = DEFAULTS["tokenlabs_release_sets"][release_set]
    version = release["components"]["inference_extension"]["version"]
    epp = release["epp_image"]
    objects = render(f"inferencepool-{version}.tgz",
                     mc.inferencepool_values(SGLANG, epp, release["engine_metrics"]), tmp_path)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{epp['hub']}/{epp['name']}:{epp['tag']}"
    metric_flags = [a for a in container["args"] if a.endswith("-metric")]
    pool = next(o for o in objects if o["kind"] == "InferencePool")
    assert pool["spec"]["selector"]["matchLabels"] == mc.model_labels(SGLANG)
    if release["engine_metrics"] == "engine_label":  # GAIE v1.5: flags refused, pods name their engine
        assert metric_flags == []
        assert pool["spec"]["endpointPickerRef"]["failureMode"] == "FailClose"
    else:
        assert "--total-queued-requests-metric" in metric_flags


@pytest.mark.parametrize("release_set", ["current", "reference"])
def test_model_server_rolls_one_pod_at_a_time_and_names_its_engine(release_set, tmp_path):
    release = DEFAULTS["tokenlabs_release_sets"][release_set]
    version = release["components"]["modelservice"]["version"]
    objects = render(f"llm-d-modelservice-{version}.tgz",
                     mc.modelservice_values(SGLANG, engine_metrics=release["engine_metrics"]), tmp_path)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if release["engine_metrics"] == "engine_label":
        assert labels[mc.ENGINE_TYPE_LABEL] == "sglang"
        # v0.4.12 takes the strategy from values; v0.4.5 ignores it and the role patches it (decode_strategy_patch)
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    else:
        assert mc.ENGINE_TYPE_LABEL not in labels
