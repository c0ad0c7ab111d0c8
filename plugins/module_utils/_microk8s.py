# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Helpers for the MicroK8s modules of this collection: parsing, planning, running the CLI.

Private to this collection (not an API for other collections; it may change
without notice).

Three parts, all unit-tested with canned MicroK8s output:

* parsing of what the ``microk8s`` CLI prints (``status --format yaml``,
  ``add-node --format json``, dqlite ``cluster.yaml``, known error lines);
* planning (which addons to enable/disable, which arguments drifted, which
  join address to use);
* ``CommandRunner``: a small declarative command builder/runner over
  ``AnsibleModule.run_command`` in the style of community.general's CmdRunner
  (our own code: community.general's module_utils are private to it).  It
  redacts secrets (join tokens) from every message it produces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

BINARY_DIRS = ["/snap/bin"]
DEFAULT_SNAP_DATA = "/var/snap/microk8s/current"
DEFAULT_ARGS_RECORD = "/var/snap/microk8s/common/tokenlabs-addon-args.json"
CLUSTER_LOCK_PATH = "var/lock/clustered.lock"
DQLITE_CLUSTER_PATH = "var/kubernetes/backend/cluster.yaml"

TOKEN_MIN_LEN = 32
REDACTED = "<redacted>"

MSG_CLUSTER_LOCKED = "This MicroK8s deployment is acting as a node in a cluster."
MSG_NOT_RUNNING = "microk8s is not running"
MSG_ALREADY_KNOWN = "already known to dqlite"
_ADDON_NOT_FOUND = re.compile(r"Addon (\S+) was not found in any repository")

ADDON_STATES = ("enabled", "disabled")


class MicroK8sError(Exception):
    """A MicroK8s command or its output was not what we need.  ``str()`` is operator-readable."""

    def __init__(self, msg, cmd=None, rc=None, stdout="", stderr=""):
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        super(MicroK8sError, self).__init__(msg)


# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------
def redact(value, secrets):
    """Replace every secret in ``value`` (str, list or dict, recursively)."""
    secrets = [s for s in (secrets or ()) if s]
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, (list, tuple)):
        return [redact(item, secrets) for item in value]
    if isinstance(value, dict):
        return dict((key, redact(item, secrets)) for key, item in value.items())
    return value


# ---------------------------------------------------------------------------
# Declarative commands (CmdRunner-like)
# ---------------------------------------------------------------------------
class ArgFormat(object):
    """Factories turning an option value into argv items."""

    @staticmethod
    def as_fixed(*items):
        return lambda value: list(items)

    @staticmethod
    def as_bool(flag):
        return lambda value: [flag] if value else []

    @staticmethod
    def as_opt_val(option):
        return lambda value: [] if value is None else [option, str(value)]

    @staticmethod
    def as_opt_eq_val(option):
        return lambda value: [] if value is None else ["%s=%s" % (option, value)]

    @staticmethod
    def as_list():
        return lambda value: [str(item) for item in (value or [])]

    @staticmethod
    def as_str():
        return lambda value: [] if value is None else [str(value)]


class CommandResult(object):
    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.out = out or ""
        self.err = err or ""

    @property
    def output(self):
        return (self.out + "\n" + self.err).strip()


def describe_failure(argv, rc, out, err, secrets=(), what=None):
    """One operator-readable line for a failed command, quoting its stderr (or stdout)."""
    detail = (err or "").strip() or (out or "").strip() or "no output"
    msg = "%s failed (rc=%s): %s" % (what or "`%s`" % " ".join(argv), rc, detail)
    return redact(msg, secrets)


class CommandRunner(object):
    """Build argv from named options and run it through ``module.run_command``.

    ``arg_formats`` maps option names to ArgFormat callables; ``run(order, **values)``
    builds ``[binary] + formats in order`` and returns a :class:`CommandResult`.
    Values listed in ``secrets`` are redacted from every error, and from the
    ``commands`` log kept in ``self.history`` (safe to return to Ansible).
    """

    def __init__(self, module, binary, arg_formats, secrets=(), environ=None):
        self.module = module
        self.binary = binary
        self.arg_formats = arg_formats
        self.secrets = [s for s in secrets if s]
        self.environ = environ or {"LANGUAGE": "C", "LC_ALL": "C"}
        self.history = []

    def build(self, order, **values):
        argv = [self.binary]
        for name in order.split():
            fmt = self.arg_formats[name]
            argv.extend(fmt(values.get(name)))
        return argv

    def run(self, order, **values):
        """Run the command; the caller decides what a non-zero rc means (see :func:`classify_output`)."""
        argv = self.build(order, **values)
        rc, out, err = self.module.run_command(argv, environ_update=self.environ)
        self.history.append(redact(" ".join(argv[1:]), self.secrets))
        return CommandResult(argv, rc, out, err)


def microk8s_runner(module, binary, secrets=()):
    """The CommandRunner for the ``microk8s`` CLI (every subcommand this collection uses)."""
    fmt = ArgFormat
    formats = {
        "status": fmt.as_fixed("status"),
        "format_yaml": fmt.as_fixed("--format", "yaml"),
        "format_json": fmt.as_fixed("--format", "json"),
        "wait_ready": lambda timeout: ["--wait-ready", "--timeout", str(timeout)] if timeout else [],
        "enable": fmt.as_fixed("enable"),
        "disable": fmt.as_fixed("disable"),
        "addon": fmt.as_str(),
        "addon_args": fmt.as_list(),
        "add_node": fmt.as_fixed("add-node"),
        "token": fmt.as_opt_val("--token"),
        "token_ttl": fmt.as_opt_val("--token-ttl"),
        "join": fmt.as_fixed("join"),
        "url": fmt.as_str(),
        "worker": fmt.as_bool("--worker"),
    }
    return CommandRunner(module, binary, formats, secrets=secrets)


# Orders (which options, in which order) of the commands we run.
CMD_STATUS = "status format_yaml wait_ready"
CMD_ENABLE = "enable addon addon_args"
CMD_DISABLE = "disable addon"
CMD_ADD_NODE = "add_node token token_ttl format_json"
CMD_JOIN = "join url worker"


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------
def classify_output(text):
    """Known MicroK8s failure lines -> a short kind, else None."""
    text = text or ""
    if MSG_CLUSTER_LOCKED in text:
        return "cluster_locked"
    if MSG_ALREADY_KNOWN in text:
        return "already_known"
    if _ADDON_NOT_FOUND.search(text):
        return "addon_not_found"
    if MSG_NOT_RUNNING in text:
        return "not_running"
    return None


def _load_yaml(text, what):
    if not HAS_YAML:
        raise MicroK8sError("PyYAML is required to read %s (install python3-yaml)" % what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MicroK8sError("cannot parse %s as YAML: %s" % (what, exc))


def split_addon_name(name):
    """``core/dns`` -> ("core", "dns"); ``dns`` -> (None, "dns")."""
    if "/" in name:
        repository, short = name.split("/", 1)
        return repository, short
    return None, name


def parse_status(text):
    """Parse ``microk8s status --format yaml``.

    Returns ``{"running": bool, "message": str|None, "addons": {name: {...}}}``
    where each addon has ``status`` (enabled/disabled), ``repository``, ``version``.
    Booleans are printed Python-style (``True``), which YAML reads as booleans.
    """
    data = _load_yaml(text, "`microk8s status --format yaml` output")
    if not isinstance(data, dict) or not isinstance(data.get("microk8s"), dict):
        raise MicroK8sError("unexpected `microk8s status --format yaml` output: %s" % (text or "").strip()[:300])
    head = data["microk8s"]
    running = head.get("running")
    if isinstance(running, str):
        running = running.strip().lower() == "true"
    addons = {}
    for item in data.get("addons") or []:
        if not isinstance(item, dict) or "name" not in item:
            continue
        addons[str(item["name"])] = {
            "status": str(item.get("status", "")).lower(),
            "repository": item.get("repository"),
            "version": None if item.get("version") is None else str(item.get("version")),
        }
    ha = data.get("high-availability") or {}
    return {
        "running": bool(running),
        "message": head.get("message") or data.get("message"),
        "addons": addons,
        "high_availability": bool(ha.get("enabled")) if isinstance(ha, dict) else False,
    }


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
    data = _load_yaml(text, "dqlite cluster.yaml") if text and text.strip() else []
    if not isinstance(data, list):
        return []
    return [str(item.get("Address")) for item in data if isinstance(item, dict) and item.get("Address")]


# ---------------------------------------------------------------------------
# Addon planning
# ---------------------------------------------------------------------------
def normalise_addons(addons):
    """Validate the ``addons`` option; returns a list of {name, state, args}."""
    result = []
    seen = set()
    for index, item in enumerate(addons or []):
        field = "addons[%d]" % index
        if not isinstance(item, dict):
            raise MicroK8sError("%s: must be a dict with name, state, args; got %r" % (field, item))
        name = item.get("name")
        if not isinstance(name, str) or not re.match(r"^([a-z0-9-]+/)?[a-z0-9][a-z0-9-]*$", name):
            raise MicroK8sError("%s.name: %r is not an addon name (lowercase letters, digits, '-', "
                                "optionally prefixed by a repository, e.g. core/dns)" % (field, name))
        state = item.get("state") or "enabled"
        if state not in ADDON_STATES:
            raise MicroK8sError("%s.state: %r is not allowed (allowed: enabled, disabled)" % (field, state))
        args = item.get("args")
        if args is None:
            args = []
        elif isinstance(args, str):
            args = [args]
        if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args):
            raise MicroK8sError("%s.args: %r must be a list of strings" % (field, args))
        args = [str(a) for a in args]
        if state == "disabled" and args:
            raise MicroK8sError("%s.args: arguments are only allowed when state is enabled" % field)
        short = split_addon_name(name)[1]
        if short in seen:
            raise MicroK8sError("%s.name: addon %r is listed twice" % (field, short))
        seen.add(short)
        result.append({"name": name, "state": state, "args": args})
    return result


def plan_addons(desired, status, recorded=None):
    """Compare desired addons with ``parse_status`` output.

    ``recorded`` maps addon name -> the argument list this collection enabled it
    with (MicroK8s itself does not remember arguments).  Returns a dict:

    * ``enable``/``disable``: desired items to act on, in the given order;
    * ``drift``: enabled addons whose recorded arguments differ from the desired ones;
    * ``unverified``: enabled addons with desired arguments but no record (enabled
      outside this module, their arguments cannot be checked);
    * ``unavailable``: desired names MicroK8s does not list on this node.
    """
    recorded = recorded or {}
    plan = {"enable": [], "disable": [], "drift": [], "unverified": [], "unavailable": []}
    current = status["addons"]
    for item in desired:
        repository, short = split_addon_name(item["name"])
        info = current.get(short)
        if info is None or (repository and info.get("repository") and info["repository"] != repository):
            plan["unavailable"].append(item["name"])
            continue
        enabled = info["status"] == "enabled"
        if item["state"] == "enabled" and not enabled:
            plan["enable"].append(item)
        elif item["state"] == "disabled" and enabled:
            plan["disable"].append(item)
        elif item["state"] == "enabled" and enabled:
            if short in recorded:
                if list(recorded[short]) != item["args"]:
                    plan["drift"].append({"name": short, "recorded_args": list(recorded[short]),
                                          "desired_args": item["args"]})
            elif item["args"]:
                plan["unverified"].append(short)
    return plan


def describe_unavailable(names, status):
    listed = ", ".join(sorted(status["addons"])) or "none"
    hint = ""
    if any(split_addon_name(n)[1] in ("gpu", "nvidia") for n in names):
        hint = (" The gpu/nvidia addons are published for amd64 only; on arm64 (DGX Spark) install the "
                "NVIDIA GPU Operator chart with the tokenlabs.inference.gpu_operator role instead.")
    return ("addons %s: not available on this node (MicroK8s would answer 'Addon %s was not found in any "
            "repository'). Available here: %s.%s" % (", ".join(names), split_addon_name(names[0])[1], listed, hint))
