# -*- coding: utf-8 -*-
# Copyright: TokenLabs engineering
# Apache License 2.0 (see LICENSE)
"""Filters that turn the platform inventory (model catalog, version pins, mirror) into
Helm values and Kubernetes objects.  The logic lives in
plugins/module_utils/_catalog/ (models, gpu_sharing, placement, releases) and _k8s/objects.py (no I/O, unit-tested); these are thin wrappers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import gpu_sharing
from ansible_collections.tokenlabs.inference.plugins.module_utils._k8s import objects as k8s_objects
from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import models as model_catalog
from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import placement
from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import releases
from ansible_collections.tokenlabs.inference.plugins.module_utils._catalog import services as service_catalog


def _plain(value):
    """Copy Ansible's tagged/lazy containers into plain Python data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def model_catalog_errors(models):
    return model_catalog.validate_models(_plain(models))


def version_errors(versions):
    if not isinstance(versions, dict):
        raise AnsibleFilterError("version_errors expects a mapping of variable name to version")
    return model_catalog.validate_versions(_plain(versions))


def version_tuple(version):
    try:
        return list(model_catalog.version_tuple(str(version)))
    except ValueError:
        raise AnsibleFilterError("%r is not a version" % (version,))


def chart_source(chart, mirror_dir=None):
    return model_catalog.chart_source(_plain(chart), mirror_dir or None)


def chart_archive(chart):
    return model_catalog.chart_archive(_plain(chart))


def inferencepool_values(model, epp_image, engine_metrics="flags"):
    return model_catalog.inferencepool_values(_plain(model), _plain(epp_image), str(engine_metrics))


def modelservice_values(model, hf_token_secret=None, runtime_class="nvidia", engine_metrics="flags"):
    return model_catalog.modelservice_values(_plain(model), hf_token_secret or None, runtime_class,
                                             str(engine_metrics))


def decode_selector_changes(models, deployments, engine_metrics="flags"):
    return model_catalog.decode_selector_changes(_plain(models), _plain(deployments), str(engine_metrics))


def decode_strategy_patch(model, namespace):
    return model_catalog.decode_strategy_patch(_plain(model), namespace)


def aigatewayroute(models, name, namespace, gateway_name, llm_request_costs=None,
                   api_version=model_catalog.AIGATEWAY_API_VERSION):
    return model_catalog.aigatewayroute(_plain(models), name, namespace, gateway_name,
                                        llm_request_costs=_plain(llm_request_costs), api_version=str(api_version))


def release_record(versions, release_set, namespace):
    return releases.release_record(str(release_set), _plain(versions), str(namespace))


def release_downgrades(versions, recorded, release_set):
    return releases.downgrades(_plain(recorded or {}), _plain(versions), str(release_set))


def pool_release(model):
    return model_catalog.pool_release(model)


def modelservice_release(model):
    return model_catalog.modelservice_release(model)


def decode_deployment(model):
    return model_catalog.decode_deployment(model)


def pending_conditions(resources, names, condition_type):
    return k8s_objects.pending_conditions(resources, list(names), condition_type)


def warning_events(events, names):
    return k8s_objects.warning_events(_plain(events), list(names))


def namespace_definition(name):
    return k8s_objects.namespace_definition(str(name))


def helm_ownership_patch(name, api_version, kind, release, release_namespace):
    return k8s_objects.helm_ownership_patch(str(name), api_version, kind, release, release_namespace)


def stale_model_releases(models, releases):
    return model_catalog.stale_releases(_plain(models), _plain(releases))


def gpu_device_plugin_config(models, services=None):
    return gpu_sharing.device_plugin_config(_plain(models), _plain(services or []))


def gpu_node_label_patches(models, services=None):
    return gpu_sharing.node_label_patches(_plain(models), _plain(services or []))


def unknown_model_nodes(models, node_names, services=None):
    return gpu_sharing.unknown_nodes(_plain(models), _plain(list(node_names)), _plain(services or []))


def service_catalog_errors(services, models=None):
    return service_catalog.validate_services(_plain(services), _plain(models or []))


def service_objects(services, namespace, gateway_name, gateway_namespace):
    return service_catalog.render_all(_plain(services), namespace, gateway_name, gateway_namespace)


def service_prune(namespace):
    return service_catalog.service_prune(namespace)


def model_placement_problems(models, pods, namespace):
    return placement.placement_problems(_plain(models), _plain(pods), str(namespace))


class FilterModule(object):
    """TokenLabs platform filters."""

    def filters(self):
        return {
            "model_catalog_errors": model_catalog_errors,
            "version_errors": version_errors,
            "version_tuple": version_tuple,
            "chart_source": chart_source,
            "chart_archive": chart_archive,
            "inferencepool_values": inferencepool_values,
            "modelservice_values": modelservice_values,
            "decode_strategy_patch": decode_strategy_patch,
            "decode_selector_changes": decode_selector_changes,
            "aigatewayroute": aigatewayroute,
            "release_record": release_record,
            "release_downgrades": release_downgrades,
            "pool_release": pool_release,
            "modelservice_release": modelservice_release,
            "decode_deployment": decode_deployment,
            "pending_conditions": pending_conditions,
            "warning_events": warning_events,
            "namespace_definition": namespace_definition,
            "helm_ownership_patch": helm_ownership_patch,
            "gpu_device_plugin_config": gpu_device_plugin_config,
            "stale_model_releases": stale_model_releases,
            "gpu_node_label_patches": gpu_node_label_patches,
            "unknown_model_nodes": unknown_model_nodes,
            "service_catalog_errors": service_catalog_errors,
            "service_objects": service_objects,
            "service_prune": service_prune,
            "model_placement_problems": model_placement_problems,
        }
