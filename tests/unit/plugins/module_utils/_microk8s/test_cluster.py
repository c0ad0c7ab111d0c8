"""Join tokens, addresses and dqlite members of plugins/module_utils/_microk8s/cluster.py, with canned MicroK8s output."""

from __future__ import annotations

import pytest

from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s import cluster as m


def test_parse_add_node_strips_token_from_addresses():
    token = "a" * 32
    info = m.parse_add_node('{"token": "%s/ch3ck", "urls": ["10.0.0.1:25000/%s/ch3ck", '
                            '"[fd00::1]:25000/%s/ch3ck"]}' % (token, token, token))
    assert info == {"check": "ch3ck", "addresses": ["10.0.0.1:25000", "[fd00::1]:25000"]}
    assert token not in repr(info)


def test_select_join_address_ipv6_and_errors():
    addresses = ["192.168.1.75:25000", "[fd00::1]:25000"]
    assert m.select_join_address(addresses, "fd00::/64") == "[fd00::1]:25000"
    assert m.select_join_address(addresses, None) == "192.168.1.75:25000"
    with pytest.raises(m.MicroK8sError, match="not a network in CIDR"):
        m.select_join_address(addresses, "eth1")


def test_validate_token():
    m.validate_token("A1b2" * 8)
    for bad in ("short", "a" * 31, "a" * 31 + "/"):
        with pytest.raises(m.MicroK8sError):
            m.validate_token(bad)
