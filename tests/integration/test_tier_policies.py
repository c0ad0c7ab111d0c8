"""tier_policies / the tiers role against a real API server with the real Kuadrant and Gateway API CRDs.

Every run goes through ansible-playbook and the `tokenlabs.inference.tiers` role.
"Writes nothing" is proven with the API server's audit log.
"""

import copy
import json
import uuid
from pathlib import Path

import pytest
from support.cluster import cluster_component  # noqa: E402
from support.tiers import DEFAULT_TIERS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
POLICY_RESOURCES = {"authpolicies", "ratelimitpolicies", "tokenratelimitpolicies"}
KINDS = {"AuthPolicy": "authpolicy", "RateLimitPolicy": "ratelimitpolicy",
         "TokenRateLimitPolicy": "tokenratelimitpolicy"}
NAMES = {"AuthPolicy": "token-labs-auth", "RateLimitPolicy": "token-labs-request-limits",
         "TokenRateLimitPolicy": "token-labs-token-limits"}
PLAYBOOK = """
- name: Tier policies
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: tokenlabs.inference.tiers
"""


class Site:
    """A gateway namespace + a Kuadrant namespace, and a way to run the tiers role against them."""

    def __init__(self, cp, tmp_path, namespace):
        self.cp = cp
        self.tmp = tmp_path
        self.ns = namespace
        self.kns = "k-" + uuid.uuid4().hex[:10]
        cp.kubectl("create", "namespace", self.kns)
        (tmp_path / "tiers.yml").write_text(PLAYBOOK)

    def gateway(self, name="token-labs-gateway"):
        self.cp.apply(f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {self.ns}}}
spec:
  gatewayClassName: eg
  listeners: [{{name: http, port: 80, protocol: HTTP}}]
""")

    def tenant(self, name, tier):
        self.cp.apply(f"""
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {self.kns}
  labels: {{app: token-labs, authorino.kuadrant.io/managed-by: authorino}}
  annotations: {{kuadrant.io/groups: "{tier}", secret.kuadrant.io/user-id: {name}}}
stringData: {{api_key: not-a-real-key-{uuid.uuid4().hex}}}
""")

    def run(self, tiers=None, *extra, **variables):
        tiers = DEFAULT_TIERS if tiers is None else tiers
        # No Kuadrant CR watches these namespaces: the policies are judged here as API objects, and nothing
        # writes their Accepted condition (site.yml's wait is proven by test_platform_site / test_release_upgrade).
        values = {"tokenlabs_gateway_namespace": self.ns, "tokenlabs_kuadrant_namespace": self.kns,
                  "tokenlabs_tiers": tiers, "tokenlabs_wait_for_controllers": False}
        values.update(variables)
        vars_file = self.tmp / ("vars-%s.json" % uuid.uuid4().hex[:6])
        vars_file.write_text(json.dumps(values))
        proc = self.cp.ansible_playbook("-i", str(REPO / "inventory" / "local"), str(self.tmp / "tiers.yml"),
                                        "-e", "@%s" % vars_file, *extra,
                                        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        doc = json.loads(proc.stdout)
        for task in doc["plays"][0]["tasks"]:
            if "Apply the tier policies" in task["task"]["name"]:
                return task["hosts"]["localhost"]
        raise AssertionError("tier task did not run:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))

    def get(self, kind):
        return self.cp.kubectl_json("get", KINDS[kind], NAMES[kind], "-n", self.ns, "--show-managed-fields")

    def exists(self, kind):
        return self.cp.kubectl("get", KINDS[kind], NAMES[kind], "-n", self.ns, check=False).returncode == 0

    def policy_writes(self, mark):
        """The collection's policy writes in this namespace since ``mark`` (not kuadrant-operator's status writes: it
        runs in this world); waits until the audit log has caught up."""
        return [w for w in self.cp.settled_writes(mark, self.ns, POLICY_RESOURCES)
                if not cluster_component((w.get("user") or {}).get("username", ""))]


@pytest.fixture
def site(control_plane, tmp_path, namespace):
    return Site(control_plane, tmp_path, namespace)


def allowed_tiers_predicate(auth_policy):
    return auth_policy["spec"]["rules"]["authorization"]["allowed-tiers"]["patternMatching"]["patterns"][0][
        "predicate"]


def rates(policy, limit):
    return [(r["limit"], r["window"]) for r in policy["spec"]["limits"][limit]["rates"]]


def test_default_table_is_accepted_and_a_rerun_writes_nothing(site):
    site.gateway()
    first = site.run()
    assert first["changed"] is True, first
    assert [p["action"] for p in first["policies"]] == ["created"] * 3
    assert first["tiers"] == ["enterprise", "free", "pro"]

    rlp, trlp, auth = site.get("RateLimitPolicy"), site.get("TokenRateLimitPolicy"), site.get("AuthPolicy")
    assert rlp["apiVersion"] == "kuadrant.io/v1" and trlp["apiVersion"] == "kuadrant.io/v1alpha1"
    for tier, table in DEFAULT_TIERS.items():
        assert rates(rlp, tier + "-requests") == [(table["requests_per_minute"], "1m"),
                                                  (table["requests_per_day"], "24h")]
        assert rates(trlp, tier + "-tokens") == [(table["tokens_per_minute"], "1m"),
                                                 (table["tokens_per_day"], "24h")]
    assert set(rlp["spec"]["limits"]) == {"free-requests", "pro-requests", "enterprise-requests"}
    allowed = auth["spec"]["rules"]["authorization"]["allowed-tiers"]["patternMatching"]["patterns"][0]
    assert '["enterprise", "free", "pro"]' in allowed["predicate"]
    for policy in (rlp, trlp, auth):
        fields = [m for m in policy["metadata"]["managedFields"] if m["manager"] == "tokenlabs-inference"]
        assert fields and fields[0]["operation"] == "Apply"

    mark = site.cp.audit_mark()
    second = site.run()
    assert second["changed"] is False
    assert [p["action"] for p in second["policies"]] == ["unchanged"] * 3
    assert site.policy_writes(mark) == []


def test_check_mode_and_diff_change_nothing(site):
    site.gateway()
    site.run()
    before = site.get("RateLimitPolicy")
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["requests_per_day"] = 150
    mark = site.cp.audit_mark()
    checked = site.run(tiers, "--check", "--diff")
    assert checked["changed"] is True
    assert [p["action"] for p in checked["policies"]] == ["updated", "unchanged", "unchanged"]
    diff = checked["diff"]
    assert list(diff["before"]) == ["RateLimitPolicy/token-labs-request-limits"]
    key = "RateLimitPolicy/token-labs-request-limits"
    assert diff["before"][key]["limits"]["free-requests"]["rates"][1]["limit"] == 100
    assert diff["after"][key]["limits"]["free-requests"]["rates"][1]["limit"] == 150
    assert site.policy_writes(mark) == []
    assert site.get("RateLimitPolicy")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_check_mode_on_a_fresh_namespace_stores_nothing(site):
    """The dry run is a real server-side request (CRD validation runs) but nothing is stored."""
    site.gateway()
    mark = site.cp.audit_mark()
    res = site.run(DEFAULT_TIERS, "--check")
    assert res["changed"] is True and [p["action"] for p in res["policies"]] == ["created"] * 3
    assert site.policy_writes(mark) == []
    assert not any(site.exists(kind) for kind in NAMES)


def test_changing_one_number_changes_exactly_that_limit(site):
    site.gateway()
    site.run()
    before = {kind: site.get(kind) for kind in NAMES}
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["pro"]["tokens_per_minute"] = 60000
    mark = site.cp.audit_mark()
    result = site.run(tiers)
    assert [p["action"] for p in result["policies"]] == ["unchanged", "updated", "unchanged"]
    writes = site.policy_writes(mark)
    assert [(w["verb"], w["objectRef"]["resource"]) for w in writes] == [("patch", "tokenratelimitpolicies")]
    after = {kind: site.get(kind) for kind in NAMES}
    for kind in ("AuthPolicy", "RateLimitPolicy"):
        assert after[kind]["metadata"]["resourceVersion"] == before[kind]["metadata"]["resourceVersion"]
    b, a = before["TokenRateLimitPolicy"]["spec"]["limits"], after["TokenRateLimitPolicy"]["spec"]["limits"]
    assert [name for name in b if b[name] != a[name]] == ["pro-tokens"]
    assert rates(after["TokenRateLimitPolicy"], "pro-tokens") == [(60000, "1m"), (500000, "24h")]


def test_adding_and_removing_a_tier(site):
    site.gateway()
    site.run()
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["team"] = {"requests_per_minute": 50, "request_rates": [{"limit": 900, "window": "12h"}],
                     "tokens_per_minute": 20000, "token_rates": [{"limit": 100000, "window": "1d"}]}
    added = site.run(tiers)
    assert [p["action"] for p in added["policies"]] == ["updated"] * 3
    assert rates(site.get("RateLimitPolicy"), "team-requests") == [(50, "1m"), (900, "12h")]
    assert rates(site.get("TokenRateLimitPolicy"), "team-tokens") == [(20000, "1m"), (100000, "24h")]
    auth = site.get("AuthPolicy")
    assert auth["metadata"]["annotations"]["tokenlabs.io/tiers"] == "enterprise,free,pro,team"
    assert '"team"' in allowed_tiers_predicate(auth)

    removed = site.run(DEFAULT_TIERS)
    assert removed["changed"] is True
    assert "team-requests" not in site.get("RateLimitPolicy")["spec"]["limits"]
    assert "team-tokens" not in site.get("TokenRateLimitPolicy")["spec"]["limits"]
    assert '"team"' not in allowed_tiers_predicate(site.get("AuthPolicy"))
    assert site.run(DEFAULT_TIERS)["changed"] is False


def test_removing_a_tier_that_tenants_use_is_refused(site):
    site.gateway()
    site.run()
    site.tenant("tenant-acme", "pro")
    site.tenant("tenant-globex", "pro")
    site.tenant("tenant-free-demo", "free")
    tiers = copy.deepcopy(DEFAULT_TIERS)
    del tiers["pro"]
    mark = site.cp.audit_mark()
    res = site.run(tiers)
    assert res.get("failed") is True
    assert "tier 'pro' is used by tenant-acme, tenant-globex" in res["msg"]
    assert "free-demo" not in res["msg"] and site.kns in res["msg"]
    assert "not-a-real-key" not in json.dumps(res)
    assert site.policy_writes(mark) == []
    assert "pro-requests" in site.get("RateLimitPolicy")["spec"]["limits"]
    # removing an unused tier is fine
    tiers = copy.deepcopy(DEFAULT_TIERS)
    del tiers["enterprise"]
    assert site.run(tiers)["changed"] is True


def test_bad_table_is_refused_before_anything_is_written(site):
    site.gateway()
    tiers = copy.deepcopy(DEFAULT_TIERS)
    tiers["free"]["requests_per_minute"] = 1000
    tiers["Pro_Plus"] = tiers.pop("pro")
    tiers["enterprise"]["tokens_per_day"] = 0
    mark = site.cp.audit_mark()
    res = site.run(tiers)
    assert res.get("failed") is True
    msg = res["msg"]
    assert "tokenlabs_tiers.free.requests_per_minute = 1000 is above tokenlabs_tiers.free.requests_per_day = 100" in msg
    assert "tier name 'Pro_Plus' is not DNS-safe" in msg
    assert "tokenlabs_tiers.enterprise.tokens_per_day = 0 is not a positive integer" in msg
    assert len(res["errors"]) == 3
    assert site.policy_writes(mark) == []
    assert not site.exists("AuthPolicy")

    empty = site.run({})
    assert empty.get("failed") and "tokenlabs_tiers is empty" in empty["msg"]


def test_missing_target_is_refused(site):
    res = site.run()
    assert res.get("failed") is True
    assert res["msg"].startswith("target Gateway %s/token-labs-gateway does not exist" % site.ns)
    assert not site.exists("RateLimitPolicy")
    route = site.run(DEFAULT_TIERS, tiers_target_kind="HTTPRoute", tiers_target_name="llm")
    assert "target HTTPRoute %s/llm does not exist" % site.ns in route["msg"]


def test_http_route_target_and_state_absent(site):
    site.cp.apply(f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: llm, namespace: {site.ns}}}
spec:
  parentRefs: [{{name: token-labs-gateway}}]
  rules: [{{backendRefs: [{{name: svc, port: 8000}}]}}]
""")
    res = site.run(DEFAULT_TIERS, tiers_target_kind="HTTPRoute", tiers_target_name="llm")
    assert res["changed"] is True
    assert site.get("TokenRateLimitPolicy")["spec"]["targetRef"] == {
        "group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "llm"}
    gone = site.run(DEFAULT_TIERS, tiers_state="absent")
    assert [p["action"] for p in gone["policies"]] == ["deleted"] * 3
    assert not any(site.exists(kind) for kind in NAMES)
    assert site.run(DEFAULT_TIERS, tiers_state="absent")["changed"] is False


def test_hand_applied_reference_policies_are_taken_over(site):
    """The original repository's policies (kubectl-applied, other limit names) become exactly ours."""
    site.gateway()
    site.cp.kubectl("apply", "-f", "-", input=f"""
apiVersion: kuadrant.io/v1
kind: RateLimitPolicy
metadata: {{name: token-labs-request-limits, namespace: {site.ns}}}
spec:
  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: token-labs-gateway}}
  limits:
    free-daily:
      rates: [{{limit: 100, window: 24h}}, {{limit: 10, window: 1m}}]
      when:
      - predicate: request.method == "POST"
      - predicate: auth.identity.groups.split(",").exists(g, g == "free")
      counters: [{{expression: auth.identity.userid}}]
""")
    res = site.run()
    assert res["policies"][0]["action"] == "updated"
    limits = site.get("RateLimitPolicy")["spec"]["limits"]
    assert set(limits) == {"free-requests", "pro-requests", "enterprise-requests"}
    mark = site.cp.audit_mark()
    assert site.run()["changed"] is False
    assert site.policy_writes(mark) == []
