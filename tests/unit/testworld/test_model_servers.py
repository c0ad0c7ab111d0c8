"""The model-server component of the test world: which pods get a simulator, with which model and port, and its
command line (pure functions; the wrapper module pins llm-d-inference-sim)."""

from __future__ import annotations

import json

import pytest

from testworld import gobuild, model_servers


@pytest.mark.parametrize("container, expected", [
    # llm-d-modelservice's vllmServe command: `vllm serve <model> --port 8000 ...`
    ({"command": ["vllm", "serve"], "args": ["nvidia/Nemotron-Nano-8B", "--port", "8000",
                                             "--gpu-memory-utilization=0.3"]},
     ("vllm", "nvidia/Nemotron-Nano-8B", 8000)),
    ({"command": ["vllm", "serve"], "args": ["/models/x", "--served-model-name=acme/x", "--port=8200"]},
     ("vllm", "acme/x", 8200)),
    ({"command": ["python3", "-m", "vllm.entrypoints.openai.api_server"], "args": ["--model", "m/1"]},
     ("vllm", "m/1", 8000)),
    ({"command": ["vllm", "serve"], "args": ["--gpu-memory-utilization", "0.5", "m/2"]}, ("vllm", "m/2", 8000)),
    ({"command": ["python3", "-m", "sglang.launch_server"],
      "args": ["--model-path", "Qwen/Qwen3-8B", "--served-model-name", "qwen3", "--host", "0.0.0.0", "--port", "8000"]},
     ("sglang", "qwen3", 8000)),
    ({"command": ["python3", "-m", "sglang.launch_server"], "args": ["--model-path", "Qwen/Qwen3-8B"]},
     ("sglang", "Qwen/Qwen3-8B", 30000)),
    ({"command": ["trtllm-serve", "nvidia/Llama-FP4"], "args": ["--host", "0.0.0.0", "--port", "8000"]},
     ("trtllm", "nvidia/Llama-FP4", 8000)),
])
def test_the_model_and_port_are_read_as_each_engine_reads_them(container, expected):
    assert model_servers.served_model(container) == expected


@pytest.mark.parametrize("container", [
    {"command": ["nginx"]}, {"image": "x"}, {"command": ["vllm", "serve"], "args": ["--port", "8000"]},
])
def test_containers_without_an_engine_and_model_get_no_server(container):
    assert model_servers.served_model(container) is None


def pod(name, ip="127.1.0.5", phase="Running", annotations=None, args=("m/1", "--port", "8000")):
    return {"metadata": {"namespace": "ns", "name": name, "annotations": annotations or {}},
            "spec": {"containers": [{"name": "vllm", "command": ["vllm", "serve"], "args": list(args)}]},
            "status": {"phase": phase, "podIP": ip}}


def test_running_loopback_pods_are_served_and_others_are_not():
    wanted, problems = model_servers.wanted_servers([
        pod("a"), pod("pending", phase="Pending"), pod("no-ip", ip=None),
        pod("private", ip="10.1.0.5"),  # never listened on: a pod IP off loopback is refused
        pod("slow", ip="127.1.0.6", annotations={model_servers.ARGS_ANNOTATION: json.dumps(["--inter-token-latency=90ms"])}),
        pod("bad", ip="127.1.0.7", annotations={model_servers.ARGS_ANNOTATION: "--x"}),
        pod("nginx", ip="127.1.0.8", args=()) | {"spec": {"containers": [{"name": "web", "image": "nginx"}]}},
    ])
    assert wanted == {
        "ns/a": {"ip": "127.1.0.5", "port": 8000, "model": "m/1", "engine": "vllm", "extra_args": []},
        "ns/slow": {"ip": "127.1.0.6", "port": 8000, "model": "m/1", "engine": "vllm",
                    "extra_args": ["--inter-token-latency=90ms"]},
    }
    assert [p.split(":")[0] for p in problems] == ["ns/private", "ns/bad", "ns/nginx"]
    assert "10.1.0.5 is not in 127.0.0.0/8" in problems[0]


def test_the_command_line_has_the_model_the_latency_model_and_the_pods_flags_last():
    server = {"ip": "127.1.0.5", "port": 8000, "model": "m/1", "engine": "vllm", "extra_args": ["--max-num-seqs=1"]}
    argv = model_servers.simulator_argv("/bin/sim", server)
    assert argv[:3] == ["/bin/sim", "--model=m/1", "--port=8000"]
    assert "--force-dummy-tokenizer" in argv  # no tokenizer download: nothing is dialed
    assert argv[-1] == "--max-num-seqs=1" and argv.index("--max-num-seqs=32") < argv.index("--max-num-seqs=1")


def test_the_simulator_is_pinned_in_its_wrapper_module():
    assert gobuild.pinned_version("inference-sim") == "v0.10.2"
    assert gobuild.binary("llm-d-inference-sim").name == "llm-d-inference-sim"


def test_ready_only_in_the_ready_phase(ready_phases):
    assert ready_phases(model_servers.supervisor_ready) == {"ready"}
