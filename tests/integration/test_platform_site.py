"""site.yml with inventory/local installs and wires the serving platform.

One site.yml run per module (module-scoped fixture) against the session's real
control plane with the charts and CRDs of the artifact mirror.  The tests then
read back what the charts rendered and prove the inventory reached them, and
that a rerun and a check-mode run change nothing and send no write.
"""

from __future__ import annotations

import base64
import json
import re
import socket

import pytest
import yaml

from support.cluster import wait_for
from support.model_pods import component, status
from testworld import authorino as authorino_component
from testworld import kuadrant_outputs
from testworld.ai_gateway_client import process
from testworld.authorino_client import AuthorinoClient
from testworld.base import State
from testworld.netns import http_get

RECAP = re.compile(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
MODELS = {
    "nemotron-nano-8b": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1",
    "nemotron-vl-12b": "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-FP8",
}
NS = "token-labs"
HF_TOKEN = "hf_FAKE_test_token_not_a_real_secret_0000"  # fake: only checked for leaks


def recap(proc):
    match = RECAP.search(proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"ok": int(match[1]), "changed": int(match[2]), "unreachable": int(match[3]), "failed": int(match[4])}


def user_writes(cp, mark):
    """Writes sent by clients (our playbook), not by the API server's own loops."""
    return cp.client_writes(mark)


def site(cp, *args, **kwargs):
    return cp.ansible_playbook("site.yml", "-i", "inventory/local", *args, **kwargs)


@pytest.fixture(scope="module")
def converged(control_plane):
    proc = site(control_plane)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc


def helm(cp, *args):
    import subprocess

    out = subprocess.run([cp.helm_bin, *args], capture_output=True, text=True, env=cp.env, check=True)
    return out.stdout


def test_converges_from_the_mirror(converged):
    assert recap(converged)["failed"] == 0
    text = " ".join(converged.stdout.split())  # the YAML callback wraps long messages
    assert "Monitoring skipped: the Prometheus operator CRD podmonitors.monitoring.coreos.com is not installed" in text


def test_second_run_changes_nothing_and_writes_nothing(control_plane, converged):
    mark = control_plane.audit_mark()
    proc = site(control_plane)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert recap(proc)["changed"] == 0, [line for line in proc.stdout.splitlines() if line.startswith("changed")]
    writes = user_writes(control_plane, mark)
    assert writes == [], [(w["verb"], w["requestURI"]) for w in writes]


def test_check_mode_on_converged_cluster_reports_no_change(control_plane, converged):
    mark = control_plane.audit_mark()
    proc = site(control_plane, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert recap(proc)["changed"] == 0
    assert user_writes(control_plane, mark) == []


def test_envoy_gateway_config_has_ai_gateway_extension_and_inferencepool(control_plane, converged):
    cm = control_plane.kubectl_json("get", "configmap", "envoy-gateway-config", "-n", "envoy-gateway-system")
    config = yaml.safe_load(cm["data"]["envoy-gateway.yaml"])
    manager = config["extensionManager"]
    assert manager["service"]["fqdn"] == {
        "hostname": "ai-gateway-controller.envoy-ai-gateway-system.svc.cluster.local", "port": 1063}
    assert {"group": "inference.networking.k8s.io", "kind": "InferencePool", "version": "v1"} in \
        manager["backendResources"]
    assert manager["hooks"]["xdsTranslator"]["post"] == ["Translation", "Cluster", "Route"]
    assert config["extensionApis"] == {"enableBackend": True, "enableEnvoyPatchPolicy": True}
    assert config["rateLimit"]["backend"] == {"type": "Redis",
                                              "redis": {"url": "redis.redis-system.svc.cluster.local:6379"}}
    # Envoy AI Gateway controller installed.
    control_plane.kubectl("get", "deployment", "ai-gateway-controller", "-n", "envoy-ai-gateway-system")


def test_gateway_api_crds_have_one_owner_standard_channel(control_plane, converged):
    crd = control_plane.kubectl_json("get", "crd", "gateways.gateway.networking.k8s.io", "--show-managed-fields")
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"  # current set
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == "standard"
    assert "meta.helm.sh/release-name" not in crd["metadata"].get("annotations", {})
    managers = {m["manager"] for m in crd["metadata"]["managedFields"]}
    assert "tokenlabs-inference" in managers and "helm" not in managers
    # Envoy Gateway was installed with skip_crds: no experimental-only Gateway API CRD appeared.
    names = {c["metadata"]["name"] for c in control_plane.kubectl_json("get", "crd")["items"]}
    assert "xbackendtrafficpolicies.gateway.networking.x-k8s.io" not in names  # experimental channel only
    assert "xlistenersets.gateway.networking.x-k8s.io" not in names
    assert {"inferencepools.inference.networking.k8s.io", "envoypatchpolicies.gateway.envoyproxy.io",
            "aigatewayroutes.aigateway.envoyproxy.io"} <= names


def test_kuadrant_is_1_5_2_and_owns_its_crds(control_plane, converged):
    releases = json.loads(helm(control_plane, "list", "-n", "kuadrant-system", "-o", "json"))
    assert [(r["name"], r["chart"]) for r in releases] == [("kuadrant-operator", "kuadrant-operator-1.5.2")]
    deploy = control_plane.kubectl_json("get", "deployment", "kuadrant-operator-controller-manager",
                                        "-n", "kuadrant-system")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/kuadrant/kuadrant-operator:v1.5.2"
    crd = control_plane.kubectl_json("get", "crd", "tokenratelimitpolicies.kuadrant.io")
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "kuadrant-operator"
    kuadrant = control_plane.kubectl_json("get", "kuadrants.kuadrant.io", "kuadrant", "-n", "kuadrant-system")
    assert kuadrant["metadata"]["name"] == "kuadrant"


def test_limitador_counters_live_in_redis(control_plane, converged):
    limitador = control_plane.kubectl_json("get", "limitadors.limitador.kuadrant.io", "limitador",
                                           "-n", "kuadrant-system")
    assert limitador["spec"]["storage"] == {"redis": {"configSecretRef": {"name": "limitador-redis"}}}
    secret = control_plane.kubectl_json("get", "secret", "limitador-redis", "-n", "kuadrant-system")
    assert base64.b64decode(secret["data"]["URL"]).decode() == "redis://redis.redis-system.svc.cluster.local:6379"
    redis = control_plane.kubectl_json("get", "deployment", "redis", "-n", "redis-system")
    assert redis["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/library/redis:7.4.2-alpine"
    control_plane.kubectl("get", "service", "redis", "-n", "redis-system")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_pool_epp_decode_and_route_rule(control_plane, converged, name):
    model_id = MODELS[name]
    pool = control_plane.kubectl_json("get", "inferencepools.inference.networking.k8s.io", f"{name}-pool", "-n", NS)
    assert pool["spec"]["selector"]["matchLabels"] == {"llm-d.ai/inference-serving": "true",
                                                       "llm-d.ai/model": name}
    assert pool["spec"]["endpointPickerRef"]["name"] == f"{name}-pool-epp"

    epp = control_plane.kubectl_json("get", "deployment", f"{name}-pool-epp", "-n", NS)
    assert epp["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "ghcr.io/llm-d/llm-d-inference-scheduler:v0.8.0"  # multi-arch (arm64), not the amd64-only EPP

    decode = control_plane.kubectl_json("get", "deployment", f"{name}-decode", "-n", NS)
    spec = decode["spec"]["template"]["spec"]
    assert spec["runtimeClassName"] == "nvidia"
    assert decode["spec"]["strategy"] == {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    vllm = spec["containers"][0]
    assert vllm["command"] == ["vllm", "serve"]
    assert "--enable-force-include-usage" in vllm["args"]
    assert vllm["args"][vllm["args"].index("--served-model-name") + 1] == model_id
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert decode["spec"]["template"]["metadata"]["labels"]["llm-d.ai/model"] == name

    route = control_plane.kubectl_json("get", "aigatewayroutes.aigateway.envoyproxy.io", "llm-inference", "-n", NS)
    rules = [r for r in route["spec"]["rules"] if r["matches"][0]["headers"][0]["value"] == model_id]
    assert len(rules) == 1
    assert [{k: b[k] for k in ("group", "kind", "name")} for b in rules[0]["backendRefs"]] == \
        [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": f"{name}-pool"}]


def test_node_placement_comes_from_the_catalog(control_plane, converged):
    nodes = {name: control_plane.kubectl_json("get", "deployment", f"{name}-decode", "-n", NS)
             ["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"] for name in MODELS}
    assert nodes == {"nemotron-nano-8b": "spark-01", "nemotron-vl-12b": "spark-02"}
    # ... and the scheduler put each model's pod there; every Deployment of the platform completed its rollout
    for name, node in nodes.items():
        [pod] = control_plane.kubectl_json("get", "pods", "-n", NS, "-l", f"llm-d.ai/model={name}")["items"]
        assert (pod["spec"]["nodeName"], pod["status"]["phase"]) == (node, "Running")
    platform = {NS, "envoy-gateway-system", "envoy-ai-gateway-system", "kuadrant-system", "redis-system", "gpu-operator"}
    for deployment in control_plane.kubectl_json("get", "deployments", "-A")["items"]:
        if deployment["metadata"]["namespace"] not in platform:
            continue  # other tests' workloads
        status = deployment["status"]
        assert status.get("availableReplicas") == status.get("updatedReplicas") == deployment["spec"]["replicas"], \
            deployment["metadata"]["name"]


def test_helm_hooks_ran(control_plane, converged):
    """Envoy Gateway's certgen Job (a pre-install hook, ``<release>-gateway-helm-certgen``) was created by the run and
    completed by the Job controller
    (the chart's ttlSecondsAfterFinished then lets the TTL controller delete it)."""
    events = control_plane.writes_since(0, resource="jobs", namespace="envoy-gateway-system")
    certgen = [e for e in events if e["objectRef"].get("name") == "eg-gateway-helm-certgen"]
    assert ("create", "tokenlabs-admin") in {(e["verb"], e["user"]["username"]) for e in certgen}
    assert any(e["user"]["username"] == "system:serviceaccount:kube-system:job-controller"
               and e["objectRef"].get("subresource") == "status" for e in certgen), \
        [(e["verb"], e["user"]["username"], e["objectRef"].get("subresource")) for e in certgen]


def test_gateway_and_buffer_limit(control_plane, converged):
    gwc = control_plane.kubectl_json("get", "gatewayclass", "eg")
    assert gwc["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    gw = control_plane.kubectl_json("get", "gateway", "token-labs-gateway", "-n", NS)
    assert gw["spec"]["gatewayClassName"] == "eg"
    assert [(listener["name"], listener["port"], listener["hostname"]) for listener in gw["spec"]["listeners"]] == \
        [("http", 80, "inference.token-labs.local")]
    btp = control_plane.kubectl_json("get", "backendtrafficpolicies.gateway.envoyproxy.io", "token-labs-gateway-buffer",
                                     "-n", NS)
    assert btp["spec"]["connection"]["bufferLimit"] == "10Mi"
    route = control_plane.kubectl_json("get", "aigatewayroutes.aigateway.envoyproxy.io", "llm-inference", "-n", NS)
    assert route["spec"]["parentRefs"][0]["name"] == "token-labs-gateway"
    costs = {c["type"] for c in route["spec"]["llmRequestCosts"]}
    assert costs == {"InputToken", "OutputToken", "TotalToken", "CachedInputToken"}


def test_catalog_change_and_hf_token_reach_the_cluster_without_leaking(control_plane, converged, tmp_path):
    """Last test of the module: reconfigures the platform from inventory variables."""
    extra = {
        "tokenlabs_hf_token": HF_TOKEN,
        "tokenlabs_gateway_hostname": "api.example.test",
        "gateway_tls_secret": "gateway-tls",
        "tokenlabs_models": [
            {"id": "nvidia/Llama-3.1-Nemotron-Nano-8B-v1", "name": "nemotron-nano-8b", "engine": "vllm",
             "node": "spark-01", "image": "ghcr.io/elizabetht/token-labs/vllm-serve:v0.4.0", "gpu_memory_share": 0.5},
            {"id": "Qwen/Qwen3-8B", "name": "qwen3-8b", "engine": "sglang", "node": "spark-01",
             "image": "docker.io/lmsysorg/sglang:v0.5.4", "gpu_memory_share": 0.4, "request_timeout": "600s"},
        ],
    }
    vars_file = tmp_path / "platform.json"
    vars_file.write_text(json.dumps(extra))
    proc = site(control_plane, "-e", f"@{vars_file}", "-vvv", "--diff")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert HF_TOKEN not in out and base64.b64encode(HF_TOKEN.encode()).decode() not in out

    secret = control_plane.kubectl_json("get", "secret", "hf-token", "-n", NS)
    assert base64.b64decode(secret["data"]["HF_TOKEN"]).decode() == HF_TOKEN
    vllm = control_plane.kubectl_json("get", "deployment", "nemotron-nano-8b-decode", "-n", NS)[
        "spec"]["template"]["spec"]["containers"][0]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}} in vllm["env"]
    assert "--gpu-memory-utilization=0.5" in vllm["args"]

    sglang = control_plane.kubectl_json("get", "deployment", "qwen3-8b-decode", "-n", NS)
    container = sglang["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-m", "sglang.launch_server"]
    assert container["args"][container["args"].index("--mem-fraction-static") + 1] == "0.4"
    assert sglang["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    control_plane.kubectl("get", "inferencepools.inference.networking.k8s.io", "qwen3-8b-pool", "-n", NS)

    route = control_plane.kubectl_json("get", "aigatewayroutes.aigateway.envoyproxy.io", "llm-inference", "-n", NS)
    assert [(r["matches"][0]["headers"][0]["value"], r["backendRefs"][0]["name"], r["timeouts"]["request"])
            for r in route["spec"]["rules"]] == [("nvidia/Llama-3.1-Nemotron-Nano-8B-v1", "nemotron-nano-8b-pool",
                                                  "300s"), ("Qwen/Qwen3-8B", "qwen3-8b-pool", "600s")]
    gw = control_plane.kubectl_json("get", "gateway", "token-labs-gateway", "-n", NS)
    assert [(listener["name"], listener["hostname"]) for listener in gw["spec"]["listeners"]] == \
        [("http", "api.example.test"), ("https", "api.example.test")]
    assert gw["spec"]["listeners"][1]["tls"]["certificateRefs"][0]["name"] == "gateway-tls"

    # Converged again: the same inventory changes nothing.
    mark = control_plane.audit_mark()
    again = site(control_plane, "-e", f"@{vars_file}")
    assert again.returncode == 0 and recap(again)["changed"] == 0
    assert user_writes(control_plane, mark) == []


def test_the_demo_tenants_key_goes_to_this_control_planes_key_dir(control_plane, converged):
    """Test runs write keys next to their control plane, never over the demo's .cache/tenant-keys."""
    import stat

    from support.tenant_runner import key_of

    key_file = control_plane.state_dir / "tenant-keys" / "demo-free.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = control_plane.kubectl_json("get", "secret", "tenant-demo-free", "-n", "kuadrant-system")
    assert key_file.read_text().strip() == key_of(secret)


def test_grafana_dashboards_are_shipped_for_the_sidecar(control_plane, converged):
    found = control_plane.kubectl_json("get", "configmap", "-n", NS, "-l", "grafana_dashboard=1")["items"]
    assert sorted(item["metadata"]["name"] for item in found) == ["token-labs-platform", "token-labs-tenant"]
    for item in found:
        assert item["metadata"]["annotations"]["grafana_folder"] == "Token Labs"
        (text,) = item["data"].values()
        dashboard = json.loads(text)
        assert dashboard["uid"] == item["metadata"]["name"] and dashboard["panels"]
    tenant_view = json.loads(next(iter(found[1]["data"].values())))
    assert "* 0 + 5000" in json.dumps(tenant_view)   # inventory/local's free tier: 5000 tokens per minute


@pytest.fixture(scope="module")
def extproc(control_plane, converged):
    """The AI Gateway's ext_proc server for the Gateway, started from its Envoy pod's sidecar and the filter config
    the controller wrote (:mod:`testworld.ai_gateway_extproc`)."""
    up = component(control_plane, "up", "ai-gateway-extproc")
    assert up.returncode == 0, up.stderr[-3000:]
    yield status(control_plane, "ai-gateway-extproc")["gateways"][f"{NS}/token-labs-gateway"]
    component(control_plane, "down", "ai-gateway-extproc")


@pytest.fixture(scope="module")
def identity_headers(control_plane, converged):
    """The request headers Authorino's OK answer adds for the demo tenant's key (what the wasm-shim puts on the
    request): the real Authorino, with the AuthConfig kuadrant-operator generated from the collection's AuthPolicy."""
    up = component(control_plane, "up", "authorino")
    assert up.returncode == 0, up.stderr[-3000:]
    generated = wait_for(lambda: kuadrant_outputs.authconfig(control_plane.kubectl_json,
                                                             "kuadrant-system", NS, "llm-inference"), 60,
                         "the AuthConfig kuadrant-operator generates", control_plane)
    name = generated["metadata"]["name"]
    wait_for(lambda: ((control_plane.kubectl_json("get", "authconfig", name, "-n", "kuadrant-system").get("status")
                       or {}).get("summary") or {}).get("ready"), 60, "the AuthConfig Ready in Authorino",
             control_plane)
    key = (control_plane.state_dir / "tenant-keys" / "demo-free.key").read_text().strip()
    client = AuthorinoClient(authorino_component.load(State(control_plane.state_dir))["grpc_port"])
    try:
        decision = client.check(name, headers={"authorization": f"Bearer {key}"})
    finally:
        client.close()
    assert decision.allowed, decision
    return decision.headers


def test_the_ai_gateway_data_plane_routes_by_model_and_labels_tokens_per_tenant(control_plane, extproc,
                                                                                identity_headers):
    """The real extproc (AI Gateway v1.0.0), configured only from the cluster: the model comes from the body, and
    the token usage of the response is recorded per tenant and tier from the headers Authorino's answer for the
    demo tenant's key carries (the AuthPolicy's response headers) -- the labels the usage report reads
    (``metricsRequestHeaderAttributes`` from the collection's chart values reached the sidecar's command line)."""
    assert identity_headers == {"x-tokenlabs-tenant": "demo-free", "x-tokenlabs-tier": "free"}
    assert "x-tokenlabs-tenant:tenant,x-tokenlabs-tier:tier" in extproc["argv"]
    secret = control_plane.kubectl_json("get", "secret", f"token-labs-gateway-{NS}", "-n", "envoy-gateway-system")
    config = yaml.safe_load(base64.b64decode(secret["data"]["filter-config.yaml"]))
    model = MODELS["nemotron-nano-8b"]
    route = control_plane.kubectl_json("get", "aigatewayroute", "llm-inference", "-n", NS)
    rule = next(i for i, r in enumerate(route["spec"]["rules"])
                if any(h.get("value") == model for m in r.get("matches") or [] for h in m.get("headers") or []))
    backend = next(b["name"] for b in config["backends"] if b["name"].endswith(f"/route/llm-inference/rule/{rule}/ref/0"))
    usage = {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22}
    answer = json.dumps({"id": "c1", "object": "chat.completion", "model": model, "usage": usage, "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}]}).encode()
    exchange = process(extproc["ext_proc"], {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                       {"x-request-id": "r-1", **identity_headers},
                       backend, f"{NS}/llm-inference", "127.0.0.1:8000", answer)
    assert exchange.status is None and exchange.model == model, exchange
    assert exchange.upstream_headers.get(":path") == "/v1/chat/completions"
    costs = exchange.response_metadata["io.envoy.ai_gateway"]   # the route's llmRequestCosts (gateway role)
    assert (costs["llm_input_token"], costs["llm_output_token"], costs["llm_total_token"]) == (17, 5, 22), costs
    bad = process(extproc["ext_proc"], b"not json", {"x-request-id": "r-2"}, backend, f"{NS}/llm-inference",
                  "127.0.0.1:8000", b"")
    assert bad.status == 400

    def metrics():
        code, body = http_get(lambda: socket.create_connection(("127.0.0.1", extproc["admin"]), timeout=2),
                              "/metrics", body=True)
        return body.decode() if code == 200 else ""

    def token_series():
        found = {}
        for line in metrics().splitlines():
            if line.startswith("gen_ai_client_token_usage_sum{") and 'tenant="demo-free"' in line:
                kind = re.search(r'gen_ai_token_type="(\w+)"', line)[1]
                assert 'tier="free"' in line and 'gen_ai_request_model="%s"' % model in line, line
                found[kind] = float(line.rsplit(" ", 1)[1])
        return found

    wait_for(lambda: token_series().get("output") == 5, 20, "the extproc's token metric for tenant demo-free",
             control_plane)
    assert token_series() == {"input": 17, "output": 5}

    # A stream: the extproc asks the engine for usage (stream_options.include_usage, as the route has costs) and
    # counts it from the last event that carries it -- streams are metered too.
    chunk = {"id": "c2", "object": "chat.completion.chunk", "model": model,
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    events = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in (
        chunk, dict(chunk, choices=[], usage={"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12})))
    question = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    streamed = process(extproc["ext_proc"], question, {"x-request-id": "r-3", **identity_headers},
                       backend, f"{NS}/llm-inference", "127.0.0.1:8000", events + b"data: [DONE]\n\n", sse=True)
    assert json.loads(streamed.upstream_body)["stream_options"] == {"include_usage": True}, streamed
    wait_for(lambda: token_series().get("output") == 8, 20, "the streamed usage in the token metric", control_plane)
    assert token_series() == {"input": 26, "output": 8}
