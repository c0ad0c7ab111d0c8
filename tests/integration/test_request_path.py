"""A request from client to model and back, through the real decision-makers (:mod:`testworld.gateway`).

A cluster of its own (``cluster`` fixture) with ``site.yml -i inventory/local``; then the real Authorino,
llm-d-inference-sim behind every model pod, the real endpoint picker per InferencePool, the real AI Gateway ext_proc
and the gateway stand-in in front of them, all configured from the cluster. The clients are the official ``openai``
Python client and the collection's own ``verify.yml``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from support.cluster import wait_for
from support.jobs import VENVS
from support.model_pods import busy_replica, component, status

NS = "token-labs"
HOST = "inference.token-labs.local"
LISTENER = f"{NS}/token-labs-gateway/http"
MODELS = ["nvidia/Llama-3.1-Nemotron-Nano-8B-v1", "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-FP8"]
PATH_COMPONENTS = ("authorino", "model-servers", "speech-servers", "endpoint-pickers", "ai-gateway-extproc",
                   "gateway")
# A text-to-speech service on the Gateway, as inventory/example declares Magpie TTS (its pod gets the speech stand-in).
SERVICES = {"tokenlabs_services": [{"name": "magpie-tts", "image": "ghcr.io/elizabetht/token-labs/magpie-tts:v0.4.0",
                                    "node": "spark-01", "port": 8000, "paths": ["/v1/audio/speech"],
                                    "gpu_memory_share": 0.05}]}


def _status(cp, name):
    try:
        return status(cp, name)
    except (OSError, ValueError):
        return {}


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """The extra vars file with :data:`SERVICES`, for site.yml and verify.yml alike."""
    path = tmp_path_factory.mktemp("request-path") / "services.json"
    path.write_text(json.dumps(SERVICES))
    return f"@{path}"


@pytest.fixture(scope="module")
def gateway(cluster, services):
    """``site.yml`` on the module's cluster, then every component of the request path; the listener's base URL."""
    proc = cluster.ansible_playbook("site.yml", "-i", "inventory/local", "-e", services)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    try:
        for name in PATH_COMPONENTS:
            up = component(cluster, "up", name)
            assert up.returncode == 0, f"{name}: {up.stderr[-3000:]}"
        wait_for(lambda: sum(1 for s in (_status(cluster, "model-servers").get("servers") or {}).values()
                             if s.get("healthy")) == len(MODELS), 90, "a model server per model pod", cluster)
        wait_for(lambda: all(p.get("ready_pods") == 1 for p in
                             (_status(cluster, "endpoint-pickers").get("pickers") or {}).values())
                 and len(_status(cluster, "endpoint-pickers").get("pickers") or {}) == len(MODELS),
                 120, "an endpoint picker per pool, each seeing its pod", cluster)
        wait_for(lambda: len(_status(cluster, "speech-servers").get("servers") or {}) == 1, 60,
                 "the speech stand-in on the TTS pod", cluster)
        wait_for(lambda: (_status(cluster, "gateway").get("listeners") or {}).get(LISTENER)
                 and f"{NS}/token-labs-gateway" in (_status(cluster, "gateway").get("wasm") or []),
                 60, "the gateway serving the listener with the wasm-shim configuration", cluster)
        yield f"http://127.0.0.1:{status(cluster, 'gateway')['listeners'][LISTENER]['port']}"
    finally:
        for name in reversed(PATH_COMPONENTS):
            component(cluster, "down", name)


@pytest.fixture(scope="module")
def demo_key(cluster, gateway):
    return (cluster.state_dir / "tenant-keys" / "demo-free.key").read_text().strip()


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, default_headers={"Host": HOST}, max_retries=0,
                         timeout=60)


def test_the_openai_client_gets_a_completion_from_each_model_through_the_gateway(gateway, demo_key):
    for model in MODELS:
        answer = client(gateway, demo_key).chat.completions.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": "Say hello in one word."}])
        assert answer.model == model and answer.choices[0].message.content
        assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens > 0


def test_a_stream_through_the_gateway_ends_with_usage(gateway, demo_key):
    chunks = list(client(gateway, demo_key).chat.completions.create(
        model=MODELS[0], max_tokens=8, stream=True, messages=[{"role": "user", "content": "Count to three."}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_models_are_listed_by_the_ai_gateway_before_any_key_is_checked(gateway, demo_key):
    """The AI Gateway's ext_proc answers ``GET /v1/models`` itself from its filter config (an immediate response
    at the request headers: models_processor.go), and its filter runs before the wasm-shim's: the list needs no
    key and is never counted against a quota."""
    assert {m.id for m in client(gateway, demo_key).models.list()} == set(MODELS)
    anonymous = httpx.get(f"{gateway}/v1/models", headers={"Host": HOST}, timeout=30)
    assert anonymous.status_code == 200 and {m["id"] for m in anonymous.json()["data"]} == set(MODELS)


@pytest.mark.parametrize("key,expected", [(None, 401), ("tlabs_sk_not_a_key_of_any_tenant_0000000000000", 401)],
                         ids=["no-key", "unknown-key"])
def test_authorino_refuses_a_request_without_a_valid_key(gateway, key, expected):
    headers = {"Host": HOST, **({"Authorization": f"Bearer {key}"} if key else {})}
    answer = httpx.post(f"{gateway}/v1/chat/completions", headers=headers, timeout=30,
                        json={"model": MODELS[0], "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == expected, answer.text


def test_an_unknown_model_gets_the_ai_gateways_404(gateway, demo_key):
    answer = httpx.post(f"{gateway}/v1/chat/completions", timeout=30,
                        headers={"Host": HOST, "Authorization": f"Bearer {demo_key}"},
                        json={"model": "no/such-model", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 404, answer.text


def test_speech_through_the_gateway_is_audio(gateway, demo_key):
    audio = client(gateway, demo_key).audio.speech.create(model="magpie-tts", voice="default", input="Hello there.",
                                                          response_format="wav")
    assert audio.content[:4] == b"RIFF" and audio.content[8:12] == b"WAVE" and len(audio.content) > 44


def verify(cluster, gateway, services):
    return cluster.ansible_playbook("playbooks/verify.yml", "-i", "inventory/local", "-e", services,
                                    "-e", f"tokenlabs_verify_url={gateway}")


def test_verify_passes_every_check_through_the_gateway(cluster, gateway, services):
    run = verify(cluster, gateway, services)
    assert run.returncode == 0, run.stdout[-5000:]
    text = " ".join(run.stdout.split())
    checks = ["list models", f"chat completion {MODELS[0]}", f"chat completion {MODELS[1]}", "speech magpie-tts",
              "free tier gets 429", "unknown key gets 401", "expired key gets 403"]
    for check in checks:
        assert f"PASS {check}:" in text, (check, run.stdout[-5000:])
    # The free tier's 10 requests a minute, counted per HTTPRoute (kuadrant-operator scopes a Gateway policy's
    # counters to each route: Limitador namespace <route ns>/<route>): the chat per model counts on the models' route,
    # the speech request on the TTS route's own counter, the model list nowhere (the AI Gateway answers it before
    # the wasm-shim). So the quota loop's 9th request is the tenant's 11th on the models' route.
    assert f"HTTP 429 after {10 - len(MODELS) + 1} requests" in text, run.stdout[-5000:]
    assert "tlabs_sk_" not in run.stdout + run.stderr


def test_verify_fails_naming_the_check_when_a_model_pod_is_stopped(cluster, gateway, services):
    deployment = next(d["metadata"]["name"] for d in cluster.kubectl_json("get", "deployments", "-n", NS)["items"]
                      if "nemotron-vl-12b" in d["metadata"]["name"] and "decode" in d["metadata"]["name"])
    cluster.kubectl("scale", f"deployment/{deployment}", "-n", NS, "--replicas=0")
    try:
        wait_for(lambda: all(p.get("ready_pods") in (0, None) for key, p in
                             (_status(cluster, "endpoint-pickers").get("pickers") or {}).items()
                             if "nemotron-vl-12b" in key), 90, "the picker seeing no pod", cluster)
        run = verify(cluster, gateway, services)
        assert run.returncode != 0
        text = " ".join(run.stdout.split())
        assert f"FAIL chat completion {MODELS[1]}: HTTP 503" in text, run.stdout[-5000:]
        assert f"Failed checks: chat completion {MODELS[1]}" in text
    finally:
        cluster.kubectl("scale", f"deployment/{deployment}", "-n", NS, "--replicas=1")


def test_the_free_tier_token_quota_counts_usage_across_the_path(cluster, gateway):
    """A tenant of its own on the free tier (5000 tokens and 10 requests a minute): each answer's
    usage.total_tokens, plain or streamed, is counted by the wasm-shim's token report into Limitador's counter on
    Redis, so the request after the one that crosses 5000 tokens is refused with 429 -- well before 10 requests."""
    name = "path-" + uuid.uuid4().hex[:6]
    made = cluster.ansible_playbook("tenant.yml", "-i", "inventory/local", "-e", json.dumps(
        {"tenant_action": "onboard", "tenant_name": name, "tenant_tier": "free"}))
    assert made.returncode == 0, made.stdout[-3000:]
    key = (cluster.state_dir / "tenant-keys" / f"{name}.key").read_text().strip()
    headers = {"Host": HOST, "Authorization": f"Bearer {key}"}

    def send(prompt: str, stream: bool) -> httpx.Response:
        body = {"model": MODELS[0], "max_tokens": 4, "stream": stream,
                "messages": [{"role": "user", "content": prompt}]}
        return httpx.post(f"{gateway}/v1/chat/completions", headers=headers, json=body, timeout=60)

    def usage(answer: httpx.Response, stream: bool) -> int:
        if not stream:
            return answer.json()["usage"]["total_tokens"]
        events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]
        return json.loads(events[-1])["usage"]["total_tokens"]

    def accepted():
        answer = send("hi", False)
        return answer if answer.status_code == 200 else None
    first = wait_for(accepted, 30, "Authorino accepting the new tenant's key", cluster)
    counted, requests = usage(first, False), 1
    prompt = " ".join(f"word{i}" for i in range(1500))
    while counted < 5000:
        stream = requests % 2 == 0
        answer = send(prompt, stream)
        requests += 1
        assert answer.status_code == 200, (counted, requests, answer.text)
        counted += usage(answer, stream)
    refused = send("hi", False)
    assert refused.status_code == 429 and requests < 10, (counted, requests, refused.status_code)


# A 1x1 PNG, as a client sends a picture inline (OpenAI's image_url content part with a data: URL).
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
         "RU5ErkJggg==")


def test_the_vision_model_answers_a_message_with_an_image_through_the_gateway(gateway, demo_key):
    """The content array (text + image_url) passes the AI Gateway's schema translation and the endpoint picker's
    body parsing unchanged, and the VLM's server answers it."""
    answer = client(gateway, demo_key).chat.completions.create(model=MODELS[1], max_tokens=8, messages=[{
        "role": "user", "content": [{"type": "text", "text": "What colour is this pixel?"},
                                    {"type": "image_url", "image_url": {"url": PIXEL}}]}])
    assert answer.model == MODELS[1] and answer.choices[0].message.content and answer.usage.total_tokens > 0


def test_the_demos_chat_completion_goes_through_the_gateway(cluster, gateway):
    """What ``scripts/demo`` ends with: ``python -m testworld.gateway_chat`` with the demo tenant's key file."""
    key_file = cluster.state_dir / "tenant-keys" / "demo-free.key"
    run = subprocess.run([sys.executable, "-m", "testworld.gateway_chat", "--key-file", str(key_file),
                          "--state-dir", str(cluster.state_dir)], capture_output=True, text=True, env=cluster.env,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"on listener {LISTENER} (Host {HOST}" in run.stdout and "HTTP 200" in run.stdout, run.stdout
    assert f"model {MODELS[0]}, answered by pod nemotron-nano-8b-decode-" in run.stdout, run.stdout
    assert key_file.read_text().strip() not in run.stdout + run.stderr


def onboard(cluster, tier: str) -> tuple[str, str]:
    """A tenant of its own (``tenant.yml``); its name and key."""
    name = f"path-{tier}-" + uuid.uuid4().hex[:6]
    made = cluster.ansible_playbook("tenant.yml", "-i", "inventory/local", "-e", json.dumps(
        {"tenant_action": "onboard", "tenant_name": name, "tenant_tier": tier}))
    assert made.returncode == 0, made.stdout[-3000:]
    return name, (cluster.state_dir / "tenant-keys" / f"{name}.key").read_text().strip()


def accepted(gateway, key, cluster) -> httpx.Response:
    """The first answer with ``key`` (Authorino sees a new Secret within a moment; its refusals count nowhere)."""
    def answered():
        answer = httpx.post(f"{gateway}/v1/chat/completions", timeout=60,
                            headers={"Host": HOST, "Authorization": f"Bearer {key}"},
                            json={"model": MODELS[0], "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})
        return answer if answer.status_code == 200 else None
    return wait_for(answered, 30, "Authorino accepting the key", cluster)


def test_the_request_limit_is_the_tenants_across_keys_paths_and_query_strings(cluster, gateway):
    """The free tier's 10 requests a minute count per tenant (Limitador's descriptor is the tenant id from the key
    Secret's annotation), so a rotated key's grace Secret shares the counter with the new key; a query string and
    the legacy ``/v1/completions`` endpoint are counted on the same route like any chat completion."""
    name, old_key = onboard(cluster, "free")
    rotated = cluster.ansible_playbook("tenant.yml", "-i", "inventory/local", "-e", json.dumps(
        {"tenant_action": "rotate", "tenant_name": name, "tenant_grace_period": "1h"}))
    assert rotated.returncode == 0, rotated.stdout[-3000:]
    new_key = (cluster.state_dir / "tenant-keys" / f"{name}.key").read_text().strip()
    assert new_key != old_key
    assert [s for s in cluster.kubectl_json("get", "secrets", "-n", "kuadrant-system")["items"]
            if s["metadata"]["name"].startswith(f"tenant-{name}.retired-")], "no grace Secret for the old key"
    accepted(gateway, new_key, cluster)
    accepted(gateway, old_key, cluster)  # two requests counted

    def send(key, path, body):
        return httpx.post(f"{gateway}{path}", headers={"Host": HOST, "Authorization": f"Bearer {key}"}, json=body,
                          timeout=60)
    chat = {"model": MODELS[0], "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    legacy = {"model": MODELS[0], "max_tokens": 1, "prompt": "hi"}
    sent = [send(old_key, "/v1/chat/completions?x=1", chat), send(new_key, "/v1/chat/completions?x=1", chat),
            send(old_key, "/v1/completions", legacy), send(new_key, "/v1/completions", legacy),
            send(old_key, "/v1/completions?x=1", legacy), send(new_key, "/v1/completions?stream=false", legacy),
            send(old_key, "/v1/chat/completions", chat), send(new_key, "/v1/chat/completions", chat)]
    assert [a.status_code for a in sent] == [200] * 8, [(a.status_code, a.text[:200]) for a in sent]
    assert sent[2].json()["choices"][0]["text"] and sent[2].json()["usage"]["total_tokens"] > 0
    # 10 counted: the 11th is refused, whichever key, path or query string carries it.
    refused = [send(old_key, "/v1/chat/completions", chat), send(new_key, "/v1/completions?y=2", legacy)]
    assert [a.status_code for a in refused] == [429, 429], [(a.status_code, a.text[:200]) for a in refused]


SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "ifeval_sample"


def job(cluster, services, tmp_path, playbook, variables):
    """An operate job against the gateway stand-in (its temporary tenant, its key check, its requests)."""
    vars_file = tmp_path / f"vars-{uuid.uuid4().hex[:6]}.json"
    vars_file.write_text(json.dumps({"tokenlabs_gateway_url": gateway_url(cluster), "tokenlabs_job_venv_dir": str(VENVS),
                                     **variables}))
    return cluster.ansible_playbook(playbook, "-i", "inventory/local", "-e", services, "-e", f"@{vars_file}")


def gateway_url(cluster) -> str:
    return f"http://127.0.0.1:{status(cluster, 'gateway')['listeners'][LISTENER]['port']}"


def test_the_benchmark_job_runs_through_the_gateway(cluster, gateway, services, tmp_path):
    results = tmp_path / "results"
    run = job(cluster, services, tmp_path, "benchmark.yml", {
        "tokenlabs_benchmark_results_dir": str(results), "benchmark_models": ["nemotron-nano-8b"],
        "benchmark_concurrency": [1, 4], "benchmark_prompt_tokens": [200], "benchmark_output_tokens": [20],
        "benchmark_rounds": 2})
    assert run.returncode == 0, run.stdout[-5000:]
    for pattern in ("benchmark-*.json", "benchmark-*.md", "benchmark-*.png"):
        assert list(results.glob(pattern)), (pattern, sorted(p.name for p in results.iterdir()))
    record = json.loads(next(results.glob("benchmark-*.json")).read_text())
    assert "tenant-benchmark-probe" not in json.dumps(
        cluster.kubectl_json("get", "secrets", "-n", "kuadrant-system")["items"])
    assert "nvidia/Llama-3.1-Nemotron-Nano-8B-v1" in json.dumps(record)


@pytest.fixture
def hostname_resolves():
    """``inference.token-labs.local`` resolving to 127.0.0.1 (a line in /etc/hosts, removed afterwards), as an
    operator's DNS makes the Gateway's hostname resolve: lm-eval sends no Host header of its own."""
    hosts = Path("/etc/hosts")
    line = f"127.0.0.1 {HOST}  # tokenlabs tests/integration/test_request_path.py"
    added = line not in hosts.read_text().splitlines()
    if added:
        hosts.write_text(hosts.read_text().rstrip("\n") + "\n" + line + "\n")
    try:
        yield HOST
    finally:
        if added:
            hosts.write_text("".join(f"{kept}\n" for kept in hosts.read_text().splitlines() if kept != line))


def test_the_accuracy_job_runs_through_the_gateway_and_records_a_baseline(
        cluster, gateway, services, tmp_path, hostname_resolves):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    shutil.copy(SAMPLE / "utils.py", tasks / "utils.py")
    (tasks / "ifeval_sample.yaml").write_text(
        (SAMPLE / "ifeval_sample.yaml.in").read_text().replace("SAMPLE_JSONL", str(SAMPLE / "ifeval_sample.jsonl")))
    baselines = tmp_path / "baselines"
    port = status(cluster, "gateway")["listeners"][LISTENER]["port"]
    run = job(cluster, services, tmp_path, "accuracy.yml", {
        "tokenlabs_gateway_url": f"http://{hostname_resolves}:{port}", "accuracy_models": ["nemotron-nano-8b"],
        "accuracy_task": "ifeval_sample", "accuracy_include_path": str(tasks),
        "accuracy_baseline_dir": str(baselines), "accuracy_results_dir": str(tmp_path / "accuracy"),
        "accuracy_record_baseline": True,
        "accuracy_environment": {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}})
    assert run.returncode == 0, run.stdout[-5000:]
    written = json.loads(next(baselines.glob("*.json")).read_text())
    assert written["samples"] == 6 and written["model"] == "nvidia/Llama-3.1-Nemotron-Nano-8B-v1", written


# Last in the module: it reconfigures the catalog (two replicas of the first model).
def test_the_endpoint_picker_chooses_the_replica_through_the_gateway(cluster, gateway, services, tmp_path):
    """Two replicas of one model (``replicas: 2`` in the catalog, ``site.yml --tags models``: the device plugin time-slices
    spark-01's GPU) behind one InferencePool: a repeated prompt stays on one replica (the picker's prefix-cache
    scorer), and with one replica busy (one sequence at a time, requests queued) fresh prompts go to the other (its
    queue and KV-cache scorers). Which replica answered: the simulator's ``x-inference-pod`` response header (its
    POD_NAME), passed back by the gateway like any response header."""
    models = [dict(m) for m in yaml_models()]
    models[0].update(replicas=2, gpu_memory_share=0.4)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"tokenlabs_models": models}))
    site = cluster.ansible_playbook("site.yml", "-i", "inventory/local", "--tags", "models", "-e", services,
                                    "-e", f"@{catalog}")
    assert site.returncode == 0, site.stdout[-6000:]
    pool = f"{NS}/nemotron-nano-8b-pool"

    def pods():
        return {p["metadata"]["name"]: p["status"].get("podIP") for p in cluster.kubectl_json(
            "get", "pods", "-n", NS, "-l", "llm-d.ai/model=nemotron-nano-8b")["items"]
            if p["status"].get("phase") == "Running" and "decode" in p["metadata"]["name"]}
    wait_for(lambda: len(pods()) == 2, 120, "two Running replicas", cluster)
    wait_for(lambda: sum(1 for key, s in (_status(cluster, "model-servers").get("servers") or {}).items()
                         if s.get("healthy") and key.split("/", 1)[1] in pods()) == 2, 90, "both replicas served",
             cluster)
    wait_for(lambda: ((_status(cluster, "endpoint-pickers").get("pickers") or {}).get(pool) or {}).get("ready_pods")
             == 2, 120, "the picker seeing both replicas", cluster)
    _name, key = onboard(cluster, "pro")
    accepted(gateway, key, cluster)

    def replica(prompt: str) -> str:
        answer = httpx.post(f"{gateway}/v1/chat/completions", timeout=60,
                            headers={"Host": HOST, "Authorization": f"Bearer {key}"},
                            json={"model": MODELS[0], "max_tokens": 4, "messages": [{"role": "user", "content": prompt}]})
        assert answer.status_code == 200, answer.text
        return answer.headers["x-inference-pod"]

    prompt = "Summarise the operating manual of the DGX Spark cluster, chapter by chapter. " * 6
    assert len({replica(prompt) for _attempt in range(6)}) == 1

    replicas = pods()
    busy, idle = sorted(replicas)
    cluster.kubectl("annotate", "pod", busy, "-n", NS, "--overwrite",
                    'testworld.tokenlabs.io/simulator-args=["--max-num-seqs=1","--inter-token-latency=100ms"]')
    wait_for(lambda: ((_status(cluster, "model-servers").get("servers") or {}).get(f"{NS}/{busy}") or {})
             .get("extra_args") and _status(cluster, "model-servers")["servers"][f"{NS}/{busy}"].get("healthy"),
             30, "the busy replica's simulator restarted with its flags", cluster)

    with busy_replica(replicas[busy], MODELS[0], cluster):
        # The queue reaches the picker with its next scrape of the replicas' metrics (every 50 ms, later on a loaded
        # machine): from the first fresh prompt answered by the idle replica on, every one is.
        wait_for(lambda: replica(f"fresh prompt {uuid.uuid4()}") == idle, 10, "a fresh prompt answered by the idle replica",
                 cluster)
        answered_by = [replica(f"fresh prompt {uuid.uuid4()}") for _attempt in range(8)]
    assert answered_by == [idle] * 8, answered_by


def yaml_models() -> list[dict]:
    """The catalog's default models (roles/platform_defaults), as site.yml deploys them without overrides."""
    defaults = Path(__file__).resolve().parents[2] / "roles" / "platform_defaults" / "defaults" / "main.yml"
    return yaml.safe_load(defaults.read_text())["tokenlabs_models"]
