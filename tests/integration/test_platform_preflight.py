"""Bad platform input is rejected by site.yml before anything is written.

Each case runs the real site.yml with inventory/local plus one bad variable and
checks the failure message (field, value, what is allowed) and that the API
server received no write from the playbook.
"""

from __future__ import annotations

import json
import os

import pytest

GOOD = {"id": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1", "name": "nemotron-nano-8b", "engine": "vllm",
        "node": "spark-01", "image": "ghcr.io/elizabetht/token-labs/vllm-serve:v0.4.0", "gpu_memory_share": 0.5}


def without(key):
    return {k: v for k, v in GOOD.items() if k != key}


CASES = {
    "model-without-node": ({"tokenlabs_models": [without("node")]},
                           "field 'node' is missing"),
    "model-without-image": ({"tokenlabs_models": [without("image")]},
                            "field 'image' is missing"),
    "duplicate-model-ids": ({"tokenlabs_models": [GOOD, dict(GOOD, name="other", node="spark-02")]},
                            "duplicate model id 'nvidia/Llama-3.1-Nemotron-Nano-8B-v1'"),
    "unknown-engine": ({"tokenlabs_models": [dict(GOOD, engine="ollama")]},
                       "engine 'ollama' is not supported; allowed: vllm, sglang, trtllm"),
    "model-on-an-unknown-node": ({"tokenlabs_models": [dict(GOOD, node="spark-99")]},
                                 "tokenlabs_models[0] (nemotron-nano-8b): node 'spark-99' is not a node of the "
                                 "cluster; nodes: controller, spark-01, spark-02"),
    "service-without-port": ({"tokenlabs_services": [{"name": "tts", "image": "example.invalid/tts:v1",
                                                      "node": "spark-01", "paths": ["/v1/audio/speech"]}]},
                             "tokenlabs_services[0] (tts): field 'port' is missing"),
    "two-services-one-path": ({"tokenlabs_services": [
        {"name": n, "image": "example.invalid/tts:v1", "node": "spark-01", "port": 8000,
         "paths": ["/v1/audio/speech"]} for n in ("tts", "tts2")]},
        "tokenlabs_services[1] (tts2): path '/v1/audio/speech' is already routed to tts"),
    "version-not-a-version": ({"tokenlabs_envoy_gateway_version": "latest"},
                              "tokenlabs_envoy_gateway_version: 'latest' is not a version"),
    "kuadrant-with-token-limit-bypass": ({"tokenlabs_kuadrant_version": "1.4.1"},
                                         "tokenlabs_kuadrant_version 1.4.1 is not allowed"),
}


def _user_writes(cp, mark):
    return cp.client_writes(mark)


def _run(cp, tmp_path, variables, env=None):
    vars_file = tmp_path / "bad.json"
    vars_file.write_text(json.dumps(variables))
    mark = cp.audit_mark()
    proc = cp.ansible_playbook("site.yml", "-i", "inventory/local", "-e", f"@{vars_file}", env=env)
    return proc, " ".join(proc.stdout.split()), _user_writes(cp, mark)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_rejected_before_any_write(control_plane, tmp_path, case):
    variables, message = CASES[case]
    proc, text, writes = _run(control_plane, tmp_path, variables)
    assert proc.returncode != 0
    assert message in text, text[-3000:]
    assert "platform_preflight" in text
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]


def test_mirror_lacking_an_artifact_is_rejected(control_plane, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "charts").mkdir(parents=True)
    for archive in control_plane.mirror.joinpath("charts").glob("*.tgz"):
        if not archive.name.startswith("kuadrant-operator"):
            os.symlink(archive, mirror / "charts" / archive.name)
    os.symlink(control_plane.mirror / "crds", mirror / "crds")
    os.symlink(control_plane.mirror / "crds-2026.12", mirror / "crds-2026.12")
    proc, text, writes = _run(control_plane, tmp_path, {}, env={"TOKENLABS_MIRROR": str(mirror)})
    assert proc.returncode != 0
    assert f"The artifact mirror {mirror} lacks charts/kuadrant-operator-1.5.2.tgz" in text, text[-3000:]
    assert writes == []
