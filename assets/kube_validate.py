"""Validation of the rendered manifests against the Kubernetes API models of the `kubernetes` package.

Each Kubernetes object (or pod-level part of a custom resource or of Helm values) is deserialized
into its model, which refuses missing required fields and wrong types, and serialized back: a field
the model does not know (a typo, a wrong nesting) is dropped on the way, so any difference fails."""
from __future__ import annotations

import json
from typing import Any

from .deployment import DeploymentError

# Top-level keys of Dagster's chart values (its values.schema.json) that the rendering may use.
DAGSTER_CHART_KEYS = {"global", "generatePostgresqlPasswordSecret", "postgresql", "dagsterWebserver",
                      "dagsterDaemon", "dagster-user-deployments", "runLauncher", "computeLogManager",
                      "telemetry", "additionalInstanceConfig"}
RUN_LAUNCHER_TYPES = {"K8sRunLauncher", "CeleryK8sRunLauncher", "CustomRunLauncher"}


def check_model(where: str, obj: Any, model: str) -> None:
    from kubernetes.client import ApiClient

    api = ApiClient()
    try:
        parsed = api.deserialize(json.dumps(obj), model, "application/json")
    except (ValueError, TypeError) as err:
        raise DeploymentError(f"{where}: not a valid {model}: {err}") from None
    back = api.sanitize_for_serialization(parsed)
    if back != obj:
        raise DeploymentError(f"{where}: fields a {model} does not have, or of the wrong type:\n"
                              f"  rendered: {json.dumps(obj, sort_keys=True)[:600]}\n"
                              f"  as model: {json.dumps(back, sort_keys=True)[:600]}")


def _check_pod_parts(where: str, part: dict[str, Any]) -> None:
    for i, env in enumerate(part.get("env", [])):
        check_model(f"{where}.env[{i}]", env, "V1EnvVar")
    for i, volume in enumerate(part.get("volumes", [])):
        check_model(f"{where}.volumes[{i}]", volume, "V1Volume")
    for i, mount in enumerate(part.get("volumeMounts", [])):
        check_model(f"{where}.volumeMounts[{i}]", mount, "V1VolumeMount")


def _check_ray_cluster(doc: dict[str, Any]) -> None:
    if doc.get("apiVersion") != "ray.io/v1" or doc.get("kind") != "RayCluster":
        raise DeploymentError("raycluster: expected apiVersion ray.io/v1, kind RayCluster")
    check_model("raycluster.metadata", doc["metadata"], "V1ObjectMeta")
    spec = doc["spec"]
    groups = [("headGroupSpec", spec["headGroupSpec"])]
    groups += [(f"workerGroupSpecs[{g['groupName']}]", g) for g in spec["workerGroupSpecs"]]
    for where, group in groups:
        check_model(f"raycluster.{where}.template", group["template"], "V1PodTemplateSpec")
        params = group["rayStartParams"]
        if not all(isinstance(v, str) for v in params.values()):
            raise DeploymentError(f"raycluster.{where}.rayStartParams: KubeRay takes strings only: {params}")
        if where != "headGroupSpec" and not group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]:
            raise DeploymentError(f"raycluster.{where}: replicas outside [minReplicas, maxReplicas]")


def _check_dagster_values(doc: dict[str, Any]) -> None:
    unknown = set(doc) - DAGSTER_CHART_KEYS
    if unknown:
        raise DeploymentError(f"dagster-values: keys the chart does not take: {sorted(unknown)}")
    if doc["runLauncher"]["type"] not in RUN_LAUNCHER_TYPES:
        raise DeploymentError(f"dagster-values: runLauncher.type must be one of {sorted(RUN_LAUNCHER_TYPES)}")
    parts = {"dagsterWebserver": doc["dagsterWebserver"], "dagsterDaemon": doc["dagsterDaemon"]}
    parts |= {f"dagster-user-deployments[{d['name']}]": d for d in doc["dagster-user-deployments"]["deployments"]}
    for where, part in parts.items():
        image = part["image"]
        if set(image) != {"repository", "tag", "pullPolicy"} or not all(image.values()):
            raise DeploymentError(f"dagster-values.{where}.image: needs repository, tag and pullPolicy")
        _check_pod_parts(f"dagster-values.{where}", part)


def validate(name: str, doc: dict[str, Any]) -> None:
    if name == "data-pvc.yaml":
        check_model("data-pvc", doc, "V1PersistentVolumeClaim")
        if doc["spec"]["accessModes"] != ["ReadWriteMany"]:
            raise DeploymentError("data-pvc: every node mounts the data root: accessModes must be [ReadWriteMany]")
    elif name == "raycluster.yaml":
        _check_ray_cluster(doc)
    elif name == "dagster-values.yaml":
        _check_dagster_values(doc)
    elif name == "spatialmix-settings.yaml":
        check_model("spatialmix-settings", doc, "V1ConfigMap")
    else:
        raise DeploymentError(f"no validation for {name}")
