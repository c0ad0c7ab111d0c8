"""python -m testworld: one command line over the test world.

    python -m testworld build [COMPONENT ...]       build/cache the pinned binaries (all by default)
    python -m testworld up [COMPONENT ...] [--port N] [--grpc-port N] [--http-port N]
                                                   components: controlplane kube-scheduler kube-controller-manager
                                                   kwok device-plugin gpu-operator authorino envoy-gateway
                                                   metallb (the real MetalLB controller: loopback LoadBalancer
                                                   addresses from 127.240.0.0/24) ai-gateway (the real
                                                   Envoy AI Gateway controller and extension server)
                                                   kuadrant (the real kuadrant-, limitador- and authorino-operator)
                                                   model-servers (llm-d-inference-sim on each model pod's IP)
                                                   endpoint-pickers (GAIE v1.5.0's picker per InferencePool);
                                                   ai-gateway-extproc (the AI Gateway's ext_proc server per
                                                   Gateway, from its Envoy pods' sidecar and filter config);
                                                   gateway (the stand-in for Envoy's filter chain: the Gateway's
                                                   listeners on 127.0.0.1, calling Authorino, the quota harness,
                                                   the extproc, the pickers and the model servers);
                                                   speech-servers (a text-to-speech stand-in on each service
                                                   pod's IP: /v1/audio/speech answers a WAV);
                                                   "cluster" = the control plane, scheduler, controller-manager,
                                                   KWOK and the NVIDIA stand-ins; "platform" = metallb,
                                                   envoy-gateway, ai-gateway and kuadrant (each waits for the
                                                   chart site.yml installs)
    python -m testworld down [COMPONENT ...] [--purge]   stop components (default: all, watchers first), by pid
    python -m testworld status [COMPONENT ...]     what runs where (exit 1 if a named component -- by default
                                                   the control plane -- is stopped)
    python -m testworld env                        shell exports (KUBECONFIG, PATH with the binaries)
    python -m testworld kubeconfig                 the admin kubeconfig path
    python -m testworld install-crds DIR [--release-set current|reference]
                                                   server-side apply a mirror's CRDs of one release set
                                                   (default current), or every CRD under DIR
    python -m testworld register-nodes [NAME ...] [--catalog FILE ...] [--gpus N] [--inventory HOSTS_FILE]

State (pids, ports, certificates, logs) lives in --state-dir (default $TOKENLABS_CONTROLPLANE_DIR or
.cache/controlplane); binaries in $TOKENLABS_CACHE (default ~/.cache/tokenlabs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from testworld import (ai_gateway, ai_gateway_extproc, authorino, controller_manager, controlplane, device_plugin,
                       endpoint_pickers, envoy_gateway, gateway, gobuild, gpu_operator, kuadrant, kwok, metallb,
                       model_servers, scheduler, speech_servers)
from testworld.base import State, TestWorldError, log, state_dir_from_env

# Start order; `down` stops them in reverse (everything else watches the control plane).
COMPONENTS = {"controlplane": controlplane, "kube-scheduler": scheduler, "kube-controller-manager": controller_manager,
              "kwok": kwok, "device-plugin": device_plugin, "gpu-operator": gpu_operator, "authorino": authorino,
              # The real Envoy Gateway controller, out of cluster; it runs the chart's configuration once the
              # collection has installed it (not part of "cluster").
              "envoy-gateway": envoy_gateway,
              # The real Envoy AI Gateway controller, out of cluster, once the collection has installed its chart:
              # AIGatewayRoute status, the generated HTTPRoutes, Envoy Gateway's extension server.
              "ai-gateway": ai_gateway,
              # The real MetalLB controller, out of cluster: LoadBalancer Services get loopback addresses as
              # MicroK8s' metallb addon gives them (not part of "cluster").
              "metallb": metallb,
              # The real kuadrant-operator, limitador-operator and authorino-operator, out of cluster, once the
              # collection has installed the kuadrant-operator chart (not part of "cluster").
              "kuadrant": kuadrant,
              # llm-d-inference-sim behind every model pod, on the pod's loopback IP and port (not part of "cluster").
              "model-servers": model_servers,
              # A text-to-speech stand-in on every service pod's IP (the engine needs a GPU; not part of "cluster").
              "speech-servers": speech_servers,
              # The real GAIE v1.5.0 endpoint picker per InferencePool, with the chart's configuration (not part of
              # "cluster").
              "endpoint-pickers": endpoint_pickers,
              # The real AI Gateway ext_proc server per Gateway, as its Envoy pods' sidecar runs it, with the filter
              # config the controller wrote (not part of "platform").
              "ai-gateway-extproc": ai_gateway_extproc,
              # The stand-in for Envoy's filter chain on the Gateways' listeners, calling the real components above
              # in Envoy's order (not part of "platform").
              "gateway": gateway}
# The cluster behind the API server: scheduler, controllers, simulated nodes, the GPU as the device plugin offers it
# and the RuntimeClass the GPU Operator creates.
CLUSTER = ("controlplane", "kube-scheduler", "kube-controller-manager", "kwok", "device-plugin", "gpu-operator")
# The platform's own controllers, built from their Go modules (the current release set): each starts once the
# collection's site.yml has installed its chart and judges the objects the collection writes.
PLATFORM = ("metallb", "envoy-gateway", "ai-gateway", "kuadrant")
GROUPS = {"cluster": CLUSTER, "platform": PLATFORM}


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m testworld", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state-dir", type=Path, default=state_dir_from_env())
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build/cache the pinned Go binaries")
    p_build.add_argument("components", nargs="*", help="Go wrapper modules to build: %s (default: all)"
                         % ", ".join(sorted(gobuild.COMPONENTS)))
    p_up = sub.add_parser("up", help="start components (default: the control plane)")
    p_up.add_argument("components", nargs="*", help="%s, or cluster (default: controlplane)" % ", ".join(COMPONENTS))
    p_up.add_argument("--port", type=int, default=int(os.environ.get("TOKENLABS_APISERVER_PORT", "6443")),
                      help="kube-apiserver port on 127.0.0.1 (0 = pick a free one)")
    p_up.add_argument("--grpc-port", type=int, default=0, help="Authorino's gRPC ext_authz port (0 = pick one)")
    p_up.add_argument("--http-port", type=int, default=0, help="Authorino's raw HTTP ext_authz port (0 = pick one)")
    p_up.add_argument("--timeout", type=float, default=90.0)
    p_up.add_argument("--log-level", default="info", choices=("debug", "info", "error"), help="Authorino's log level")
    p_down = sub.add_parser("down", help="stop components (default: all)")
    p_down.add_argument("components", nargs="*", help="%s (default: all)" % ", ".join(COMPONENTS))
    p_down.add_argument("--purge", action="store_true", help="also delete certificates, etcd data and logs")
    p_status = sub.add_parser("status", help="what runs where")
    p_status.add_argument("components", nargs="*", help="components whose state sets the exit code "
                                                        "(default: the control plane)")
    sub.add_parser("kubeconfig")
    sub.add_parser("env")
    p_crds = sub.add_parser("install-crds")
    p_crds.add_argument("mirror", type=Path, help="mirror directory (holding crds/) or a CRD directory")
    p_crds.add_argument("--release-set", default="current", help="the mirror's release set (default: current)")
    p_nodes = sub.add_parser("register-nodes", help="register Node objects as a kubelet would")
    p_nodes.add_argument("names", nargs="*", help="node names")
    p_nodes.add_argument("--catalog", type=Path, nargs="+", default=[],
                         help="YAML files defining tokenlabs_models (the last that does wins): register its nodes")
    p_nodes.add_argument("--gpus", type=int, default=1, help="nvidia.com/gpu each node offers (default 1)")
    p_nodes.add_argument("--inventory", type=Path,
                         help="an inventory's hosts.yml: register its controllers and GPU workers as their kubelets "
                              "would (labels, taints, arch, CPU, memory; nvidia.com/gpu from the device plugin)")
    return parser.parse_args(argv)


def component_names(names):
    names = [n for name in names for n in GROUPS.get(name, (name,))]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise TestWorldError(f"unknown component(s) {', '.join(unknown)}; allowed: {', '.join(COMPONENTS)} "
                             f"and the groups {', '.join(GROUPS)}")
    return names


def up(state: State, args) -> None:
    names = component_names(args.components or ["controlplane"])
    for name in COMPONENTS:
        if name not in names:
            continue
        if name == "controlplane":
            if not 0 <= args.port <= 65535:
                raise TestWorldError(f"--port {args.port} is not a TCP port (0-65535)")
            controlplane.up(state, args.port, args.timeout)
        elif name == "authorino":
            info = authorino.up(state, args.grpc_port, args.http_port, min(args.timeout, 60.0), args.log_level)
            print(json.dumps({k: info[k] for k in ("pid", "grpc_port", "http_port", "health_port")}))
        else:
            COMPONENTS[name].up(state, timeout=args.timeout)


def run(args) -> int:
    state = State(args.state_dir.resolve())
    if args.command == "build":
        unknown = [c for c in args.components if c not in gobuild.COMPONENTS]
        if unknown:
            raise TestWorldError(f"unknown binaries {', '.join(unknown)}; allowed: {', '.join(sorted(gobuild.COMPONENTS))}")
        gobuild.build(args.components or None)
        for name in sorted(n for c in (args.components or gobuild.COMPONENTS) for n in gobuild.COMPONENTS[c]["commands"]):
            print(gobuild.binary(name))
    elif args.command == "up":
        up(state, args)
    elif args.command == "down":
        names = component_names(args.components or list(COMPONENTS))
        if "controlplane" in names:
            names = list(COMPONENTS)  # nothing may outlive the control plane it watches
        for name in reversed(list(COMPONENTS)):
            if name == "controlplane" and name in names:
                controlplane.down(state, args.purge)
            elif name in names:
                COMPONENTS[name].down(state)
    elif args.command == "status":
        names = component_names(args.components or ["controlplane"])
        running = {name: module.status(state) for name, module in COMPONENTS.items()}
        return 0 if all(running[n] for n in names) else 1
    elif args.command == "kubeconfig":
        if not state.kubeconfig.exists():
            raise TestWorldError(f"no kubeconfig in {state.root}; run `python -m testworld up` first")
        print(state.kubeconfig)
    elif args.command == "env":
        bindir = sorted({str(gobuild.binary(n).parent) for s in gobuild.COMPONENTS.values() for n in s["commands"]})
        print(f"export KUBECONFIG={state.kubeconfig}")
        print(f"export PATH={':'.join(bindir)}:$PATH")
    elif args.command == "install-crds":
        controlplane.install_crds(state, args.mirror.resolve(), args.release_set)
    elif args.command == "register-nodes":
        if args.inventory:
            controlplane.register_inventory_nodes(state, args.inventory)
        if args.names or args.catalog or not args.inventory:
            controlplane.register_nodes(state, list(args.names) + controlplane.catalog_nodes(args.catalog), args.gpus)
    return 0


def main(argv=None) -> int:
    args = parse(argv)
    try:
        return run(args)
    except TestWorldError as exc:
        log(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        controlplane.down(State(args.state_dir.resolve()))
        return 130


if __name__ == "__main__":
    sys.exit(main())
