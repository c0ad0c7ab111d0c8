# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""MicroK8s addons: ``status --format yaml``, the desired addon list, the plan (enable, disable,
argument drift), and the reconciler of module ``microk8s_addon`` with the record of the arguments
each addon was enabled with.

Private to this collection (not an API for other collections; it may change
without notice). Unit-tested with canned MicroK8s output
(tests/unit/plugins/module_utils/_microk8s/test_addons.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.tokenlabs.inference.plugins.module_utils import _files as json_files
from ansible_collections.tokenlabs.inference.plugins.module_utils._microk8s.runner import (
    CMD_DISABLE, CMD_ENABLE, CMD_STATUS, BINARY_DIRS, MicroK8sError, classify_output, describe_failure, load_yaml,
    microk8s_runner)

DEFAULT_ARGS_RECORD = "/var/snap/microk8s/common/tokenlabs-addon-args.json"
ADDON_STATES = ("enabled", "disabled")


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
    data = load_yaml(text, "`microk8s status --format yaml` output")
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


class AddonReconciler(object):
    """One run of module microk8s_addon: read the status, plan, enable/disable, record the arguments."""

    def __init__(self, module):
        self.module = module
        params = module.params
        binary = params["binary"]
        if "/" not in binary:
            binary = module.get_bin_path(binary, required=True, opt_dirs=BINARY_DIRS)
        self.runner = microk8s_runner(module, binary)
        self.result = {"changed": False, "enabled": [], "disabled": [], "drift": [], "unverified": [],
                       "addons": {}, "commands": self.runner.history}

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def read_status(self):
        res = self.runner.run(CMD_STATUS, wait_ready=self.module.params["wait_ready_timeout"])
        output = res.output
        if res.rc != 0 or not res.out.strip():
            kind = classify_output(output)
            if kind == "cluster_locked":
                self.fail("this node is a worker in a MicroK8s cluster: %s Manage addons on a control-plane "
                          "node (the first host of microk8s_controllers)." % output.splitlines()[0].strip())
            if kind == "not_running":
                self.fail("MicroK8s is not running (`microk8s status` rc=%s): %s. Start it with `microk8s start` "
                          "or inspect it with `microk8s inspect`." % (res.rc, output.strip()))
            self.fail(describe_failure(res.argv, res.rc, res.out, res.err))
        status = parse_status(res.out)
        if not status["running"]:
            self.fail("MicroK8s is not running: %s" % (status["message"] or res.out.strip()))
        return status

    def run(self):
        params = self.module.params
        desired = normalise_addons(params["addons"])
        record_path = params["args_record"]
        status = self.read_status()
        self.result["addons"] = dict((name, info["status"]) for name, info in sorted(status["addons"].items()))
        recorded = json_files.read_json_object(record_path)
        plan = plan_addons(desired, status, recorded)
        if plan["unavailable"]:
            self.fail(describe_unavailable(plan["unavailable"], status))
        self.result["drift"] = plan["drift"]
        self.result["unverified"] = plan["unverified"]

        drift_policy = params["on_args_drift"]
        to_reenable = []
        for item in plan["drift"]:
            text = ("addon %s is enabled with arguments %s but %s are desired; MicroK8s ignores new arguments "
                    "for an enabled addon" % (item["name"], item["recorded_args"], item["desired_args"]))
            if drift_policy == "fail":
                self.fail(text + ". Set on_args_drift=reenable to disable and re-enable it, or change it by hand.")
            elif drift_policy == "warn":
                self.module.warn(text + " (nothing changed; on_args_drift=reenable re-enables it).")
            else:
                to_reenable.append(item["name"])
        for name in plan["unverified"]:
            self.module.warn("addon %s was enabled outside tokenlabs.inference.microk8s_addon; its arguments "
                             "cannot be verified against the desired ones" % name)

        desired_by_short = dict((split_addon_name(i["name"])[1], i) for i in desired)
        actions = []  # (verb, item) in order
        for item in desired:
            short = split_addon_name(item["name"])[1]
            if item in plan["disable"]:
                actions.append(("disable", item))
            elif short in to_reenable:
                actions.append(("disable", item))
                actions.append(("enable", desired_by_short[short]))
            elif item in plan["enable"]:
                actions.append(("enable", item))

        after = dict(self.result["addons"])
        for verb, item in actions:
            after[split_addon_name(item["name"])[1]] = verb + "d"
        if self.module._diff:
            self.result["diff"] = {"before": self.result["addons"], "after": after}
        self.result["changed"] = bool(actions)
        planned_enabled = [split_addon_name(i["name"])[1] for v, i in actions if v == "enable"]
        planned_disabled = [split_addon_name(i["name"])[1] for v, i in actions if v == "disable"
                            and split_addon_name(i["name"])[1] not in to_reenable]
        if self.module.check_mode or not actions:
            self.result["enabled"] = planned_enabled
            self.result["disabled"] = planned_disabled
            return self.result

        for verb, item in actions:
            short = split_addon_name(item["name"])[1]
            if verb == "enable":
                res = self.runner.run(CMD_ENABLE, addon=item["name"], addon_args=item["args"])
            else:
                res = self.runner.run(CMD_DISABLE, addon=item["name"])
            if res.rc != 0:
                self.fail_partial(verb, item, res)
            if verb == "enable":
                recorded[short] = item["args"]
                if short not in self.result["enabled"]:
                    self.result["enabled"].append(short)
            else:
                recorded.pop(short, None)
                if short not in to_reenable:
                    self.result["disabled"].append(short)
            json_files.write_json(record_path, recorded)
        return self.result

    def fail_partial(self, verb, item, res):
        detail = describe_failure(res.argv, res.rc, res.out, res.err,
                                  what="`microk8s %s %s`" % (verb, " ".join([item["name"]] + item["args"])))
        if classify_output(res.output) == "addon_not_found":
            detail += " (the addon is not in any repository enabled on this node)"
        done = ["%s enabled" % n for n in self.result["enabled"]] + ["%s disabled" % n for n in self.result["disabled"]]
        detail += ". Applied before the failure: %s; nothing after it was attempted." % (", ".join(done) or "nothing")
        self.result["changed"] = bool(done)
        self.fail(detail)
