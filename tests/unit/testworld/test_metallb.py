"""The MetalLB component of the test world: its address pool, the controller's command line, its readiness (pure
functions; the wrapper module pins the version MicroK8s 1.35's metallb addon deploys)."""

from __future__ import annotations

import json
import re
import time

import pytest

from testworld import gobuild, metallb
from testworld.base import TestWorldError


@pytest.mark.parametrize("text, expected", [
    ("127.240.0.0/24", ["127.240.0.0/24"]),
    ("127.240.0.10-127.240.0.20", ["127.240.0.10-127.240.0.20"]),
    (" 127.240.0.0/25 , 127.241.0.1-127.241.0.9 ", ["127.240.0.0/25", "127.241.0.1-127.241.0.9"]),
])
def test_loopback_ranges_are_accepted(text, expected):
    assert metallb.loopback_ranges(text) == expected


@pytest.mark.parametrize("text", [
    "192.168.1.240-192.168.1.250",  # inventory/example's range: a real network's
    "10.0.50.0/24", "172.16.0.0/24", "127.240.0.0/24,192.168.0.1/32", "126.255.255.255-127.0.0.5",
    "0.0.0.0/0", "::1/128",
])
def test_ranges_off_loopback_are_refused(text):
    with pytest.raises(TestWorldError, match="not on loopback"):
        metallb.loopback_ranges(text)


@pytest.mark.parametrize("text", ["", " , ", "127.240.0.1/24", "127.240.0.9-127.240.0.1", "localhost"])
def test_what_is_not_a_range_is_refused(text):
    with pytest.raises(TestWorldError):
        metallb.loopback_ranges(text)


def test_the_default_range_is_loopback_and_env_overrides_it(monkeypatch):
    monkeypatch.delenv(metallb.ADDRESSES_ENV, raising=False)
    assert metallb.addresses_from_env() == ["127.240.0.0/24"]
    monkeypatch.setenv(metallb.ADDRESSES_ENV, "127.250.0.0/28")
    assert metallb.addresses_from_env() == ["127.250.0.0/28"]
    monkeypatch.setenv(metallb.ADDRESSES_ENV, "192.168.1.0/24")
    with pytest.raises(TestWorldError):
        metallb.addresses_from_env()


def test_pool_objects_are_what_the_microk8s_addon_creates():
    namespace, pool, advertisement = metallb.pool_objects(["127.240.0.0/24"])
    assert namespace == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}
    assert pool == {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                    "metadata": {"name": "default-addresspool", "namespace": "metallb-system"},
                    "spec": {"addresses": ["127.240.0.0/24"]}}
    assert advertisement == {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
                             "metadata": {"name": "default-advertise-all-pools", "namespace": "metallb-system"}}


def test_the_controller_runs_without_webhook_or_memberlist(tmp_path):
    args = metallb.controller_args(tmp_path / "k", "metallb-system")
    assert f"--kubeconfig={tmp_path / 'k'}" in args
    assert "--namespace=metallb-system" in args and "--webhook-mode=disabled" in args
    assert "--port=7472" in args
    assert not any(a.startswith(("--ml-secret-name", "--deployment")) for a in args)


def test_pool_read_looks_for_the_allocator_gauge_of_the_pool():
    metrics = ('# HELP metallb_allocator_addresses_total Number of usable IP addresses, per pool\n'
               '# TYPE metallb_allocator_addresses_total gauge\n'
               'metallb_allocator_addresses_total{pool="default-addresspool"} 256\n')
    assert metallb.pool_read(metrics)
    assert not metallb.pool_read(metrics, "other")
    assert not metallb.pool_read("go_goroutines 12\n")


def test_up_waits_for_a_fresh_ready_status(ready_phases):
    assert ready_phases(metallb.supervisor_ready) == {"ready"}


def test_the_wrapper_module_pins_the_version_microk8s_1_35_deploys():
    assert gobuild.pinned_version("metallb") == "v0.15.2"
    assert gobuild.COMPONENTS["metallb"]["commands"] == {"metallb-controller": "go.universe.tf/metallb/controller"}
    tools = (gobuild.module_dir("metallb") / "tools.go").read_text()
    assert re.search(r'^import _ "go\.universe\.tf/metallb/controller"$', tools, re.M)
    assert "go.universe.tf/metallb v0.15.2 h1:" in (gobuild.module_dir("metallb") / "go.sum").read_text()


def test_up_on_a_ready_supervisor_writes_nothing(tmp_path, monkeypatch):
    from testworld.base import State  # pylint: disable=import-outside-toplevel
    state = State(tmp_path)
    state.save_component("metallb", {"pid": 4242, "binary": "python", "metrics_port": 1})
    (tmp_path / "metallb.status.json").write_text(json.dumps({"phase": "ready", "updated_at": time.time()}))
    monkeypatch.setattr(metallb, "alive", lambda pid, name: (pid, name) == (4242, "python"))

    def refuse(*_args, **_kwargs):
        raise AssertionError("nothing may be built, applied or started")
    for name in ("build", "apply_pool", "start_supervisor", "stop_process"):
        monkeypatch.setattr(metallb, name, refuse)
    monkeypatch.setattr(metallb.controlplane, "install_crds", refuse)
    assert metallb.up(state)["pid"] == 4242
