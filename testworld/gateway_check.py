"""Ask the real Authorino whether a key file's key gets through the deployed AuthPolicy.

For the demo (and an operator poking at the local control plane): reads the
AuthPolicy that ``site.yml`` deployed, writes the AuthConfig kuadrant-operator
v1.4.3 would derive from it (``kuadrant_translation.py``: the operator cannot
run here) into the Kuadrant namespace, waits until Authorino reports it Ready,
then sends gRPC Checks the way wasm-shim does: one with the key read from
``--key-file``, one with a key nobody has. Prints each decision and the
identity (tier, user id); the key itself is never printed.

    python -m testworld.gateway_check --key-file .cache/tenant-keys/demo-free.key \\
        [--gateway-namespace token-labs] [--kuadrant-namespace kuadrant-system]

Exit 0 when the key is accepted and the wrong key refused, 1 otherwise, 2 on bad input.
Needs Authorino running (``python -m testworld up authorino``) and KUBECONFIG.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

from testworld import authorino as authorino_tool
from testworld import kuadrant_translation as kt
from testworld.authorino_client import AuthorinoClient
from testworld.base import State, TestWorldError, alive, state_dir_from_env
from testworld.gobuild import binary


def kubectl(*args, stdin=None):
    proc = subprocess.run([str(binary("kubectl")), *args], input=stdin, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise TestWorldError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--gateway-namespace", default="token-labs")
    parser.add_argument("--gateway", default="token-labs-gateway")
    parser.add_argument("--listener", default="http")
    parser.add_argument("--route", default="llm-inference",
                        help="HTTPRoute name for the path (Envoy AI Gateway generates it from the AIGatewayRoute)")
    parser.add_argument("--kuadrant-namespace", default="kuadrant-system")
    parser.add_argument("--auth-policy", default="token-labs-auth")
    parser.add_argument("--state-dir", type=Path,
                        default=state_dir_from_env())
    args = parser.parse_args(argv)
    try:
        key = args.key_file.read_text().strip()
    except OSError as exc:
        print(f"gateway_check: cannot read --key-file {args.key_file}: {exc.strerror}", file=sys.stderr)
        return 2
    state = State(args.state_dir.resolve())
    info = authorino_tool.load(state)
    if not alive(info.get("pid"), authorino_tool.NAME):
        print("gateway_check: Authorino is not running; start it with python -m testworld up authorino",
              file=sys.stderr)
        return 2
    try:
        policy = json.loads(kubectl("get", "authpolicy", args.auth_policy, "-n", args.gateway_namespace,
                                    "-o", "json"))
        gateway = json.loads(kubectl("get", "gateway", args.gateway, "-n", args.gateway_namespace, "-o", "json"))
        path = kt.path_id(gateway["spec"]["gatewayClassName"], args.gateway_namespace, args.gateway, args.listener,
                          args.gateway_namespace, args.route, 0)
        authconfig = kt.authconfig_for(policy, path, args.kuadrant_namespace, args.gateway_namespace, args.route, 0)
        kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=tokenlabs-gateway-check",
                "-f", "-", stdin=json.dumps(authconfig))
    except TestWorldError as exc:
        print(f"gateway_check: {exc}", file=sys.stderr)
        return 2
    name = authconfig["metadata"]["name"]
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(kubectl("get", "authconfig", name, "-n", args.kuadrant_namespace, "-o", "json")).get(
            "status") or {}
        if (status.get("summary") or {}).get("ready"):
            break
        if time.monotonic() > deadline:
            print(f"gateway_check: AuthConfig {args.kuadrant_namespace}/{name} not Ready: {status}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"AuthConfig {args.kuadrant_namespace}/{name[:12]}… (translated from AuthPolicy "
          f"{args.gateway_namespace}/{args.auth_policy}) is Ready in Authorino")
    client = AuthorinoClient(info["grpc_port"])
    try:
        good = client.check(name, headers={"authorization": f"Bearer {key}"})
        bad = client.check(name, headers={"authorization": f"Bearer tlabs_sk_{secrets.token_hex(24)}"})
    finally:
        client.close()
    print(f"  key from {args.key_file}: HTTP {good.http_status}"
          + (f", tier {good.identity.get('groups')}, user id {good.identity.get('userid')}" if good.allowed else
             f" ({good.reason})"))
    print(f"  a key nobody has:  HTTP {bad.http_status} ({bad.reason or 'refused'})")
    return 0 if good.allowed and bad.http_status == 401 else 1


if __name__ == "__main__":
    sys.exit(main())
