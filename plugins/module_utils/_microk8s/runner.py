# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Running the ``microk8s`` CLI: a small declarative command builder/runner over
``AnsibleModule.run_command`` in the style of community.general's CmdRunner (our own code:
community.general's module_utils are private to it), the error it raises, and the known failure lines.
It redacts secrets (join tokens) from every message it produces.

Private to this collection (not an API for other collections; it may change
without notice). Unit-tested with canned MicroK8s output
(tests/unit/plugins/module_utils/_microk8s/test_runner.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

BINARY_DIRS = ["/snap/bin"]
REDACTED = "<redacted>"
MSG_CLUSTER_LOCKED = "This MicroK8s deployment is acting as a node in a cluster."
MSG_NOT_RUNNING = "microk8s is not running"
MSG_ALREADY_KNOWN = "already known to dqlite"
_ADDON_NOT_FOUND = re.compile(r"Addon (\S+) was not found in any repository")


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


def load_yaml(text, what):
    if not HAS_YAML:
        raise MicroK8sError("PyYAML is required to read %s (install python3-yaml)" % what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MicroK8sError("cannot parse %s as YAML: %s" % (what, exc))
