"""The control plane is real: CRD validation (OpenAPI + CEL), RBAC, SA tokens, admission."""

import json
import ssl
import urllib.error
import urllib.request

RLP = """
apiVersion: kuadrant.io/v1
kind: RateLimitPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}
  limits:
    free:
      rates: [{{limit: 100, window: {window}}}]
"""


def test_ratelimitpolicy_window_pattern_enforced(control_plane, namespace):
    bad = control_plane.apply(RLP.format(name="daily-1d", ns=namespace, window="1d"), check=False)
    assert bad.returncode != 0
    assert "window" in bad.stderr and "should match" in bad.stderr
    control_plane.apply(RLP.format(name="daily-24h", ns=namespace, window="24h"))
    got = control_plane.kubectl_json("get", "ratelimitpolicy", "daily-24h", "-n", namespace)
    assert got["spec"]["limits"]["free"]["rates"][0]["window"] == "24h"


ROUTE = """
apiVersion: aigateway.envoyproxy.io/v1alpha1
kind: AIGatewayRoute
metadata: {{name: {name}, namespace: {ns}}}
spec:
  parentRefs: [{{name: gw, kind: Gateway, group: gateway.networking.k8s.io}}]
  rules:
  - matches: [{{headers: [{{type: Exact, name: x-ai-eg-model, value: m}}]}}]
    backendRefs:
{backends}
"""
POOL_REF = "    - {{group: inference.networking.k8s.io, kind: InferencePool, name: {0}}}"


def test_aigatewayroute_rejects_two_inferencepools_in_one_rule(control_plane, namespace):
    two = "\n".join(POOL_REF.format(n) for n in ("pool-a", "pool-b"))
    bad = control_plane.apply(ROUTE.format(name="two-pools", ns=namespace, backends=two), check=False)
    assert bad.returncode != 0
    assert "InferencePool" in bad.stderr, bad.stderr
    one = POOL_REF.format("pool-a")
    control_plane.apply(ROUTE.format(name="one-pool", ns=namespace, backends=one))


def test_serviceaccount_token_without_role_gets_403_on_secrets(control_plane, namespace):
    control_plane.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = control_plane.kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()
    assert token.count(".") == 2  # a real signed JWT
    ctx = ssl.create_default_context(cafile=str(control_plane.state_dir / "pki" / "ca.crt"))
    req = urllib.request.Request(
        f"https://127.0.0.1:{control_plane.port}/api/v1/namespaces/{namespace}/secrets",
        headers={"Authorization": f"Bearer {token}"})
    try:
        urllib.request.urlopen(req, context=ctx, timeout=10)
        raise AssertionError("expected 403")
    except urllib.error.HTTPError as err:
        assert err.code == 403
        body = json.loads(err.read())
        assert f"system:serviceaccount:{namespace}:nobody" in body["message"]
    # and the same token is authenticated (whoami works), so the 403 is RBAC, not auth
    who = control_plane.kubectl("auth", "whoami", "-o", "json", f"--token={token}",
                                "--kubeconfig=/dev/null", f"--server=https://127.0.0.1:{control_plane.port}",
                                f"--certificate-authority={control_plane.state_dir / 'pki' / 'ca.crt'}")
    assert "nobody" in who.stdout


def test_validating_admission_policy_is_enforced(control_plane, namespace):
    control_plane.apply(f"""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: deny-cm-{namespace}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}}]
  validations: [{{expression: "object.metadata.name != 'forbidden'", message: "denied by test"}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: deny-cm-{namespace}}}
spec:
  policyName: deny-cm-{namespace}
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {namespace}}}}}
""")
    import time
    deadline = time.time() + 20
    while True:
        res = control_plane.kubectl("create", "configmap", "forbidden", "-n", namespace, check=False)
        if res.returncode != 0 or time.time() > deadline:
            break
        control_plane.kubectl("delete", "configmap", "forbidden", "-n", namespace)
        time.sleep(0.5)
    assert res.returncode != 0 and "ValidatingAdmissionPolicy" in res.stderr, res.stderr


def test_audit_log_records_writes(control_plane, namespace):
    mark = control_plane.audit_mark()
    control_plane.kubectl("create", "configmap", "audited", "-n", namespace)
    control_plane.kubectl("get", "configmap", "audited", "-n", namespace)
    import time
    deadline = time.time() + 5
    while time.time() < deadline:
        # (the root CA publisher's kube-root-ca.crt of the new namespace may land after the mark too)
        writes = control_plane.writes_since(mark, resource="configmaps", namespace=namespace, user="tokenlabs-admin")
        if writes:
            break
        time.sleep(0.1)
    assert [w["verb"] for w in writes] == ["create"]
