"""Fixtures of the conformance tests: Authorino next to the session control plane, one site per module.

What the world holds and where each part comes from: ``world.py``.
"""

from __future__ import annotations

import pytest

from testworld import authorino as authorino_tool
from testworld.authorino_client import AuthorinoClient
from testworld.base import State, TestWorldError
from world import Site


@pytest.fixture(scope="session")
def authorino(control_plane):
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
