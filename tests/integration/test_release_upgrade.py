"""Moving a running platform from the February reference release set to the current one with ``site.yml``.

On a new cluster of its own (no CRDs installed beforehand, as on a fresh MicroK8s): ``site.yml`` with
``tokenlabs_release_set=reference`` deploys the reference set with the demo tenant of inventory/local; the same
``site.yml`` with the default (current) set then upgrades CRDs, charts and objects in place while the demo tenant's
key is polled at Authorino; a rerun writes nothing; moving back is refused before any write.

The world runs the current set's controllers (``up platform``), each only for the chart release it was built from:
on the reference set none runs (their own versions cannot be built here), so the reference phase's AuthConfig is
the one the stand-in ``testworld.kuadrant_reference`` derives (``testworld.gateway_check``), under the name kuadrant-operator
gives it; once the upgrade installs kuadrant-operator 1.5.2 the real operator takes that AuthConfig over and
reconciles it. Authorino is the test world's (v0.26.1). The tenant's key is polled at Authorino through the whole
upgrade, and afterwards a tier change reaches Authorino through the operator's own AuthConfigs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest

from testworld import authorino as authorino_component
from testworld.authorino_client import AuthorinoClient
from testworld.base import State

CLUSTER_CRDS = None  # a new cluster: site.yml installs every CRD itself
RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
KUADRANT_NS = "kuadrant-system"
REFERENCE_CHARTS = {"eg": "gateway-helm-v1.6.4", "aieg": "ai-gateway-helm-v0.5.0",
                    "kuadrant-operator": "kuadrant-operator-1.4.3", "gpu-operator": "gpu-operator-v25.10.1",
                    "nemotron-nano-8b-pool": "inferencepool-v1.3.0",
                    "nemotron-nano-8b-modelservice": "llm-d-modelservice-v0.4.5"}
CURRENT_CHARTS = {"eg": "gateway-helm-v1.9.0", "aieg": "ai-gateway-helm-v1.0.0",
                  "kuadrant-operator": "kuadrant-operator-1.5.2", "gpu-operator": "gpu-operator-v26.7.0",
                  "nemotron-nano-8b-pool": "inferencepool-v1.5.0",
                  "nemotron-nano-8b-modelservice": "llm-d-modelservice-v0.4.12"}


def changed(proc):
    match = RECAP.search(proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-3000:]
    return int(match[2])


class World:
    def __init__(self, cluster):
        self.cluster = cluster
        self.key_file = cluster.state_dir / "tenant-keys" / "demo-free.key"

    def site(self, *args):
        return self.cluster.ansible_playbook("site.yml", "-i", "inventory/local", "-e",
                                             json.dumps({"tokenlabs_helm_binary": self.cluster.helm_bin}), *args)

    def charts(self):
        releases = json.loads(self.cluster.helm("list", "-A", "-o", "json").stdout)
        return {r["name"]: r["chart"] for r in releases}

    def record(self):
        return self.cluster.kubectl_json("get", "configmap", "tokenlabs-platform-release", "-n", "kube-system")["data"]

    def tenant_secret(self):
        secret = self.cluster.kubectl_json("get", "secret", "tenant-demo-free", "-n", KUADRANT_NS)
        return secret["data"], {k: v for k, v in secret["metadata"]["annotations"].items()
                                if not k.startswith("kubectl.kubernetes.io/")}

    def gateway_check(self):
        """The demo tenant's key at Authorino, through the AuthConfig translated from the deployed AuthPolicy."""
        return subprocess.run([sys.executable, "-m", "testworld.gateway_check", "--key-file", str(self.key_file),
                               "--state-dir", str(self.cluster.state_dir)],
                              capture_output=True, text=True, env=self.cluster.env, check=False)


@pytest.fixture(scope="module")
def world(cluster):
    world = World(cluster)
    # The reference set's controllers cannot run here (the module proxy refuses their modules) and the current
    # set's run only for their own releases (testworld.base.chart_version_problem): nothing writes their conditions.
    first = world.site("-e", "tokenlabs_release_set=reference", "-e", "tokenlabs_wait_for_controllers=false")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    authorino_component.up(State(cluster.state_dir))
    return world


def test_reference_set_deploys_and_records_itself(world):
    assert {name: world.charts().get(name) for name in REFERENCE_CHARTS} == REFERENCE_CHARTS
    assert world.record() == {"release-set": "reference", "gateway_api": "v1.4.1", "envoy_gateway": "v1.6.4",
                              "ai_gateway": "v0.5.0", "kuadrant": "1.4.3", "inference_extension": "v1.3.0",
                              "modelservice": "v0.4.5", "gpu_operator": "v25.10.1"}
    route = world.cluster.kubectl_json("get", "aigatewayroutes.v1alpha1.aigateway.envoyproxy.io", "llm-inference",
                                       "-n", "token-labs")
    assert route["apiVersion"] == "aigateway.envoyproxy.io/v1alpha1"
    check = world.gateway_check()
    assert check.returncode == 0 and "HTTP 200, tier free, user id demo-free" in check.stdout, check.stdout + check.stderr


def test_site_moves_the_platform_to_the_current_set_while_keys_keep_working(world):
    cluster = world.cluster
    secret_before = world.tenant_secret()
    authconfig = cluster.kubectl("get", "authconfigs", "-n", KUADRANT_NS, "-o", "name").stdout.split()[0].split("/")[1]
    key = world.key_file.read_text().strip()
    client = AuthorinoClient(authorino_component.load(State(cluster.state_dir))["grpc_port"])
    polls, done = [], threading.Event()

    def poll():
        while not done.is_set():
            try:
                polls.append(client.check(authconfig, headers={"authorization": f"Bearer {key}"}).http_status)
            except Exception as exc:  # pylint: disable=broad-except  # recorded and asserted on below
                polls.append(repr(exc))
            time.sleep(0.5)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        upgrade = world.site()
    finally:
        done.set()
        poller.join(timeout=10)
        client.close()
    assert upgrade.returncode == 0, upgrade.stdout[-6000:] + upgrade.stderr[-2000:]
    assert len(polls) > 20 and set(polls) == {200}, polls  # every poll during the upgrade: the key accepted
    assert {name: world.charts().get(name) for name in CURRENT_CHARTS} == CURRENT_CHARTS
    assert world.record()["release-set"] == "current" and world.record()["envoy_gateway"] == "v1.9.0"
    crd = cluster.kubectl_json("get", "crd", "gateways.gateway.networking.k8s.io")
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
    aigw_crd = cluster.kubectl_json("get", "crd", "aigatewayroutes.aigateway.envoyproxy.io")
    assert [v["name"] for v in aigw_crd["spec"]["versions"] if v["storage"]] == ["v1beta1"]
    route = cluster.kubectl_json("get", "aigatewayroutes.v1beta1.aigateway.envoyproxy.io", "llm-inference",
                                 "-n", "token-labs")
    assert len(route["spec"]["rules"]) == 2
    # the tenant's key and identity are untouched; the policy translated again is still satisfied by the key
    assert world.tenant_secret() == secret_before
    check = world.gateway_check()
    assert check.returncode == 0 and "HTTP 200, tier free, user id demo-free" in check.stdout, check.stdout + check.stderr


def test_rerun_after_the_upgrade_writes_nothing(world):
    cluster = world.cluster
    mark = cluster.audit_mark()
    rerun = world.site()
    assert rerun.returncode == 0 and changed(rerun) == 0, rerun.stdout[-4000:]
    assert cluster.client_writes(mark) == []


def test_a_tier_change_reaches_authorino_through_the_operators_authconfigs(world):
    """The tenant refresh touches the AuthConfigs kuadrant-operator owns (it runs here: `up platform`): the operator
    neither reverts the annotation nor fights the write, and Authorino re-reads the tenant's tier."""
    cluster = world.cluster
    tenants = [{"name": "demo-free", "tier": "pro", "display_name": "Demo tenant (free tier)"}]
    run = cluster.ansible_playbook("tenants.yml", "-i", "inventory/local", "-e",
                                   json.dumps({"tokenlabs_tenants": tenants}))
    assert run.returncode == 0, run.stdout[-4000:]

    def revisions():
        items = cluster.kubectl_json("get", "authconfigs", "-n", KUADRANT_NS, "-l", "kuadrant.io/managed=true")["items"]
        return {i["metadata"]["name"]: (i["metadata"].get("annotations") or {}).get("tokenlabs.io/tenants-revision")
                for i in items}
    touched = revisions()
    assert touched and all(touched.values()), touched  # every AuthConfig the operator generated was touched
    time.sleep(5)  # the operator reconciles on every change of what it owns: give it the chance to revert
    assert revisions() == touched
    check = world.gateway_check()
    assert "generated by kuadrant-operator" in check.stdout, check.stdout + check.stderr
    assert check.returncode == 0 and "HTTP 200, tier pro, user id demo-free" in check.stdout, check.stdout + check.stderr


def test_moving_back_to_the_reference_set_is_refused_before_any_write(world):
    cluster = world.cluster
    mark = cluster.audit_mark()
    back = world.site("-e", "tokenlabs_release_set=reference")
    assert back.returncode != 0
    text = " ".join(back.stdout.split())
    assert ("Downgrades are not supported: Envoy AI Gateway v1.0.0 runs on the cluster (release set current); "
            "tokenlabs_ai_gateway_version v0.5.0 (release set reference) would downgrade it") in text, text[-3000:]
    assert "Envoy Gateway v1.9.0 runs on the cluster" in text and "nothing was changed" in text
    assert cluster.client_writes(mark) == []
    assert world.record()["release-set"] == "current"
