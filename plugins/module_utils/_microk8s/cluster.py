# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Joining MicroK8s nodes: ``add-node --format json`` output, the join address and URL, join
tokens, and the dqlite members in ``cluster.yaml``.

Private to this collection (not an API for other collections; it may change
without notice). Unit-tested with canned MicroK8s output
(tests/unit/plugins/module_utils/_microk8s/test_cluster.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.runner import MicroK8sError, load_yaml

DEFAULT_SNAP_DATA = "/var/snap/microk8s/current"
CLUSTER_LOCK_PATH = "var/lock/clustered.lock"
DQLITE_CLUSTER_PATH = "var/kubernetes/backend/cluster.yaml"
TOKEN_MIN_LEN = 32


def parse_add_node(text):
    """Parse ``microk8s add-node --format json``.

    Returns ``{"check": str, "addresses": ["ip:port", ...]}``: the join URLs with
    the token removed (the token is a secret the caller already has; the check is
    the fingerprint of the cluster certificate and is not secret).
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise MicroK8sError("`microk8s add-node --format json` did not print JSON: %s"
                            % (text or "").strip()[:200])
    token_check = data.get("token") if isinstance(data, dict) else None
    urls = data.get("urls") if isinstance(data, dict) else None
    if not isinstance(token_check, str) or not isinstance(urls, list) or not urls:
        raise MicroK8sError("`microk8s add-node --format json` output lacks token/urls")
    check = token_check.split("/", 1)[1] if "/" in token_check else None
    addresses = []
    for url in urls:
        address = str(url).split("/", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return {"check": check, "addresses": addresses}


def address_host(address):
    """``10.0.0.1:25000`` -> ``10.0.0.1``; ``[fd00::1]:25000`` -> ``fd00::1``."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address


def select_join_address(addresses, network=None):
    """Pick the join address on ``network`` (CIDR), or the first one when unset."""
    if not addresses:
        raise MicroK8sError("add-node returned no join address")
    if not network:
        return addresses[0]
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise MicroK8sError("join_network: %r is not a network in CIDR notation (e.g. 10.10.10.0/24)" % network)
    for address in addresses:
        try:
            if ipaddress.ip_address(address_host(address)) in net:
                return address
        except ValueError:
            continue
    raise MicroK8sError("join_network: no join address of the control-plane node is in %s; it offers %s. "
                        "Set join_network to the network the nodes share." % (network, ", ".join(addresses)))


def join_url(address, token, check=None):
    return "%s/%s/%s" % (address, token, check) if check else "%s/%s" % (address, token)


def validate_token(token):
    if not token or len(token) < TOKEN_MIN_LEN:
        raise MicroK8sError("token: must be at least %d characters (MicroK8s rejects shorter join tokens)"
                            % TOKEN_MIN_LEN)
    if not re.match(r"^[A-Za-z0-9_-]+$", token):
        raise MicroK8sError("token: only letters, digits, '-' and '_' are allowed (it is part of a URL)")


def parse_dqlite_members(text):
    """Members listed in dqlite's ``cluster.yaml`` (a list of {Address, ID, Role})."""
    data = load_yaml(text, "dqlite cluster.yaml") if text and text.strip() else []
    if not isinstance(data, list):
        return []
    return [str(item.get("Address")) for item in data if isinstance(item, dict) and item.get("Address")]
