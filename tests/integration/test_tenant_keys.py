"""Keys are never lost and never handed out dead: a killed bulk run, two rotations at once, a relabelled Secret."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time

from kubernetes import config as kube_config

from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import plan as planning
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import spec as tenant_spec
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import KubeApi
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants.reconcile import Reconciler
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import contract
from support.tenant_runner import REPO, TIERS, Runner, key_of

SELECTOR = {"app": "token-labs"}


def live_keys(cp, namespace):
    items = cp.kubectl_json("get", "secrets", "-n", namespace, "-l", "app=token-labs")["items"]
    return {s["metadata"]["name"][len("tenant-"):]: base64.b64decode(s["data"]["api_key"]).decode()
            for s in items if ".retired-" not in s["metadata"]["name"]}


def module_pids(marker):
    """Processes whose command line holds ``marker`` (Ansible runs each task's module in its own session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    if marker.encode() in handle.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def survivors(marker, timeout=15.0):
    """``module_pids(marker)`` once SIGKILLed processes had ``timeout`` seconds to finish dying (zombies excluded)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in module_pids(marker):
            try:
                with open("/proc/%d/stat" % pid) as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state not in ("Z", "X"):
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def bulk_play(tmp_path, namespace, key_dir, count):
    items = [{"name": "t%03d" % i, "tier": "free"} for i in range(count)]
    (tmp_path / "vars.json").write_text(json.dumps({"bulk": items}))
    play = tmp_path / "bulk.yml"
    play.write_text(json.dumps([{"name": "Bulk", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                 "tasks": [{"name": "Create the tenants", "tokenlabs.inference.tenants": {
                                     "tenants": "{{ bulk }}", "tiers": sorted(TIERS), "namespace": namespace,
                                     "auth_policy_namespace": namespace, "key_dir": str(key_dir),
                                     "concurrency": 1}}]}]))
    return [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(play), "-e", "@" + str(tmp_path / "vars.json")]


def test_a_bulk_create_killed_halfway_loses_no_key(control_plane, namespace, tmp_path):
    key_dir = tmp_path / "keys"
    count = 1200  # enough that the kill lands halfway (one write at a time)
    argv = bulk_play(tmp_path, namespace, key_dir, count)
    proc = subprocess.Popen(argv, env=control_plane.env, cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    try:
        while len(live_keys(control_plane, namespace)) < 5:
            assert proc.poll() is None, "the bulk run ended before it could be killed"
            assert time.monotonic() < deadline, "the bulk run created no tenants"
            time.sleep(0.2)
    finally:
        # The module itself dies (Ansible's worker runs it in a session of its own), then the playbook and its
        # worker (a fork with the playbook's command line, also in a session of its own).
        for pid in module_pids("AnsiballZ_tenants") + module_pids(str(tmp_path)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    # SIGKILL is delivered at once, but a process with many threads takes a moment to be gone from /proc.
    assert not survivors("AnsiballZ_tenants"), "the module survived the kill"
    assert not survivors(str(tmp_path)), "the playbook or its worker survived the kill"
    time.sleep(1)  # a create in flight may still land
    halfway = live_keys(control_plane, namespace)
    created = len(halfway)  # (never assert on the dict: pytest would print the keys)
    assert 0 < created < count, created
    # The narrowest window made explicit for one tenant: Secret written, key file staged but not renamed.
    victim = sorted(halfway)[0]
    final = key_dir / (victim + ".key")
    if final.exists():
        final.rename(key_dir / (".%s.key.killed.new" % victim))

    rerun = subprocess.run(argv, env=control_plane.env, cwd=str(REPO), capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "completed from an interrupted earlier run" in rerun.stdout + rerun.stderr
    live = live_keys(control_plane, namespace)
    assert len(live) == count
    mismatched = sorted(name for name, key in live.items()
                        if not (key_dir / (name + ".key")).exists()
                        or (key_dir / (name + ".key")).read_text().strip() != key)
    assert mismatched == []
    assert not [p.name for p in key_dir.iterdir() if p.name.endswith(".new")]
    assert not [k for k in live.values() if k in rerun.stdout + rerun.stderr]


def _kube(cp):
    return KubeApi(kube_config.new_client_from_config(config_file=str(cp.kubeconfig)))


def test_two_rotations_at_once_one_wins_and_the_other_hands_out_no_key(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    assert run.tenant(name="acme", tier="pro", api_key_file=str(tmp_path / "onboard.key"))["outcome"] == "created"
    spec_item = {"name": "acme", "rotate": True, "create": False}
    reconcilers, plans, specs = [], [], []
    for _index in range(2):  # both read the tenant at the same resourceVersion
        spec, errors = tenant_spec.validate_item(dict(spec_item), sorted(TIERS))
        assert not errors
        spec.owner = contract.RUNBOOK
        reconciler = Reconciler(_kube(control_plane), namespace, SELECTOR)
        plan, errors = planning.build_plan([spec], reconciler.load(), namespace, SELECTOR, reconciler.now)
        assert not errors and plan.tenants[0].key_generated
        reconcilers.append(reconciler)
        plans.append(plan)
        specs.append(spec)
    barrier = threading.Barrier(2)
    results = [None, None]

    def rotate(index):
        barrier.wait()
        results[index] = reconcilers[index].apply(plans[index], [specs[index]],
                                                  key_path_for=lambda tp: str(tmp_path / ("rotation-%d.key" % index)))
    threads = [threading.Thread(target=rotate, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [i for i in range(2) if results[i]["updated"] == ["acme"]]
    losers = [i for i in range(2) if results[i]["failures"]]
    assert len(winners) == 1 and len(losers) == 1, results
    error = results[losers[0]]["failures"][0]["error"]
    assert "was changed by someone else while this run replaced its key" in error
    assert "no key file was written" in error
    secret = run.secret("acme")
    winner_is_live = (tmp_path / ("rotation-%d.key" % winners[0])).read_text().strip() == key_of(secret)
    assert winner_is_live, "the winner's key file does not hold the live key"  # (never print keys)
    assert not (tmp_path / ("rotation-%d.key" % losers[0])).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".new")]
    assert secret["metadata"]["labels"] == {"app": "token-labs", "authorino.kuadrant.io/managed-by": "authorino"}
    assert secret["metadata"]["annotations"]["tokenlabs.io/key-generation"] == "2"


def test_a_tenant_secret_whose_label_was_removed_is_put_back_under_management(control_plane, namespace, tmp_path):
    run = Runner(control_plane, namespace, tmp_path)
    run.tenant(name="acme", tier="pro", api_key_file=str(tmp_path / "acme.key"))
    key = (tmp_path / "acme.key").read_text().strip()
    control_plane.kubectl("label", "secret", "tenant-acme", "-n", namespace, "app-")
    res = run.tenant(name="acme", tier="enterprise", must_exist=False, api_key_file=str(tmp_path / "again.key"))
    assert not res.get("failed"), res
    assert res["outcome"] == "updated" and "labels app set" in res["changes"]
    secret = run.secret("acme")
    kept = key_of(secret) == key
    assert secret["metadata"]["labels"]["app"] == "token-labs" and kept
    assert secret["metadata"]["annotations"]["kuadrant.io/groups"] == "enterprise"
    assert not (tmp_path / "again.key").exists()  # no new key: the live one stays
    # the same through the inventory, which keeps its own ownership rule
    control_plane.kubectl("label", "secret", "tenant-acme", "-n", namespace, "app-")
    refused = run.tenants([{"name": "acme", "tier": "pro"}], return_keys=True)
    assert refused["failed"] is True and "is managed by the runbook" in refused["msg"]
    # a Secret of that name that is no tenant Secret is named, not a bare 409
    control_plane.kubectl("create", "secret", "generic", "tenant-other", "-n", namespace, "--from-literal=x=y")
    foreign = run.tenant(name="other", tier="pro", return_key=True)
    assert foreign["failed"] is True
    assert "Secret tenant-other already exists in namespace %s but is not a tenant Secret" % namespace in foreign["msg"]
