"""The reference deployment's catalog (inventory/example: five models on two Sparks, Magpie TTS) on the
local control plane: it converges with site.yml's model step, a rerun changes nothing, check mode is clean.

Its own gateway namespace, so the session's platform stays as test_platform_site left it. No model runs
(no kubelet, no GPU): what is shown is that every object is accepted by the real API server.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def test_the_reference_catalog_converges_and_reruns_unchanged(control_plane, tmp_path):
    example = yaml.safe_load((REPO / "inventory/example/group_vars/all/main.yml").read_text())
    namespace = "ref-" + uuid.uuid4().hex[:6]
    extra = tmp_path / "catalog.json"
    extra.write_text(json.dumps({"tokenlabs_models": example["tokenlabs_models"],
                                 "tokenlabs_services": example["tokenlabs_services"],
                                 "tokenlabs_gateway_namespace": namespace,
                                 "tokenlabs_helm_binary": control_plane.helm_bin}))
    args = ("site.yml", "-i", "inventory/local", "--tags", "models", "-e", "@" + str(extra))
    first = control_plane.ansible_playbook(*args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    route = control_plane.kubectl_json("get", "aigatewayroutes", "-n", namespace)["items"][0]
    served = sorted(r["matches"][0]["headers"][0]["value"] for r in route["spec"]["rules"])
    assert served == sorted(m["id"] for m in example["tokenlabs_models"])
    tts = control_plane.kubectl_json("get", "httproute", "magpie-tts", "-n", namespace)
    assert tts["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v1/audio/speech"
    decode = control_plane.kubectl_json("get", "deployment", "llama-3-1-8b-decode", "-n", namespace)
    assert "--mem-fraction-static" in decode["spec"]["template"]["spec"]["containers"][0]["args"]

    mark = control_plane.audit_mark()
    again = control_plane.ansible_playbook(*args)
    assert again.returncode == 0 and RECAP.search(again.stdout)[2] == "0", again.stdout[-3000:]
    checked = control_plane.ansible_playbook(*args, "--check")
    assert checked.returncode == 0 and RECAP.search(checked.stdout)[2] == "0", checked.stdout[-3000:]
    writes = [w for w in control_plane.settled_writes(mark, namespace)
              if not (w.get("user") or {}).get("username", "").startswith("system:")]
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]
