# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Connection options shared by every Kubernetes module of tokenlabs.inference."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Based on kubernetes.core.k8s_auth_options; the bearer token option is
    # renamed to k8s_api_key because api_key is a tenant's key in this collection.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to an existing Kubernetes config file, or the config as a dictionary.
      - If not provided and no other connection options are provided, the kubernetes client
        tries C(~/.kube/config) and then the in-cluster service account.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
      - The file content is never logged.
    type: raw
  context:
    description:
      - The name of a context found in the config file.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable (AWX's Kubernetes credential does this).
    type: str
  k8s_api_key:
    description:
      - Bearer token used to authenticate with the API server (a ServiceAccount token, for example).
      - Named C(api_key) in kubernetes.core; renamed here because C(api_key) is a tenant key in this collection.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable (AWX's Kubernetes credential does this).
    type: str
  username:
    description:
      - Username for basic authentication. Can also be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for basic authentication. Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate used to verify the API server. Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the client certificate's key. Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy for API requests. Can also be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts or domains that bypass O(proxy). Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  persist_config:
    description:
      - Whether to save refreshed tokens back to the kubeconfig file. Can also be set with E(K8S_AUTH_PERSIST_CONFIG).
    type: bool
  impersonate_user:
    description:
      - Username to impersonate. Can also be set with E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate. Can also be set with E(K8S_AUTH_IMPERSONATE_GROUPS).
    type: list
    elements: str
requirements:
  - kubernetes >= 24.2.0
notes:
  - Set these once for all modules of the collection with
    C(module_defaults) and the action group C(group/tokenlabs.inference.k8s).
"""
