#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_apply
short_description: Server-side apply a list of Kubernetes objects, writing only those that differ
version_added: 0.1.0
description:
  - Applies every object of O(definitions) by server-side apply in one module call. For each object one GET and
    one API-server dry run (C(dryRun=All)) find out whether it would be created, changed or stay as it is; only
    created and changed objects are then applied. A converged cluster gets no write at all, and C(changed) is
    reported once, by this task.
  - Namespaces and CustomResourceDefinitions in the list are applied before the other objects, so one list may
    hold a namespace and the objects that go into it.
  - Each object's outcome (RV(objects)) comes from API discovery and the API's status codes, never from message
    text. In check mode an object whose namespace (404 for the namespace) or kind (no API serves it) does not
    exist yet is reported as V(pending) -- an earlier step of a real run creates it -- and counts as a change. Any
    other refusal is V(rejected) with the API's status code and reason, and fails the task.
  - On a partial failure the objects that were accepted are applied; the task fails and names each rejected object
    with the reason and the counts of what was applied. A rerun converges.
  - The values of Secrets (C(data), C(stringData)) never appear in the result, the diff or messages.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.k8s_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only the dry runs are sent; objects that cannot be dry-run yet are reported as V(pending).
  diff_mode:
    support: full
    details: Shows the live and the resulting object of each created or changed object, Secret values hidden.
  platform:
    platforms: posix
options:
  definitions:
    description:
      - Complete Kubernetes objects (C(apiVersion), C(kind), C(metadata.name), C(metadata.namespace) for namespaced
        kinds). An object may be partial (for example metadata only); server-side apply owns only the fields given.
    type: list
    elements: dict
    required: true
  field_manager:
    description:
      - Server-side apply field manager of the writes.
    type: str
    default: tokenlabs-inference
  force_conflicts:
    description:
      - Take ownership of fields that another field manager set (the platform roles own what they apply). With
        V(false) such a conflict rejects the object with the API's 409 reason.
    type: bool
    default: true
  concurrency:
    description:
      - Number of requests in flight at once.
    type: int
    default: 8
  prune:
    description:
      - Also delete the objects of O(prune.kinds) in O(prune.namespace) that carry the labels of
        O(prune.label_selector) but are not in O(definitions) (they were removed from the catalog). Only objects
        with those labels are ever touched, so give labels only this caller sets. In check mode the deletes are
        dry runs.
    type: dict
    suboptions:
      label_selector:
        description: Label selector of the objects the caller owns, e.g. C(app.kubernetes.io/managed-by=x,role=y).
        type: str
        required: true
      namespace:
        description: Namespace to prune in.
        type: str
        required: true
      kinds:
        description: The kinds to prune.
        type: list
        elements: dict
        required: true
        suboptions:
          api_version:
            description: apiVersion of the kind.
            type: str
            required: true
          kind:
            description: The kind.
            type: str
            required: true
notes:
  - Apply order within one phase is not defined; use separate tasks when one object must exist before another
    (other than namespaces and CRDs, which always go first).
seealso:
  - module: kubernetes.core.k8s
"""

EXAMPLES = r"""
- name: Create the gateway namespace and the Redis deployment
  tokenlabs.inference.k8s_apply:
    definitions:
      - "{{ 'redis-system' | tokenlabs.inference.namespace_definition }}"
      - "{{ lookup('ansible.builtin.template', 'redis.yml.j2') | from_yaml }}"

- name: Apply a Secret (its values are never shown)
  tokenlabs.inference.k8s_apply:
    definitions:
      - apiVersion: v1
        kind: Secret
        metadata: {name: hf-token, namespace: llm}
        stringData: {token: "{{ vault_hf_token }}"}
  no_log: true
"""

RETURN = r"""
objects:
  description: One entry per definition, in input order, then one per pruned object.
  returned: always
  type: list
  elements: dict
  contains:
    object:
      description: C(Kind namespace/name (apiVersion)).
      type: str
    api_version:
      description: apiVersion of the object.
      type: str
    kind:
      description: Kind of the object.
      type: str
    namespace:
      description: Namespace of the object (null for cluster-scoped objects).
      type: str
    name:
      description: Name of the object.
      type: str
    outcome:
      description: What happened (in check mode, what would happen).
      type: str
      choices: [unchanged, created, updated, deleted, pending, rejected]
    reason:
      description: Why the object is V(pending) or V(rejected).
      type: str
      returned: when pending or rejected
    status:
      description: HTTP status code of the refusal.
      type: int
      returned: when rejected by the API
  sample:
    - {object: "Namespace redis-system (v1)", kind: Namespace, api_version: v1, namespace: null,
       name: redis-system, outcome: unchanged}
counts:
  description: Number of objects per outcome.
  returned: always
  type: dict
  sample: {unchanged: 3, created: 1, updated: 0, deleted: 0, pending: 0, rejected: 0}
writes:
  description: Writes sent (dry runs excluded).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s import apply as k8s_apply
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import (
    ApiError, auth_argument_spec, connect)


def argument_spec():
    return auth_argument_spec(dict(
        definitions=dict(type="list", elements="dict", required=True),
        field_manager=dict(type="str", default="tokenlabs-inference"),
        force_conflicts=dict(type="bool", default=True),
        concurrency=dict(type="int", default=8),
        prune=dict(type="dict", options=dict(
            label_selector=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            kinds=dict(type="list", elements="dict", required=True, options=dict(
                api_version=dict(type="str", required=True),
                kind=dict(type="str", required=True))))),
    ))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    definitions = p["definitions"]
    for value in k8s_apply.secret_values(d for d in definitions if isinstance(d, dict)):
        module.no_log_values.add(value)
    problems = k8s_apply.definition_problems(definitions)
    if p["concurrency"] < 1:
        problems.append("concurrency %r must be at least 1" % p["concurrency"])
    if problems:
        module.fail_json(msg="invalid definitions, nothing was applied: " + "; ".join(problems), errors=problems)
    try:
        api = connect(module, dry_run=False, workers=p["concurrency"])
        api.field_manager = p["field_manager"]
        applier = k8s_apply.Applier(api, check_mode=module.check_mode, force_conflicts=p["force_conflicts"],
                                    workers=p["concurrency"])
        results = applier.apply(definitions)
        if p["prune"]:
            results += applier.prune(p["prune"]["label_selector"], p["prune"]["kinds"], p["prune"]["namespace"],
                                     definitions)
    except ApiError as err:
        module.fail_json(msg=str(err), writes=0)
    counts = k8s_apply.summarize(results)
    out = dict(objects=[r.report() for r in results], counts=counts, writes=api.writes,
               changed=counts["created"] + counts["updated"] + counts["deleted"]
               + (counts["pending"] if module.check_mode else 0) > 0)
    if module._diff:
        changed = [r for r in results if r.outcome in ("created", "updated", "deleted")]
        out["diff"] = {"before": dict((r.ref, k8s_apply.public_view(r.before)) for r in changed if r.before),
                       "after": dict((r.ref, k8s_apply.public_view(r.after)) for r in changed if r.after)}
    pending = [r for r in results if r.outcome == "pending"]
    if pending:
        module.warn("check mode: %d object(s) cannot be dry-run yet and would be created: %s"
                    % (len(pending), "; ".join("%s: %s" % (r.ref, r.reason) for r in pending)))
    if counts["rejected"]:
        module.fail_json(msg=k8s_apply.failure_message(results, module.check_mode), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
