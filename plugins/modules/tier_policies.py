#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tier_policies
short_description: Render the tier table into Kuadrant AuthPolicy, RateLimitPolicy and TokenRateLimitPolicy
version_added: "0.1.0"
description:
  - Turns one tier table (the C(tokenlabs_tiers) inventory variable) into the three Kuadrant policies of a
    Gateway or HTTPRoute and applies them with server-side apply, idempotently.
  - The AuthPolicy authenticates API keys stored in tenant Secrets (label selector O(tenant_selector),
    C(Authorization Bearer) header), allows only keys whose C(kuadrant.io/groups) annotation names exactly one
    tier of the table, refuses keys whose C(tokenlabs.io/expires-at) annotation (RFC 3339) lies in the past,
    publishes C(groups) and C(userid) for the limit policies and never authenticates CORS preflight
    (C(OPTIONS)) requests.
  - The RateLimitPolicy limits requests, the TokenRateLimitPolicy limits tokens (C(usage.total_tokens) of
    OpenAI-style responses on O(token_paths)), per tier and counted per tenant (C(auth.identity.userid)).
    Tier predicates are disjoint.
  - The whole table is validated before anything is sent to the cluster. The module also refuses to remove a
    tier that tenants still use (it lists them), and checks that the Kuadrant CRDs and the target exist.
  - A policy whose live spec already matches is not written at all.
author:
  - TokenLabs engineering (@tokenlabs)
extends_documentation_fragment:
  - tokenlabs.inference.tenant_secrets
  - tokenlabs.inference.k8s_auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Changed policies are sent as an API-server dry run (C(dryRun=All)); nothing is stored.
      - On a cluster without the Kuadrant/Gateway API CRDs or the target (an empty cluster, where earlier roles of
        playbooks/site.yml would create them) the policies are reported as they would be applied, with a warning
        naming what is missing, instead of failing.
  diff_mode:
    support: full
    details: Shows the spec of every changed policy before and after.
  platform:
    platforms: kubernetes
options:
  tiers:
    description:
      - The tier table C(tokenlabs_tiers), a dict of tier name to limits (the same option as the tenant modules'
        O(tiers), which also take a list of names). Required when O(state=present).
      - Tier names are lower-case DNS labels (a-z, 0-9, C(-), at most 48 characters); names that collide after
        lower-casing and replacing C(_), C(.) and spaces with C(-) are refused.
      - "Limits per tier (positive integers): C(requests_per_second), C(requests_per_minute),
        C(requests_per_hour), C(requests_per_day), C(requests_per_week), the same with C(tokens_),
        and explicit lists C(request_rates) / C(token_rates) of C({limit: N, window: DURATION}) where
        DURATION is like C(90s), C(12h), C(1d), C(1h30m) (a whole number of seconds, rendered in the form
        the CRD accepts, e.g. C(1d) becomes C(24h))."
      - Every tier needs at least one request limit and one token limit. A limit over a shorter window may not
        exceed a limit over a longer window, and a window may be limited only once per kind.
    type: raw
  target_kind:
    description: Kind of the object the policies attach to.
    type: str
    choices: [Gateway, HTTPRoute]
    default: Gateway
  target_name:
    description: Name of the Gateway or HTTPRoute. It must exist.
    type: str
    default: token-labs-gateway
  target_namespace:
    description: Namespace of the target; the policies are created there (Kuadrant requires the same namespace).
    type: str
    default: token-labs
  token_paths:
    description:
      - URL paths (without query string) whose responses carry OpenAI C(usage) and are token-limited.
      - Matched on C(request.url_path), so query strings cannot bypass the limit.
    type: list
    elements: str
    default: [/v1/chat/completions, /v1/completions]
  auth_policy_name:
    description: Name of the AuthPolicy.
    type: str
    default: token-labs-auth
  request_policy_name:
    description: Name of the RateLimitPolicy.
    type: str
    default: token-labs-request-limits
  token_policy_name:
    description: Name of the TokenRateLimitPolicy.
    type: str
    default: token-labs-token-limits
  state:
    description:
      - V(present) renders and applies the policies.
      - V(absent) deletes the three policies. Without the AuthPolicy the target no longer requires an API key.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Token limits are enforced after the fact, see the collection's C(docs/tiers.md).
seealso:
  - name: Kuadrant TokenRateLimitPolicy
    description: Reference of the TokenRateLimitPolicy API.
    link: https://docs.kuadrant.io/latest/kuadrant-operator/doc/reference/tokenratelimitpolicy/
"""

EXAMPLES = r"""
- name: Apply the tier policies to the platform Gateway
  tokenlabs.inference.tier_policies:
    tiers: "{{ tokenlabs_tiers }}"
    target_name: token-labs-gateway
    target_namespace: token-labs
    kuadrant_namespace: kuadrant-system
    tenant_selector: {app: token-labs}

- name: A tier with a twelve-hour token budget on top of the per-minute limits
  tokenlabs.inference.tier_policies:
    tiers:
      trial:
        requests_per_minute: 5
        requests_per_day: 50
        tokens_per_minute: 2000
        token_rates:
          - {limit: 10000, window: 12h}

- name: Remove the policies
  tokenlabs.inference.tier_policies:
    state: absent
"""

RETURN = r"""
tiers:
  description: Tier names the policies were rendered from.
  returned: when state is present
  type: list
  elements: str
  sample: [enterprise, free, pro]
policies:
  description: What happened to each policy (created, updated, unchanged, deleted, absent).
  returned: always
  type: list
  elements: dict
  sample:
    - {kind: RateLimitPolicy, name: token-labs-request-limits, namespace: token-labs, action: unchanged}
    - {kind: TokenRateLimitPolicy, name: token-labs-token-limits, namespace: token-labs, action: updated}
    - {kind: AuthPolicy, name: token-labs-auth, namespace: token-labs, action: created}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s.api import (
    ApiError, auth_argument_spec, connect)
from ansible_collections.tokenlabs.inference.plugins.module_utils._tenants import options
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import policy_render
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers import table as tier_table
from ansible_collections.tokenlabs.inference.plugins.module_utils._tiers.policy_apply import (
    PolicyApplyError, reconcile_policies, remove_policies)


def main():
    spec = auth_argument_spec(options.argument_spec(options.TENANT_SECRETS_ARG_SPEC, dict(
        tiers=dict(type="raw"),
        target_kind=dict(type="str", choices=sorted(tier_table.TARGET_KINDS), default="Gateway"),
        target_name=dict(type="str", default="token-labs-gateway"),
        target_namespace=dict(type="str", default="token-labs"),
        token_paths=dict(type="list", elements="str", default=list(tier_table.DEFAULT_TOKEN_PATHS), no_log=False),
        auth_policy_name=dict(type="str", default=tier_table.DEFAULT_POLICY_NAMES["AuthPolicy"]),
        request_policy_name=dict(type="str", default=tier_table.DEFAULT_POLICY_NAMES["RateLimitPolicy"]),
        token_policy_name=dict(type="str", default=tier_table.DEFAULT_POLICY_NAMES["TokenRateLimitPolicy"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ("tiers",))])
    params = module.params
    names = {
        "AuthPolicy": params["auth_policy_name"],
        "RateLimitPolicy": params["request_policy_name"],
        "TokenRateLimitPolicy": params["token_policy_name"],
    }
    # Everything the operator typed is checked before connecting.
    try:
        policy_render.validate_policy_inputs(
            params["target_kind"], params["target_name"], params["target_namespace"], names,
            params["token_paths"], params["tenant_selector"], params["kuadrant_namespace"])
        table = tier_table.validate_tiers(params["tiers"]) if params["state"] == "present" else None
    except tier_table.TierTableError as exc:
        module.fail_json(msg=str(exc), errors=exc.errors, changed=False)

    try:
        api = connect(module)
        if params["state"] == "absent":
            result = remove_policies(api, params["target_namespace"], names)
        else:
            result = reconcile_policies(
                api, table, target_kind=params["target_kind"], target_name=params["target_name"],
                namespace=params["target_namespace"], kuadrant_namespace=params["kuadrant_namespace"],
                tenant_selector=params["tenant_selector"], token_paths=params["token_paths"], names=names,
                check_mode=module.check_mode)
    except PolicyApplyError as exc:
        module.fail_json(msg=str(exc), changed=exc.changed, policies=exc.policies)
    except ApiError as exc:
        module.fail_json(msg=str(exc), changed=False)

    for warning in result.pop("warnings", []):
        module.warn(warning)
    diff = result.pop("diff", None)
    if module._diff and diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
