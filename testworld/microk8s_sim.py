# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""A SIMULATION of the `snap`, `microk8s`, `nvidia-smi` and `getent` commands.

This machine has no snapd, no MicroK8s and no GPU, so the role flow tests
(tests/integration/test_microk8s_role.py) put per-host wrapper scripts on the
role's command paths (microk8s_bin, microk8s_snap_bin, ...) that call this file:

    python3 microk8s_sim.py --root ROOT --host HOST <microk8s|snap|nvidia-smi|getent> ARGS...

State lives in ROOT (JSON files, one lock for every command):

* ROOT/hosts/HOST/config.json   hostname, ips, gpu (written by the test)
* ROOT/hosts/HOST/state.json    snap installed/channel/held, addons {name: args}
* ROOT/hosts/HOST/snap_data/    $SNAP_DATA: var/lock/clustered.lock (workers),
                                var/kubernetes/backend/cluster.yaml (dqlite members)
* ROOT/clusters/ID.json         nodes {name: {host, role, labels, taints,
                                unschedulable, version}}, tokens, check
* ROOT/hosts.txt                "ip name" lines for getent
* ROOT/calls.log                one JSON line per command (host, argv, time, cordoned)

Output texts, exit codes and file markers follow MicroK8s 1.35 (canonical/microk8s
scripts/wrappers: status.py print_yaml, add_token.py print_json, join.py, the
cluster-agent "already known to dqlite" error, the clustered.lock wrapper check).
It simulates the CLI contract the role relies on; it does not run Kubernetes.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ADDONS = {
    # name: (repository, description, version)
    "dns": ("core", "CoreDNS", "1.10.1"),
    "ha-cluster": ("core", "Configure high availability on the current node", "1.35.0"),
    "helm": ("core", "Helm - the package manager for Kubernetes", "3.9.1"),
    "helm3": ("core", "Helm 3 - the package manager for Kubernetes", "3.9.1"),
    "hostpath-storage": ("core", "Storage class; allocates storage from host directory", "1.0.0"),
    "ingress": ("core", "Ingress controller for external access", "1.8.0"),
    "metallb": ("core", "Loadbalancer for your Kubernetes cluster", "0.13.10"),
    "metrics-server": ("core", "K8s Metrics Server for API access to service metrics", "0.6.3"),
    "rbac": ("core", "Role-Based Access Control for authorisation", "1.0.0"),
    # no gpu/nvidia: published for amd64 only, and the simulated hosts are DGX Spark (arm64)
}
DEFAULT_ADDONS = {"ha-cluster": [], "helm": [], "helm3": []}
LOCK_MSG = "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s {} on the control plane node."


class Sim:
    def __init__(self, root: Path, host: str):
        self.root = root
        self.host = host
        self.hdir = root / "hosts" / host
        self.config = json.loads((self.hdir / "config.json").read_text())
        self.state_file = self.hdir / "state.json"
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"installed": False}
        self.snap_data = self.hdir / "snap_data"

    # -- persistence
    def save(self):
        self.state_file.write_text(json.dumps(self.state, indent=1, sort_keys=True))

    def cluster_file(self, cid=None):
        return self.root / "clusters" / ("%s.json" % (cid or self.state["cluster"]))

    def load_cluster(self, cid=None):
        return json.loads(self.cluster_file(cid).read_text())

    def save_cluster(self, data, cid=None):
        path = self.cluster_file(cid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, sort_keys=True))

    @property
    def lock_path(self):
        return self.snap_data / "var" / "lock" / "clustered.lock"

    @property
    def dqlite_path(self):
        return self.snap_data / "var" / "kubernetes" / "backend" / "cluster.yaml"

    def node_name(self):
        return self.config["hostname"]

    @staticmethod
    def version_of(channel):
        track = channel.split("/")[0]
        return "v%s.0" % track if track != "latest" else "v1.36.0"

    def write_dqlite(self, cluster):
        members = [n for n in cluster["nodes"].values() if n["role"] == "control-plane"]
        lines = []
        for index, node in enumerate(sorted(members, key=lambda n: n["host"])):
            address = "127.0.0.1" if len(members) == 1 else self.ip_of(node["host"])
            lines.append("- Address: %s:19001\n  ID: %d\n  Role: 0\n" % (address, 1000 + index))
        for node in members:
            path = self.root / "hosts" / node["host"] / "snap_data" / "var" / "kubernetes" / "backend" / "cluster.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(lines))

    def ip_of(self, host):
        return json.loads((self.root / "hosts" / host / "config.json").read_text())["ips"][0]

    # -- snap
    def snap(self, args):
        if args[:2] == ["list", "microk8s"]:
            if not self.state.get("installed"):
                return self.err("error: no matching snaps installed", 1)
            notes = "classic,held" if self.state.get("held") else "classic"
            print("Name      Version   Rev    Tracking     Publisher   Notes")
            print("microk8s  %-8s  8612   %-11s  canonical** %s" % (self.version_of(self.state["channel"]), self.state["channel"], notes))
            return 0
        if args and args[0] == "install" and "microk8s" in args:
            channel = self.opt(args, "--channel") or "latest/stable"
            if "--classic" not in args:
                return self.err('error: This revision of snap "microk8s" was published using classic confinement', 1)
            if self.state.get("installed"):
                print('snap "microk8s" is already installed, see \'snap help refresh\'')
                return 0
            cid = self.host
            self.state.update({"installed": True, "channel": channel, "held": False, "cluster": cid,
                               "addons": dict(DEFAULT_ADDONS)})
            self.save_cluster({"check": "c" + cid.replace("-", "")[:11].ljust(11, "0"), "tokens": {}, "nodes": {
                self.node_name(): {"host": self.host, "role": "control-plane", "labels": {}, "taints": [],
                                   "unschedulable": False, "version": self.version_of(channel)}}}, cid)
            self.write_dqlite(self.load_cluster(cid))
            self.save()
            print("microk8s (%s) %s from Canonical** installed" % (channel, self.version_of(channel)))
            return 0
        if args[:2] == ["refresh", "--hold"] and args[2:] == ["microk8s"]:
            self.require_installed()
            self.state["held"] = True
            self.save()
            print('General refreshes of "microk8s" held indefinitely')
            return 0
        if args[:2] == ["refresh", "microk8s"]:
            self.require_installed()
            channel = self.opt(args, "--channel") or self.state["channel"]
            if channel == self.state["channel"]:
                print('snap "microk8s" has no updates available')
                return 0
            self.state["channel"] = channel
            self.save()
            cluster = self.load_cluster()
            if self.node_name() in cluster["nodes"]:
                cluster["nodes"][self.node_name()]["version"] = self.version_of(channel)
                self.save_cluster(cluster)
            print("microk8s (%s) %s from Canonical** refreshed" % (channel, self.version_of(channel)))
            return 0
        return self.err("error: simulated snap does not implement %r" % args, 64)

    # -- microk8s
    def microk8s(self, args):
        self.require_installed()
        cmd, rest = (args[0], args[1:]) if args else ("", [])
        locked = self.lock_path.exists()
        if cmd in ("status", "enable", "disable", "add-node", "config") and locked:
            print(LOCK_MSG.format(cmd))
            return 1
        if cmd == "status":
            return self.status(rest)
        if cmd == "enable":
            return self.enable(rest)
        if cmd == "disable":
            return self.disable(rest)
        if cmd == "add-node":
            return self.add_node(rest)
        if cmd == "join":
            return self.join(rest)
        if cmd == "kubectl":
            return self.kubectl(rest)
        if cmd == "config":
            print("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: U0lNVUxBVEVE\n"
                  "    server: https://%s:16443\n  name: microk8s-cluster\ncontexts:\n- context:\n"
                  "    cluster: microk8s-cluster\n    user: admin\n  name: microk8s\ncurrent-context: microk8s\n"
                  "kind: Config\npreferences: {}\nusers:\n- name: admin\n  user:\n"
                  "    token: %s\n" % (self.ip_of(self.host), self.config.get("admin_token", "sim-admin-token")))
            return 0
        return self.err("simulated microk8s does not implement %r" % args, 64)

    def status(self, args):
        if not self.state.get("running", True):
            if "yaml" in args:
                print("microk8s:\n  running: False\n  message: microk8s is not running. Use microk8s inspect for a deeper inspection.")
            else:
                print("microk8s is not running. Use microk8s inspect for a deeper inspection.")
            return 1
        addons = self.state.get("addons", {})
        if "--format" in args and self.opt(args, "--format") == "yaml":
            out = ["microk8s:", "  running: True", "high-availability:", "  enabled: False", "addons:"]
            for status in ("enabled", "disabled"):
                for name in sorted(ADDONS):
                    if (name in addons) == (status == "enabled"):
                        repo, desc, version = ADDONS[name]
                        out += ["  - name: %s" % name, "    repository: %s" % repo, "    description: %s" % desc,
                                "    version: %s" % version, "    status: %s" % status]
            print("\n".join(out))
        else:
            print("microk8s is running\nhigh-availability: no\n  datastore master nodes: 127.0.0.1:19001")
        return 0

    def addon_name(self, name):
        return name.split("/", 1)[1] if "/" in name else name

    def enable(self, args):
        if not args:
            return self.err("Usage: microk8s enable [OPTIONS] ADDONS...", 2)
        name = self.addon_name(args[0].split(":", 1)[0])
        extra = args[1:] or ([args[0].split(":", 1)[1]] if ":" in args[0] else [])
        if name not in ADDONS:
            return self.err("Addon %s was not found in any repository" % args[0], 1)
        addons = self.state.setdefault("addons", {})
        if name in addons:
            print("Infer repository core for addon %s\nAddon core/%s is already enabled" % (name, name))
            return 0
        if name == "metallb" and not extra:
            return self.err("Enter each IP address range delimited by comma: (simulated: no input) aborted", 1)
        addons[name] = extra
        self.save()
        print("Infer repository core for addon %s\nEnabling %s\n%s is enabled" % (name, name, name))
        return 0

    def disable(self, args):
        name = self.addon_name(args[0]) if args else ""
        if name not in ADDONS:
            return self.err("Addon %s was not found in any repository" % name, 1)
        addons = self.state.setdefault("addons", {})
        if name not in addons:
            print("Addon core/%s is already disabled" % name)
            return 0
        addons.pop(name)
        self.save()
        print("Disabling %s\n%s is disabled" % (name, name))
        return 0

    def add_node(self, args):
        token = self.opt(args, "--token")
        ttl = int(self.opt(args, "--token-ttl") or -1)
        if token is None or len(token) < 32:
            print("Invalid token size.  It must be 32 characters long.")
            return 1
        cluster = self.load_cluster()
        cluster["tokens"][token] = {"expiry": None if ttl == -1 else time.time() + ttl, "used": False}
        self.save_cluster(cluster)
        check = cluster["check"]
        urls = ["%s:25000/%s/%s" % (ip, token, check) for ip in self.config["ips"]]
        if self.opt(args, "--format") == "json":
            print(json.dumps({"token": "%s/%s" % (token, check), "urls": urls}, indent=2))
        else:
            print("From the node you wish to join to this cluster, run the following:\nmicrok8s join %s" % urls[0])
        return 0

    def join(self, args):
        url = args[0] if args else ""
        worker = "--worker" in args
        address, rest = (url.split("/", 1) + [""])[:2]
        token, check = (rest.split("/", 1) + [""])[:2]
        ip = address.rsplit(":", 1)[0]
        target = None
        for hdir in (self.root / "hosts").iterdir():
            if ip in json.loads((hdir / "config.json").read_text())["ips"]:
                target = hdir.name
        print("Contacting cluster at %s" % ip)
        if target is None:
            return self.err("Connection failed. Failed to connect to %s:25000 (no route to host)" % ip, 1)
        tsim = Sim(self.root, target)
        cid = tsim.state["cluster"]
        cluster = self.load_cluster(cid)
        if any(n["host"] == self.host for n in cluster["nodes"].values()):
            return self.err("Connection failed. The joining node (%s) is already known to dqlite (504)." % self.config["ips"][0], 1)
        info = cluster["tokens"].get(token)
        if info is None or info["used"] and info["expiry"] is None or (info["expiry"] and info["expiry"] < time.time()):
            return self.err("Connection failed. Invalid token (500).", 1)
        if check and check != cluster["check"]:
            return self.err("Connection failed. The cluster certificate does not match the check (500).", 1)
        info["used"] = True
        if info["expiry"] is None:
            cluster["tokens"].pop(token)
        old = self.state.get("cluster")
        if old and old != cid and self.cluster_file(old).exists():
            self.cluster_file(old).unlink()
        cluster["nodes"][self.node_name()] = {"host": self.host, "role": "worker" if worker else "control-plane",
                                              "labels": {}, "taints": [], "unschedulable": False,
                                              "version": self.version_of(self.state["channel"])}
        self.save_cluster(cluster, cid)
        self.state["cluster"] = cid
        self.state["addons"] = {}
        self.save()
        if worker:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self.lock_path.write_text("")
            if self.dqlite_path.exists():
                self.dqlite_path.unlink()
            print("\nThe node has joined the cluster and will appear in the nodes list in a few seconds.")
        else:
            self.write_dqlite(cluster)
            print("Waiting for this node to finish joining the cluster. .. .. ..\nSuccessfully joined the cluster.")
        return 0

    @property
    def real_cluster(self):
        """A real cluster (the test world's, with KWOK nodes) that drain/cordon/uncordon also act on, if any.

        ``MICROK8S_SIM_KUBECONFIG`` and ``MICROK8S_SIM_KUBECTL`` name it: the node's cordon and the drain's
        evictions (PodDisruptionBudgets included) then happen for real, by the real kubectl.
        """
        return os.environ.get("MICROK8S_SIM_KUBECONFIG") and os.environ.get("MICROK8S_SIM_KUBECTL")

    def real_kubectl(self, args):
        proc = subprocess.run([os.environ["MICROK8S_SIM_KUBECTL"], "--kubeconfig", os.environ["MICROK8S_SIM_KUBECONFIG"],
                               *args], capture_output=True, text=True, check=False)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        return proc.returncode

    def kubectl(self, args):
        if self.lock_path.exists():
            return self.err("The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?", 1)
        cluster = self.load_cluster()
        nodes = cluster["nodes"]
        verb = args[0] if args else ""
        if args[:2] == ["get", "nodes"] and "json" in " ".join(args):
            items = []
            for name, node in sorted(nodes.items()):
                labels = dict({"kubernetes.io/hostname": name, "kubernetes.io/arch": "arm64",
                               "microk8s.io/cluster": "true"}, **node["labels"])
                spec = {}
                if node["taints"]:
                    spec["taints"] = node["taints"]
                if node["unschedulable"]:
                    spec["unschedulable"] = True
                items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                              "spec": spec, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                                       "nodeInfo": {"kubeletVersion": node["version"]}}})
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
            return 0
        if verb in ("label", "taint", "drain", "uncordon", "cordon"):
            name = args[2] if len(args) > 2 and args[1] == "node" else (args[1] if len(args) > 1 else "")
            name = name.split("/", 1)[-1]
            if name not in nodes:
                return self.err('Error from server (NotFound): nodes "%s" not found' % name, 1)
            node = nodes[name]
            values = [a for a in args[2:] if not a.startswith("-") and a not in ("node", name)]
            if verb == "label":
                for item in values:
                    key, value = (item.split("=", 1) + [""])[:2]
                    node["labels"][key] = value
                print("node/%s labeled" % name)
            elif verb == "taint":
                for item in values:
                    kv, effect = item.rsplit(":", 1)
                    key, value = (kv.split("=", 1) + [""])[:2]
                    node["taints"] = [t for t in node["taints"] if not (t["key"] == key and t["effect"] == effect)]
                    node["taints"].append({"key": key, "value": value, "effect": effect})
                print("node/%s tainted" % name)
            elif verb in ("drain", "cordon"):
                node["unschedulable"] = True
                if not self.real_cluster:
                    print("node/%s cordoned" % name + ("\nnode/%s drained" % name if verb == "drain" else ""))
            else:
                node["unschedulable"] = False
                if not self.real_cluster:
                    print("node/%s uncordoned" % name)
            self.save_cluster(cluster)
            if self.real_cluster and verb in ("drain", "cordon", "uncordon"):
                return self.real_kubectl(args)
            return 0
        if verb == "wait":
            print("\n".join("node/%s condition met" % n for n in sorted(nodes)))
            return 0
        return self.err("simulated kubectl does not implement %r" % args, 64)

    # -- others
    def nvidia_smi(self, args):
        if not self.config.get("gpu"):
            return self.err("nvidia-smi: command not found", 127)
        print("GPU 0: NVIDIA GB10 (UUID: GPU-5a1e-sim-%s)" % self.host)
        return 0

    def getent(self, args):
        table = {}
        hosts_file = self.root / "hosts.txt"
        for line in hosts_file.read_text().splitlines() if hosts_file.exists() else []:
            parts = line.split()
            for name in parts[1:]:
                table[name] = parts[0]
        rc = 0
        for name in args[1:]:
            if name in table:
                print("%-15s %s" % (table[name], name))
            else:
                rc = 2
        return rc

    # -- helpers
    def require_installed(self):
        if not self.state.get("installed"):
            sys.stderr.write("microk8s: command not found\n")
            raise SystemExit(127)

    @staticmethod
    def opt(args, name):
        for index, arg in enumerate(args):
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
        return None

    @staticmethod
    def err(text, rc):
        sys.stderr.write(text + "\n")
        return rc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("command")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    root = Path(opts.root)
    with open(root / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sim = Sim(root, opts.host)
        cordoned = None
        if sim.state.get("installed") and sim.state.get("cluster") and sim.cluster_file().exists():
            node = sim.load_cluster()["nodes"].get(sim.node_name())
            cordoned = node and node["unschedulable"]
        with open(root / "calls.log", "a") as log:
            log.write(json.dumps({"t": time.time(), "host": opts.host, "cmd": opts.command, "argv": opts.args,
                                  "self_cordoned": cordoned}) + "\n")
        handler = {"snap": sim.snap, "microk8s": sim.microk8s, "nvidia-smi": sim.nvidia_smi,
                   "getent": sim.getent}[opts.command]
        code = handler(opts.args)
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
