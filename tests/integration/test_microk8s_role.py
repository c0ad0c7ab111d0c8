"""The MicroK8s role flow, run by ansible-playbook against a SIMULATED MicroK8s.

HONEST LABEL: this machine has no snapd, no MicroK8s and no GPU.  Every host of
the test inventory uses connection: local, and the role's command paths
(microk8s_bin, microk8s_snap_bin, microk8s_nvidia_smi_bin, microk8s_getent_bin)
and snap directories point at per-host wrappers around
testworld/microk8s_sim.py, a small stateful simulator of the CLI
contract (outputs, exit codes, clustered.lock / dqlite cluster.yaml markers)
with its state in JSON files.  The real playbooks/site.yml and
playbooks/upgrade.yml run unchanged; only inventory variables differ.
This proves the flow (first node, join, skip when joined, addon drift, check
mode, second run changed=0, upgrade one node at a time) - not MicroK8s itself.
To run the same role against real hosts see roles/microk8s/README.md.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "testworld" / "microk8s_sim.py"
ADMIN_TOKEN = "SimAdminKubeconfigToken0123456789abcdef"
# The addresses below (LAN, QSFP, MetalLB pool) are data inside the simulated MicroK8s CLI: the simulator prints
# them and the role chooses among them, but nothing ever dials them (every host is connection: local). The
# real-eviction drain test acts on the test world's cluster, whose node and pod IPs are loopback.
TOPOLOGY = {
    # host: (group, ips [lan, qsfp], gpu)
    "controller": ("microk8s_controllers", ["192.168.1.75", "10.10.10.1"], False),
    "controller-2": ("microk8s_controllers", ["192.168.1.78", "10.10.10.4"], False),
    "spark-01": ("microk8s_gpu_workers", ["192.168.1.76", "10.10.10.2"], True),
    "spark-02": ("microk8s_gpu_workers", ["192.168.1.77", "10.10.10.3"], True),
}
MUTATING = re.compile(r"^(snap (install|refresh)|microk8s (enable|disable|add-node|join|kubectl (label|taint|drain|uncordon)))")


def _os_names():
    """What Ansible may report as "<distribution> <distribution_version>" for this machine."""
    info = platform.freedesktop_os_release()
    name = info.get("NAME", "").split()[0]
    names = [f"{name} {info.get('VERSION_ID', '')}"]
    debian_version = Path("/etc/debian_version")
    if name == "Debian" and debian_version.exists():
        names.append(f"{name} {debian_version.read_text().strip()}")
    return names


class Simulation:
    def __init__(self, root: Path, gpu_hosts_with_gpu=None, unresolvable=(), host_overrides=True):
        self.root = root
        self.extra_env = {}  # e.g. the real cluster the simulated kubectl's drain/uncordon also act on
        self.inventory = root / "inventory.yml"
        self.kubeconfig = root / "controller-files" / "kubeconfig"
        (root / "clusters").mkdir(parents=True)
        hosts_lines = []
        groups = {"microk8s_controllers": {"hosts": {}}, "microk8s_gpu_workers": {"hosts": {}}}
        for host, (group, ips, gpu) in TOPOLOGY.items():
            if gpu_hosts_with_gpu is not None and group == "microk8s_gpu_workers":
                gpu = host in gpu_hosts_with_gpu
            hdir = root / "hosts" / host
            (hdir / "bin").mkdir(parents=True)
            (hdir / "snap_data").mkdir()
            (hdir / "common").mkdir()
            (hdir / "config.json").write_text(json.dumps({"hostname": host, "ips": ips, "gpu": gpu,
                                                          "admin_token": ADMIN_TOKEN}))
            for cmd in ("microk8s", "snap", "nvidia-smi", "getent"):
                wrapper = hdir / "bin" / cmd
                wrapper.write_text(f'#!/bin/sh\nexec python3 "{SIM}" --root "{root}" --host "{host}" {cmd} "$@"\n')
                wrapper.chmod(0o755)
            if host not in unresolvable:
                hosts_lines.append(f"{ips[0]} {host}")
            groups[group]["hosts"][host] = {
                "microk8s_node_name": host,
                "microk8s_bin": str(hdir / "bin" / "microk8s"),
                "microk8s_snap_bin": str(hdir / "bin" / "snap"),
                "microk8s_nvidia_smi_bin": str(hdir / "bin" / "nvidia-smi"),
                "microk8s_getent_bin": str(hdir / "bin" / "getent"),
                "microk8s_snap_data_dir": str(hdir / "snap_data"),
                "microk8s_snap_common_dir": str(hdir / "common"),
            }
        (root / "hosts.txt").write_text("\n".join(hosts_lines) + "\n")
        sim_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ansible_become": False,
            "microk8s_admin_user": "",
            # data for the simulated CLI only, never dialed (see TOPOLOGY above)
            "microk8s_metallb_addresses": "10.64.140.43-10.64.140.49",
            "microk8s_join_network": "10.10.10.0/24",
            "tokenlabs_kubeconfig": str(self.kubeconfig),
        }
        if host_overrides:
            # SIMULATION: this machine is not an arm64 Ubuntu 24.04 DGX Spark.
            sim_vars["microk8s_supported_os"] = ["Ubuntu 24.04"] + _os_names()
            sim_vars["microk8s_gpu_architectures"] = ["aarch64", platform.machine()]
        inventory = {"all": {
            "hosts": {"localhost": {"ansible_connection": "local",
                                    "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
            "children": {"microk8s": {"vars": sim_vars, "children": groups}}}}
        self.inventory.write_text(yaml.safe_dump(inventory, sort_keys=False))

    # -- running
    def playbook(self, playbook="playbooks/site.yml", *extra):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": f"{REPO / '.cache' / 'collections'}:{os.path.expanduser('~/.ansible/collections')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default",
        })
        env.pop("TOKENLABS_MIRROR", None)
        env.update(self.extra_env)
        mark = self.calls_mark()
        proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(self.inventory),
                               "--limit", "microk8s", playbook, *extra],
                              capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
        proc.calls = self.calls(mark)
        return proc

    def calls_mark(self):
        log = self.root / "calls.log"
        return log.stat().st_size if log.exists() else 0

    def calls(self, mark=0):
        log = self.root / "calls.log"
        if not log.exists():
            return []
        with open(log) as fh:
            fh.seek(mark)
            return [json.loads(line) for line in fh if line.strip()]

    # -- state
    def state(self, host):
        return json.loads((self.root / "hosts" / host / "state.json").read_text())

    def cluster(self, host="controller"):
        return json.loads((self.root / "clusters" / f"{self.state(host)['cluster']}.json").read_text())


def recap(output: str) -> dict:
    result = {}
    for host, ok, changed, failed in re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)",
                                                output, re.M):
        result[host] = {"ok": int(ok), "changed": int(changed), "failed": int(failed)}
    return result


def mutating(calls):
    return [f"{c['host']}: {c['cmd']} {' '.join(c['argv'])}" for c in calls
            if MUTATING.match(f"{c['cmd']} {' '.join(c['argv'])}")]


def ok(proc):
    assert proc.returncode == 0, f"ansible-playbook failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    simulation = Simulation(tmp_path_factory.mktemp("microk8s-sim"))
    simulation.first_run = ok(simulation.playbook("playbooks/site.yml", "-vvv"))
    return simulation


def test_first_run_forms_the_cluster(sim):
    proc = sim.first_run
    cluster = sim.cluster("controller")
    assert {n: v["role"] for n, v in cluster["nodes"].items()} == {
        "controller": "control-plane", "controller-2": "control-plane", "spark-01": "worker", "spark-02": "worker"}
    for host in TOPOLOGY:
        state = sim.state(host)
        assert state["channel"] == "1.35/stable" and state["held"] is True, host
        assert state["cluster"] == "controller", host
    # Workers carry clustered.lock; the second control-plane node is a dqlite member.
    for host in ("spark-01", "spark-02"):
        assert (sim.root / "hosts" / host / "snap_data/var/lock/clustered.lock").exists()
    assert (sim.root / "hosts/controller-2/snap_data/var/kubernetes/backend/cluster.yaml").read_text().count("Address:") == 2
    # Addons on the first control-plane node, MetalLB with its range.
    addons = sim.state("controller")["addons"]
    assert addons["metallb"] == ["10.64.140.43-10.64.140.49"]
    assert {"dns", "hostpath-storage", "helm3"} <= set(addons)
    # GPU nodes labelled and tainted through the API after joining; the controllers not.
    for name in ("spark-01", "spark-02"):
        node = cluster["nodes"][name]
        assert node["labels"] == {"tokenlabs.io/accelerator": "nvidia-gb10"}
        assert node["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert cluster["nodes"]["controller"]["taints"] == [] and cluster["nodes"]["controller-2"]["labels"] == {}
    # One single-purpose token per joining node, issued on the first node, joined on the QSFP network.
    add_nodes = [c for c in proc.calls if c["cmd"] == "microk8s" and c["argv"][:1] == ["add-node"]]
    joins = [c for c in proc.calls if c["cmd"] == "microk8s" and c["argv"][:1] == ["join"]]
    assert {c["host"] for c in add_nodes} == {"controller"} and len(add_nodes) == 3
    tokens = [c["argv"][c["argv"].index("--token") + 1] for c in add_nodes]
    assert len(set(tokens)) == 3 and all(len(t) >= 32 for t in tokens)
    assert sorted(c["host"] for c in joins) == ["controller-2", "spark-01", "spark-02"]
    assert all(c["argv"][1].startswith("10.10.10.1:25000/") for c in joins)
    assert [("--worker" in c["argv"]) for c in sorted(joins, key=lambda c: c["host"])] == [False, True, True]
    # Secrets never reach the output, even at -vvv.
    for secret in tokens + [ADMIN_TOKEN]:
        assert secret not in proc.stdout and secret not in proc.stderr
    # Kubeconfig for the rest of site.yml, 0600, on the Ansible controller.
    assert sim.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert ADMIN_TOKEN in sim.kubeconfig.read_text()


def test_second_run_changes_nothing(sim):
    proc = ok(sim.playbook())
    assert all(r["changed"] == 0 for r in recap(proc.stdout).values()), proc.stdout[-3000:]
    assert mutating(proc.calls) == []


def test_check_mode_on_converged_hosts_changes_nothing(sim):
    proc = ok(sim.playbook("playbooks/site.yml", "--check", "--diff"))
    assert all(r["changed"] == 0 for r in recap(proc.stdout).values()), proc.stdout[-3000:]
    assert mutating(proc.calls) == []


def test_member_listed_or_locked_is_never_rejoined(sim):
    # spark-02 loses its lock (e.g. restored from backup) but is still listed: no token, no join.
    lock = sim.root / "hosts/spark-02/snap_data/var/lock/clustered.lock"
    lock.unlink()
    try:
        proc = ok(sim.playbook())
    finally:
        lock.write_text("")
    assert [c for c in proc.calls if c["argv"][:1] in (["add-node"], ["join"])] == []
    # spark-01 still holds clustered.lock but is missing from the node list: no token, no join either.
    cluster_file = sim.root / "clusters" / "controller.json"
    saved = cluster_file.read_text()
    data = json.loads(saved)
    data["nodes"].pop("spark-01")
    cluster_file.write_text(json.dumps(data))
    try:
        proc = ok(sim.playbook())
    finally:
        cluster_file.write_text(saved)
    assert [c for c in proc.calls if c["argv"][:1] in (["add-node"], ["join"])] == []


def test_addon_argument_drift_is_reported_then_reenabled(sim):
    proc = ok(sim.playbook("playbooks/site.yml", "-e", "microk8s_metallb_addresses=10.64.140.43-10.64.140.60"))
    output = proc.stdout + proc.stderr  # warnings go to stderr
    assert "addon metallb is enabled with arguments" in output
    assert "MicroK8s ignores new arguments" in output
    assert all(r["changed"] == 0 for r in recap(proc.stdout).values())
    assert sim.state("controller")["addons"]["metallb"] == ["10.64.140.43-10.64.140.49"]

    proc = ok(sim.playbook("playbooks/site.yml", "-e", "microk8s_metallb_addresses=10.64.140.43-10.64.140.60",
                           "-e", "microk8s_addons_on_args_drift=reenable"))
    assert mutating(proc.calls) == ["controller: microk8s disable metallb",
                                    "controller: microk8s enable metallb 10.64.140.43-10.64.140.60"]
    assert sim.state("controller")["addons"]["metallb"] == ["10.64.140.43-10.64.140.60"]
    # And back, so the module-scoped simulation stays at the inventory's range.
    ok(sim.playbook("playbooks/site.yml", "-e", "microk8s_addons_on_args_drift=reenable"))


def test_channel_change_is_refused_outside_upgrade_playbook(sim):
    proc = sim.playbook("playbooks/site.yml", "-e", "tokenlabs_microk8s_channel=1.36/stable")
    assert proc.returncode != 0
    assert "runs MicroK8s from 1.35/stable but tokenlabs_microk8s_channel is 1.36/stable" in proc.stdout
    assert "run playbooks/upgrade.yml" in proc.stdout
    assert mutating(proc.calls) == []


def test_upgrade_one_node_at_a_time(sim):
    proc = ok(sim.playbook("playbooks/upgrade.yml", "-e", "tokenlabs_microk8s_channel=1.36/stable"))
    steps = [(c["host"], c["cmd"], c["argv"], c["self_cordoned"]) for c in proc.calls
             if (c["cmd"] == "snap" and c["argv"][:2] == ["refresh", "microk8s"])
             or (c["cmd"] == "microk8s" and c["argv"][:2] in (["kubectl", "drain"], ["kubectl", "uncordon"]))]
    sequence = []
    for host, cmd, argv, cordoned in steps:
        if cmd == "snap":
            sequence.append(("refresh", host))
            assert cordoned is True, f"{host} refreshed while not drained"
        else:
            sequence.append((argv[1], argv[2]))
    expected = []
    for host in ("controller", "controller-2", "spark-01", "spark-02"):  # control plane first
        expected += [("drain", host), ("refresh", host), ("uncordon", host)]
    assert sequence == expected
    for host in TOPOLOGY:
        assert sim.state(host)["channel"] == "1.36/stable" and sim.state(host)["held"] is True
    assert not any(n["unschedulable"] for n in sim.cluster()["nodes"].values())
    # Converged: a second upgrade run and a site.yml run with the new pin change nothing.
    proc = ok(sim.playbook("playbooks/upgrade.yml", "-e", "tokenlabs_microk8s_channel=1.36/stable"))
    assert mutating(proc.calls) == [] and all(r["changed"] == 0 for r in recap(proc.stdout).values())
    proc = ok(sim.playbook("playbooks/site.yml", "-e", "tokenlabs_microk8s_channel=1.36/stable"))
    assert mutating(proc.calls) == [] and all(r["changed"] == 0 for r in recap(proc.stdout).values())


def test_upgrade_refuses_to_skip_a_minor_version(sim):
    proc = sim.playbook("playbooks/upgrade.yml", "-e", "tokenlabs_microk8s_channel=1.38/stable")
    assert proc.returncode != 0
    assert "upgrade one Kubernetes minor version at a time" in proc.stdout
    assert mutating(proc.calls) == []


def test_upgrade_drains_with_real_evictions(sim, cluster):
    """upgrade.yml's drain and uncordon, run by the real kubectl against the test world's cluster.

    The simulated hosts' ``microk8s kubectl drain|uncordon`` also act on the cluster of ``up cluster`` (KWOK nodes
    named as the simulation's hosts): pods leave the drained nodes through the Eviction API (with a
    PodDisruptionBudget in place, which the API server checks on every eviction; the roles create none), the real
    scheduler and ReplicaSet controller put them back on the other node, and every node ends schedulable.
    """
    from testworld import controlplane  # noqa: PLC0415 - the node shape of the cluster world
    for host, (group, _ips, _gpu) in TOPOLOGY.items():
        if cluster.kubectl("get", "node", host, check=False).returncode != 0:
            cluster.kubectl("create", "-f", "-", input=json.dumps(
                controlplane.inventory_node_object(host, group == "microk8s_gpu_workers")))
    cluster.kubectl("create", "namespace", "drain-test")
    cluster.apply(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "drain-test"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"nodeSelector": {"kubernetes.io/arch": "amd64"},
                                       "containers": [{"name": "web", "image": "nginx:stand-in"}]}}}}))
    cluster.apply(json.dumps({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                              "metadata": {"name": "web", "namespace": "drain-test"},
                              "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", "drain-test", "--timeout=60s")
    before = {p["metadata"]["name"]: p["spec"]["nodeName"]
              for p in cluster.kubectl_json("get", "pods", "-n", "drain-test")["items"]}
    mark = cluster.audit_mark()
    sim.extra_env = {"MICROK8S_SIM_KUBECONFIG": cluster.kubeconfig, "MICROK8S_SIM_KUBECTL": cluster.kubectl_bin}
    try:
        ok(sim.playbook("playbooks/upgrade.yml", "-e", "tokenlabs_microk8s_channel=1.37/stable"))
    finally:
        sim.extra_env = {}
    evictions = [w for w in cluster.writes_since(mark, resource="pods", namespace="drain-test")
                 if (w.get("objectRef") or {}).get("subresource") == "eviction"]
    assert len(evictions) >= len(before), evictions  # every pod of the drained controllers left by eviction
    cluster.kubectl("rollout", "status", "deployment/web", "-n", "drain-test", "--timeout=60s")
    after = cluster.kubectl_json("get", "pods", "-n", "drain-test")["items"]
    assert len(after) == 2 and not set(before) & {p["metadata"]["name"] for p in after}
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    assert not any(n["spec"].get("unschedulable") for n in nodes)


def test_preflight_names_architecture_and_os(tmp_path):
    simulation = Simulation(tmp_path, host_overrides=False)
    proc = simulation.playbook()
    assert proc.returncode != 0
    assert any(f"OS {name} (allowed: Ubuntu 24.04)" in proc.stdout for name in _os_names())
    if platform.machine() != "aarch64":
        assert f"spark-01 cannot run a GPU worker: architecture {platform.machine()} (allowed: aarch64)" in proc.stdout
    assert mutating(proc.calls) == [] and not any(c["cmd"] == "microk8s" for c in proc.calls)


def test_preflight_finds_missing_gpu_driver_and_unresolvable_peers(tmp_path):
    simulation = Simulation(tmp_path, gpu_hosts_with_gpu={"spark-01"}, unresolvable={"spark-01"})
    proc = simulation.playbook()
    assert proc.returncode != 0
    assert "spark-02 is in microk8s_gpu_workers but `nvidia-smi -L` found no GPU (rc=127" in proc.stdout
    assert "cannot resolve spark-01: MicroK8s nodes reach each other by hostname" in proc.stdout
    assert "The preflight failed on " in proc.stdout and "nothing was changed on any host" in proc.stdout
    assert mutating(proc.calls) == [] and not any(c["cmd"] == "snap" for c in proc.calls)
