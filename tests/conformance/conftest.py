"""Fixtures of the conformance tests: Kuadrant deployed by the collection, Authorino next to the session cluster,
one site per module.

What the world holds and where each part comes from: ``world.py``.
"""

from __future__ import annotations

import json

import pytest

from testworld import authorino as authorino_tool
from testworld import kuadrant_site
from testworld.authorino_client import AuthorinoClient
from testworld.base import State, TestWorldError
from world import Site


@pytest.fixture(scope="session")
def kuadrant(control_plane):
    """The collection's Kuadrant role (``site.yml --tags kuadrant``: chart, Kuadrant CR, waits): the real
    kuadrant-operator with limitador-operator and authorino-operator then runs (``testworld/kuadrant.py``), and the
    GatewayClass ``eg`` the sites' Gateways name exists (the gateway role's, without the rest of the platform)."""
    try:
        kuadrant_site.deploy(lambda manifest: control_plane.apply(json.dumps(manifest)),
                             control_plane.ansible_playbook)
    except TestWorldError as exc:
        pytest.fail(str(exc), pytrace=False)
    return kuadrant_site.KUADRANT_NAMESPACE


@pytest.fixture(scope="session")
def authorino(control_plane, kuadrant):
    """Authorino watching the session control plane; stopped (by pid) at the end."""
    state = State(control_plane.state_dir)
    try:
        info = authorino_tool.up(state, timeout=120)
    except TestWorldError as exc:
        pytest.fail(f"Authorino did not start: {exc}", pytrace=False)
    client = AuthorinoClient(info["grpc_port"])
    try:
        yield {"info": info, "client": client, "state": state}
    finally:
        client.close()
        authorino_tool.down(state)


@pytest.fixture(scope="module")
def site(control_plane, authorino, tmp_path_factory):
    return Site(control_plane, authorino, tmp_path_factory.mktemp("site"))
