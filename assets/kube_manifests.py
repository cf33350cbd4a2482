"""Kubernetes manifests for deployment `ray`, rendered from the `[deploy]` table of spatialmix.toml:
Helm values for Dagster's chart (webserver, daemon, code location, external PostgreSQL, dagster-ray's
run launcher), a KubeRay RayCluster (CPU and GPU worker groups), the ReadWriteMany claim every pod
mounts, and the ConfigMap holding the cluster's own spatialmix.toml, which every pod mounts in its
instance folder (DAGSTER_HOME) so the definitions load the same settings everywhere.

Instance settings come from the same files as the local deployments (dagster.yaml + deploy/instance/),
so the cluster queues, retries and forwards environment exactly as the tests run it. Every pod-level
object is checked against the Kubernetes API models (`kubernetes` package) before anything is written."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from pipeline.atomic import write_text

from .deployment import DEFINITIONS_MODULE, PG_PASSWORD_ENV, DeploymentError, instance_config
from .settings import SETTINGS_FILE, TABLES, Settings, settings_text, type_problem

PG_PASSWORD_KEY = "postgresql-password"  # the key Dagster's chart reads in global.postgresqlSecretName
DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's global.dagsterHome: the instance folder of every pod
SETTINGS_CONFIGMAP = "spatialmix-settings"
# Set by the rendering itself (the cluster's data root, Ray address, shard size, launcher, PostgreSQL).
RENDERED_SETTINGS = {"deployment", "data_root", "ray_address", "ray_shard_cpus", "launcher",
                     "postgres_host", "postgres_port", "postgres_user", "postgres_db"}


@dataclass(frozen=True)
class WorkerGroup:
    replicas: int
    cpus: int
    memory: str
    gpus: int = 0


@dataclass(frozen=True)
class DeploySettings:
    namespace: str = "spatialmix"
    image: str = "registry.example.com/spatialmix:0.1.0"  # built from deploy/Dockerfile
    volume_claim: str = "spatialmix-data"
    storage_class: str = "nfs-client"  # any class that offers ReadWriteMany (NFS, CephFS, Lustre CSI)
    volume_size: str = "2Ti"
    mount: str = "/data"               # the data root is <mount>/playground/data on every pod
    postgres_host: str = "postgresql.spatialmix.svc.cluster.local"
    postgres_port: int = 5432
    postgres_user: str = "dagster"
    postgres_db: str = "dagster"
    postgres_secret: str = "dagster-postgresql-secret"  # Secret with key `postgresql-password`
    ray_cluster: str = "spatialmix"
    ray_version: str = "2.60.0"
    shard_cpus: int = 8                # CPUs (and image workers) per shard step
    max_concurrent_runs: int = 32
    head: WorkerGroup = WorkerGroup(replicas=1, cpus=8, memory="32Gi")
    cpu_workers: WorkerGroup = WorkerGroup(replicas=4, cpus=32, memory="128Gi")
    gpu_workers: WorkerGroup = WorkerGroup(replicas=1, cpus=64, memory="512Gi", gpus=8)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. HF_HOME on the shared volume
    settings: dict[str, Any] = field(default_factory=dict)   # more of the cluster's spatialmix.toml (recipe, mirror, ...)

    @property
    def data_root(self) -> str:
        return f"{self.mount}/playground/data"

    @property
    def ray_address(self) -> str:
        """Where Dagster's pods submit Ray jobs: the dashboard of the head, whose service KubeRay names
        <cluster>-head-svc."""
        return f"http://{self.ray_cluster}-head-svc.{self.namespace}.svc.cluster.local:8265"

    @property
    def repository_and_tag(self) -> tuple[str, str]:
        repository, _, tag = self.image.rpartition(":")
        if not repository or "/" in tag:
            raise DeploymentError(f"deploy.image {self.image!r} needs an explicit tag (repository:tag)")
        return repository, tag


def deploy_settings(table: dict[str, Any]) -> DeploySettings:
    """A `[deploy]` table over the defaults, every key checked."""
    known = {f.name for f in fields(DeploySettings)}
    if unknown := sorted(set(table) - known):
        raise DeploymentError(f"unknown [deploy] keys {unknown}; known: {sorted(known)}")
    groups = {}
    for name in ("head", "cpu_workers", "gpu_workers"):
        if name in table:
            group = {**asdict(getattr(DeploySettings, name)), **table[name]}
            if unknown := sorted(set(group) - {f.name for f in fields(WorkerGroup)}):
                raise DeploymentError(f"unknown [deploy.{name}] keys {unknown}; known: replicas, cpus, memory, gpus")
            groups[name] = WorkerGroup(**group)
    settable = {f.name for f in fields(Settings)} - RENDERED_SETTINGS - set(TABLES)
    if unknown := sorted(set(table.get("settings", {})) - settable):
        raise DeploymentError(f"[deploy.settings] keys {unknown} are not settings the cluster takes from there; "
                              f"known: {sorted(settable)} (the rest follow from [deploy])")
    for key, value in table.get("settings", {}).items():
        if problem := type_problem(key, value):
            raise DeploymentError(f"[deploy.settings] {problem}")
    return DeploySettings(**{**table, **groups})


def cluster_settings(s: DeploySettings) -> Settings:
    """The spatialmix.toml every pod of the cluster loads its definitions from."""
    return dataclasses.replace(Settings(**s.settings), deployment="ray", data_root=s.data_root,
                               ray_address=s.ray_address, ray_shard_cpus=s.shard_cpus, launcher="ray",
                               postgres_host=s.postgres_host, postgres_port=s.postgres_port,
                               postgres_user=s.postgres_user, postgres_db=s.postgres_db)


def _secret_env(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": PG_PASSWORD_KEY}}}


def pod_env(s: DeploySettings, ray_pod: bool) -> list[dict[str, Any]]:
    """What the pods carry besides the settings ConfigMap: on the Ray pods the instance folder (Dagster's
    chart sets it on its own) and DAGSTER_PG_PASSWORD, which Dagster's chart injects into its pods; the
    Ray pods get it here, from the same Secret, never through Ray's job API."""
    values = {**({"DAGSTER_HOME": DAGSTER_HOME} if ray_pod else {}), **s.extra_env}
    env = [{"name": k, "value": v} for k, v in values.items()]
    return env + ([_secret_env(PG_PASSWORD_ENV, s.postgres_secret)] if ray_pod else [])


def _volumes(s: DeploySettings) -> list[dict[str, Any]]:
    return [{"name": "data", "persistentVolumeClaim": {"claimName": s.volume_claim}},
            {"name": "settings", "configMap": {"name": SETTINGS_CONFIGMAP}}]


def _mounts(s: DeploySettings) -> list[dict[str, Any]]:
    return [{"name": "data", "mountPath": s.mount},
            {"name": "settings", "mountPath": f"{DAGSTER_HOME}/{SETTINGS_FILE}", "subPath": SETTINGS_FILE}]


def settings_config_map(s: DeploySettings) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": SETTINGS_CONFIGMAP, "namespace": s.namespace},
            "data": {SETTINGS_FILE: settings_text(cluster_settings(s))}}


def volume_claim(s: DeploySettings) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": s.volume_claim, "namespace": s.namespace},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": s.storage_class,
                     "resources": {"requests": {"storage": s.volume_size}}}}


def _ray_pod(s: DeploySettings, container: str, group: WorkerGroup, ports: list[dict[str, Any]]) -> dict[str, Any]:
    limits = {"cpu": str(group.cpus), "memory": group.memory, **({"nvidia.com/gpu": str(group.gpus)} if group.gpus else {})}
    spec: dict[str, Any] = {
        "containers": [{
            "name": container, "image": s.image, "env": pod_env(s, ray_pod=True),
            "resources": {"limits": limits, "requests": dict(limits)},
            "volumeMounts": [*_mounts(s), {"name": "shm", "mountPath": "/dev/shm"}],
            **({"ports": ports} if ports else {}),
        }],
        # Ray's object store and PyTorch's data loaders live in /dev/shm: a memory-backed volume.
        "volumes": [*_volumes(s), {"name": "shm", "emptyDir": {"medium": "Memory"}}],
    }
    if group.gpus:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"spec": spec}


def ray_cluster(s: DeploySettings) -> dict[str, Any]:
    ports = [{"name": "gcs", "containerPort": 6379}, {"name": "dashboard", "containerPort": 8265},
             {"name": "client", "containerPort": 10001}]

    def group(name: str, g: WorkerGroup) -> dict[str, Any]:
        params = {"num-cpus": str(g.cpus), **({"num-gpus": str(g.gpus)} if g.gpus else {})}
        return {"groupName": name, "replicas": g.replicas, "minReplicas": g.replicas, "maxReplicas": g.replicas,
                "rayStartParams": params, "template": _ray_pod(s, "ray-worker", g, [])}

    return {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": s.ray_cluster, "namespace": s.namespace},
        "spec": {
            "rayVersion": s.ray_version,
            # num-cpus 0: shards and ranks never land on the head; step drivers without resources
            # (downloads, tables, the mixture) and run workers do, so it keeps some CPU and memory.
            "headGroupSpec": {"rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                              "template": _ray_pod(s, "ray-head", s.head, ports)},
            "workerGroupSpecs": [group("cpu", s.cpu_workers), group("gpu", s.gpu_workers)],
        },
    }


def dagster_values(s: DeploySettings) -> dict[str, Any]:
    """Values for Dagster's Helm chart (chart version = the pinned dagster version)."""
    instance = instance_config(cluster_settings(s))
    repository, tag = s.repository_and_tag
    image = {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    pod = {"env": pod_env(s, ray_pod=False), "volumes": _volumes(s), "volumeMounts": _mounts(s)}
    postgres = instance["storage"]["postgres"]["postgres_db"]
    launcher = instance["run_launcher"]
    return {
        "global": {"postgresqlSecretName": s.postgres_secret, "dagsterHome": DAGSTER_HOME},
        "generatePostgresqlPasswordSecret": False,
        "postgresql": {"enabled": False, "postgresqlHost": s.postgres_host, "postgresqlUsername": s.postgres_user,
                       "postgresqlDatabase": s.postgres_db, "postgresqlScheme": postgres["scheme"],
                       "postgresqlParams": {}, "service": {"port": s.postgres_port}},
        "dagsterWebserver": {"image": image, **pod},
        "dagsterDaemon": {
            "image": image, **pod,
            "runCoordinator": {"enabled": True, "type": "QueuedRunCoordinator",
                               "config": {"queuedRunCoordinator": {"maxConcurrentRuns": s.max_concurrent_runs}}},
            "runRetries": {"enabled": instance["run_retries"]["enabled"],
                           "maxRetries": instance["run_retries"]["max_retries"]},
            "runMonitoring": {"enabled": instance["run_monitoring"]["enabled"],
                              "freeSlotsAfterRunEndSeconds":
                                  instance["run_monitoring"]["free_slots_after_run_end_seconds"]},
        },
        "dagster-user-deployments": {"enabled": True, "deployments": [{
            "name": "spatialmix", "image": image, "dagsterApiGrpcArgs": ["-m", DEFINITIONS_MODULE],
            "port": 3030, **pod}]},
        "runLauncher": {"type": "CustomRunLauncher", "config": {"customRunLauncher": {
            "module": launcher["module"], "class": launcher["class"], "config": launcher["config"]}}},
        "computeLogManager": {"type": "CustomComputeLogManager", "config": {"customComputeLogManager": {
            "module": "dagster._core.storage.local_compute_log_manager", "class": "LocalComputeLogManager",
            "config": {"base_dir": f"{s.mount}/dagster/compute_logs"}}}},  # on the shared volume: any pod reads them
        "telemetry": {"enabled": instance["telemetry"]["enabled"]},
        # The op pools (the `gpu` pool: one slot per GPU in the cluster).
        "additionalInstanceConfig": {"concurrency": {"pools": {
            **instance["concurrency"]["pools"],
            "default_limit": max(1, s.gpu_workers.replicas * s.gpu_workers.gpus)}}},
    }


MANIFESTS = {"dagster-values.yaml": dagster_values, "raycluster.yaml": ray_cluster, "data-pvc.yaml": volume_claim,
             "spatialmix-settings.yaml": settings_config_map}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the settings file in the ConfigMap) as readable `|` blocks."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def render(s: DeploySettings) -> dict[str, str]:
    """File name -> YAML text, each validated first."""
    from .kube_validate import validate

    out = {}
    for name, build in MANIFESTS.items():
        doc = build(s)
        validate(name, doc)
        out[name] = (f"# Rendered by `spatialmix deploy render` from the [deploy] settings; see docs/deploy.md.\n"
                     + yaml.dump(json.loads(json.dumps(doc)), Dumper=_Dumper, sort_keys=False))
    return out


def write_manifests(s: DeploySettings, out_dir: Path) -> list[Path]:
    """Every manifest rendered and validated first, then each written atomically."""
    written = []
    for name, text in render(s).items():
        write_text(out_dir / name, text)
        written.append(out_dir / name)
    return written
