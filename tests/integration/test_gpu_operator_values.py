"""The GPU Operator values the gpu_operator role produces, against the real mirrored chart and
the session cluster (kube-apiserver + etcd, scheduler, controller-manager, KWOK pods; no GPU Pod really runs).

* the role's values render with the mirrored gpu-operator chart of the release set (v26.7.0) (`helm template`, pinned helm);
* the role installs the chart (kubernetes.core.helm) on the control plane: every object is accepted by the
  API server; a second run and a check-mode run send no write (audit log);
* the verification passes for a node offering nvidia.com/gpu + the nvidia RuntimeClass, and fails naming
  the node without GPUs and the failing validator pod.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap

import pytest
import yaml

MICROK8S_ENV = {
    "CONTAINERD_CONFIG": "/var/snap/microk8s/current/args/containerd-template.toml",
    "CONTAINERD_SOCKET": "/var/snap/microk8s/common/run/containerd.sock",
    "RUNTIME_CONFIG_SOURCE": "file=/var/snap/microk8s/current/args/containerd.toml",
    "CONTAINERD_SET_AS_DEFAULT": "true",
}
NAMESPACE = "gpu-operator"


def _playbook(tmp_path, body: str) -> str:
    path = tmp_path / "play.yml"
    path.write_text(textwrap.dedent(body))
    return str(path)


def _run(control_plane, tmp_path, body, *extra):
    return control_plane.ansible_playbook("-i", "inventory/local", _playbook(tmp_path, body), *extra)


def _changed(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


def _render_values(control_plane, tmp, *extra):
    """The role's values (tasks_from values.yml) and chart reference, written by a play."""
    out = tmp / "values.yaml"
    proc = _run(control_plane, tmp, f"""
        - name: Render the GPU Operator values
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Compute them with the role
              ansible.builtin.include_role:
                name: tokenlabs.inference.gpu_operator
                tasks_from: values.yml
                public: true
            - name: Write them
              ansible.builtin.copy:
                content: "{{{{ gpu_operator_values | to_nice_yaml }}}}"
                dest: {out}
                mode: "0600"
            - name: Write the chart reference
              ansible.builtin.copy:
                content: "{{{{ gpu_operator_chart_ref }}}}\\n{{{{ tokenlabs_gpu_operator_version }}}}\\n"
                dest: {tmp / 'chart.txt'}
                mode: "0600"
        """, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    chart_ref, version = (tmp / "chart.txt").read_text().split()
    return yaml.safe_load(out.read_text()), out, chart_ref, version


@pytest.fixture(scope="module")
def rendered_values(control_plane, tmp_path_factory):
    return _render_values(control_plane, tmp_path_factory.mktemp("gpu-values"))


def test_values_pin_host_driver_and_microk8s_containerd(rendered_values, control_plane):
    values, chart_ref, version = rendered_values[0], rendered_values[2], rendered_values[3]
    assert values["driver"]["enabled"] is False
    assert values["toolkit"]["enabled"] is True
    assert {e["name"]: e["value"] for e in values["toolkit"]["env"]} == MICROK8S_ENV
    # The version pin: the current release set's (GB10 needs >= v25.10.0), chart from the mirror.
    assert version == "v26.7.0" and tuple(int(p) for p in version[1:].split(".")) >= (25, 10, 0)
    assert chart_ref == f"{control_plane.mirror}/charts/gpu-operator-{version}.tgz"


def test_values_render_with_the_mirrored_chart(rendered_values, control_plane):
    values_file, chart_ref, version = rendered_values[1:]
    proc = subprocess.run([control_plane.helm_bin, "template", "gpu-operator", chart_ref, "-n", NAMESPACE,
                           "-f", str(values_file)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    policy = next(d for d in docs if d["kind"] == "ClusterPolicy")
    assert policy["spec"]["driver"]["enabled"] is False
    assert {e["name"]: e["value"] for e in policy["spec"]["toolkit"]["env"]} == MICROK8S_ENV
    operator = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gpu-operator")
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == f"nvcr.io/nvidia/gpu-operator:{version}"
    # Server-side dry run of the rendered objects: the API server accepts them (ClusterPolicy needs its CRD,
    # installed by the role test below; here the non-custom objects).
    plain = [d for d in docs if d["kind"] not in ("ClusterPolicy", "NodeFeatureRule")]
    control_plane.kubectl("create", "namespace", NAMESPACE, check=False)
    # --force-conflicts: on a session cluster where a test has installed the chart already, Helm owns the fields.
    dry = control_plane.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=pytest", "-f", "-",
                                input="\n---\n".join(yaml.safe_dump(d) for d in plain), check=False)
    assert dry.returncode == 0, dry.stderr


SEED_CATALOG = [  # the reference topology: one model alone on spark-01, three sharing spark-02's GPU
    {"id": "nvidia/NVIDIA-Nemotron-3-Super-120B", "name": "nemotron-super", "engine": "vllm", "node": "spark-01",
     "image": "example.invalid/vllm:v1", "gpu_memory_share": 0.9},
    {"id": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "name": "r1-qwen-7b", "engine": "vllm", "node": "spark-02",
     "image": "example.invalid/vllm:v1", "gpu_memory_share": 0.3},
    {"id": "meta-llama/Llama-3.1-8B-Instruct", "name": "llama-8b", "engine": "sglang", "node": "spark-02",
     "image": "example.invalid/sglang:v1", "gpu_memory_share": 0.3},
    {"id": "Qwen/Qwen2.5-7B-Instruct", "name": "qwen-7b", "engine": "trtllm", "node": "spark-02",
     "image": "example.invalid/trtllm:v1", "gpu_memory_share": 0.3},
]


def test_the_device_plugin_shares_a_gpu_between_the_models_of_a_node(control_plane, tmp_path):
    (tmp_path / "catalog.json").write_text(json.dumps({"tokenlabs_models": SEED_CATALOG}))
    values, out, chart, _version = _render_values(control_plane, tmp_path, "-e", f"@{tmp_path / 'catalog.json'}")
    config = values["devicePlugin"]["config"]
    assert config["name"] == "tokenlabs-device-plugin" and config["default"] == "exclusive"
    assert sorted(config["data"]) == ["exclusive", "time-slicing-3"]  # three replicas on spark-02
    shared = yaml.safe_load(config["data"]["time-slicing-3"])["sharing"]["timeSlicing"]["resources"]
    assert shared == [{"name": "nvidia.com/gpu", "replicas": 3}]
    rendered = subprocess.run([control_plane.helm_bin, "template", "gpu-operator", chart, "-n", NAMESPACE,
                               "-f", str(out)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    policy = next(d for d in docs if d["kind"] == "ClusterPolicy")
    assert policy["spec"]["devicePlugin"]["config"] == {"name": "tokenlabs-device-plugin", "default": "exclusive"}
    configmap = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tokenlabs-device-plugin")
    assert sorted(configmap["data"]) == ["exclusive", "time-slicing-3"]
    control_plane.kubectl("create", "namespace", NAMESPACE, check=False)
    # --force-conflicts: on a session cluster where a test has installed the chart already, Helm owns the fields.
    dry = control_plane.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=pytest", "-f", "-",
                                input=yaml.safe_dump(configmap), check=False)
    assert dry.returncode == 0, dry.stderr


def test_role_installs_the_chart_and_reruns_without_writes(control_plane, tmp_path):
    play = """
        - name: GPU Operator
          hosts: localhost
          gather_facts: false
          roles:
            - role: tokenlabs.inference.gpu_operator
              vars:
                gpu_operator_enabled: true
        """
    extra = ["-e", "tokenlabs_helm_hooks=false", "-e", f"tokenlabs_helm_binary={control_plane.helm_bin}"]
    proc = _run(control_plane, tmp_path, play, *extra)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    policy = control_plane.kubectl_json("get", "clusterpolicies.nvidia.com", "cluster-policy")
    assert policy["spec"]["driver"]["enabled"] is False
    assert {e["name"]: e["value"] for e in policy["spec"]["toolkit"]["env"]} == MICROK8S_ENV
    releases = json.loads(subprocess.run([control_plane.helm_bin, "list", "-n", NAMESPACE, "-o", "json",
                                          "--kubeconfig", control_plane.kubeconfig],
                                         capture_output=True, text=True, check=True).stdout)
    assert [(r["name"], r["chart"], r["status"]) for r in releases] == [
        ("gpu-operator", "gpu-operator-v26.7.0", "deployed")]
    # each catalog node (inventory/local: one model per node) picks its device-plugin config
    for node in ("spark-01", "spark-02"):
        labels = control_plane.kubectl_json("get", "node", node)["metadata"]["labels"]
        assert labels["nvidia.com/device-plugin.config"] == "exclusive"

    mark = control_plane.audit_mark()
    proc = _run(control_plane, tmp_path, play, *extra)
    assert proc.returncode == 0 and _changed(proc.stdout) == 0, proc.stdout[-3000:]
    proc = _run(control_plane, tmp_path, play, "--check", *extra)
    assert proc.returncode == 0 and _changed(proc.stdout) == 0, proc.stdout[-3000:]
    writes = [(e["verb"], (e.get("objectRef") or {}).get("resource")) for e in control_plane.client_writes(mark)]
    assert writes == []


def test_verification_passes_and_fails_with_failing_pods(control_plane, tmp_path):
    control_plane.kubectl("create", "namespace", NAMESPACE, check=False)
    control_plane.apply(textwrap.dedent("""
        apiVersion: node.k8s.io/v1
        kind: RuntimeClass
        metadata: {name: nvidia}
        handler: nvidia
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: spark-gpu-ok}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: spark-gpu-missing}
        ---
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: default, namespace: gpu-operator}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: nvidia-operator-validator-x7k2p, namespace: gpu-operator}
        spec:
          automountServiceAccountToken: false
          # the validator DaemonSet's selector: no node carries it when GPU feature discovery did not label them
          nodeSelector: {nvidia.com/gpu.deploy.operator-validator: "true"}
          containers: [{name: nvidia-operator-validator, image: "nvcr.io/nvidia/gpu-operator:v25.10.1"}]
        """))
    control_plane.kubectl("patch", "node", "spark-gpu-ok", "--subresource=status", "--type=merge", "-p",
                          json.dumps({"status": {"capacity": {"nvidia.com/gpu": "1"},
                                                 "allocatable": {"nvidia.com/gpu": "1"}}}))
    play = """
        - name: Verify
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Verify the GPUs
              ansible.builtin.include_role:
                name: tokenlabs.inference.gpu_operator
                tasks_from: verify.yml
              vars:
                gpu_operator_verify_retries: 1
                gpu_operator_verify_delay: 1
        """
    proc = _run(control_plane, tmp_path, play, "-e", '{"gpu_operator_nodes": ["spark-gpu-ok"]}')
    assert proc.returncode == 0, proc.stdout[-3000:]
    proc = _run(control_plane, tmp_path, play, "-e", '{"gpu_operator_nodes": ["spark-gpu-ok", "spark-gpu-missing"]}')
    assert proc.returncode != 0
    assert "GPU nodes without allocatable nvidia.com/gpu: spark-gpu-missing" in proc.stdout
    assert "nvidia-operator-validator-x7k2p: Pending" in proc.stdout
