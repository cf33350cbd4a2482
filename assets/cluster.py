"""The Ray side of deployment `ray`: the Ray resources each asset asks for, the executor, and the
shared-data check every run makes before its first step.

Execution model (docs/deploy.md says why): queued runs are launched as Ray jobs by dagster-ray's
RayRunLauncher (instance config, deploy/instance/ray.yaml); inside a run, dagster-ray's executor
submits every step as a Ray job of its own, with `entrypoint_num_cpus`/`num_gpus` from the asset's
op tag, so Ray places shards on whichever node has the CPUs free and `spatialqa` on a GPU node.
Nothing here imports Ray or dagster-ray at module level: the embedded deployment never loads them."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import dagster as dg

from .deployment import DeploymentError
from .settings import Settings

RAY_CONFIG_TAG = "dagster-ray/config"  # dagster-ray reads a step's Ray resources from this op tag
PROBE_DIR = ".spatialmix-probe"
RAY_CLIENT_PORT = 10001  # the head's Ray Client server (KubeRay exposes it on the head service)


@dataclass(frozen=True)
class RayPlacement:
    """What the steps of the graph ask of Ray: nothing unless the deployment is `ray`."""

    enabled: bool = False
    shard_cpus: int = 4

    @classmethod
    def of(cls, settings: Settings) -> "RayPlacement":
        return cls(settings.deployment == "ray", settings.ray_shard_cpus)

    def step(self, num_cpus: float, num_gpus: int = 0) -> dict[str, Any]:
        """Asset decorator arguments for a step that holds Ray resources: the op tag dagster-ray
        reads, and one retry (a step whose Ray job dies with its node fails the executor's health
        check and is relaunched as a new Ray job, redoing its shard from scratch; run retries would
        not cover it: Dagster skips them once the backfill of the run has finished)."""
        if not self.enabled:
            return {}
        config = {"num_cpus": num_cpus, **({"num_gpus": num_gpus} if num_gpus else {})}
        return {"op_tags": {RAY_CONFIG_TAG: json.dumps(config)}, "retry_policy": dg.RetryPolicy(max_retries=1)}

    def shard(self) -> dict[str, Any]:
        """A CPU shard step (an image shard, a hub source's conversion)."""
        return self.step(self.shard_cpus)

    @property
    def shard_workers(self) -> int | None:
        """Image workers of a shard step: the CPUs it holds, not the node's cores, so co-located
        shards do not oversubscribe a node (None: the workspace's own count)."""
        return self.shard_cpus if self.enabled else None


def ray_executor(settings: Settings) -> dg.ExecutorDefinition:
    """dagster-ray's executor, preceded at run start by the shared-data check. Its steps open the
    run's instance folder (DAGSTER_HOME), whose spatialmix.toml their definitions are built from."""
    from dagster_ray import ray_executor as executor

    data_root, address = Path(settings.data_root), settings.ray_address

    def create(init_context: dg.InitExecutorContext) -> Any:
        # Steps run in Ray jobs' own working folders: a relative root would differ per step.
        if not data_root.is_absolute():
            raise DeploymentError(f"deployment \"ray\" needs an absolute data_root in spatialmix.toml, got {data_root}")
        check_shared_data_root(data_root, address)
        config = dict(init_context.executor_config)
        ray = dict(config["ray"])  # type: ignore[arg-type]
        ray["address"] = ray.get("address") or address  # unless the run launcher's client is inherited
        ray["env_vars"] = [*(ray.get("env_vars") or []), f"DAGSTER_HOME={init_context.instance.root_directory}"]
        return executor.executor_creation_fn(init_context._replace(executor_config={**config, "ray": ray}))

    return dg.ExecutorDefinition(
        name="ray", config_schema=executor.config_schema, executor_creation_fn=create,
        requirements=executor.get_requirements,
        description="Each step a Ray job (dagster-ray), after checking the data root is shared.")


@dataclass(frozen=True)
class ProbeResult:
    node_id: str
    host: str
    path: str
    text: str        # what the node wrote
    error: str = ""  # set when the node could not write


def _write_probe(path: str, text: str) -> ProbeResult:
    import ray

    node = ray.get_runtime_context().get_node_id()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.part")
        tmp.write_text(text)
        os.replace(tmp, path)
        return ProbeResult(node, socket.gethostname(), path, text)
    except OSError as err:
        return ProbeResult(node, socket.gethostname(), path, text, f"{type(err).__name__}: {err}")


def probe_nodes(root: Path) -> list[ProbeResult]:
    """One zero-CPU task pinned to every alive node writes a probe file under `root`; needs a
    connected Ray driver (ray.init)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    write = ray.remote(num_cpus=0, max_retries=0)(_write_probe)
    token = uuid.uuid4().hex
    refs = []
    for node in ray.nodes():
        if node["Alive"]:
            path = str(root / PROBE_DIR / f"{token}-{node['NodeID'][:12]}.txt")
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            refs.append(write.options(scheduling_strategy=strategy).remote(path, f"{node['NodeID']} {token}"))
    return ray.get(refs, timeout=300)


def verify_probes(results: list[ProbeResult]) -> list[str]:
    """Read every probe back here; returns the problems (empty: shared and writable everywhere)."""
    problems = []
    for r in results:
        where = f"node {r.node_id[:12]} ({r.host})"
        if r.error:
            problems.append(f"{where} cannot write {r.path}: {r.error}")
            continue
        path = Path(r.path)
        try:
            seen = path.read_text()
        except FileNotFoundError:
            problems.append(f"{where} wrote {path}, but it does not exist here: that node has another file system")
            continue
        if seen != r.text:
            problems.append(f"{where} wrote {path}, but here it reads {seen[:80]!r}: not the same file")
        path.unlink(missing_ok=True)
    return problems


def driver_address(address: str) -> str:
    """What ray.init connects to from here. `ray_address` is the dashboard URL on Dagster's pods (where
    jobs are submitted); a driver reaches the same head through Ray Client. A GCS address is used as
    it is."""
    if address.startswith(("http://", "https://")):
        host = address.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
        return f"ray://{host}:{RAY_CLIENT_PORT}"
    return address


@contextlib.contextmanager
def connected(address: str) -> Iterator[None]:
    """This process as a Ray driver of the cluster at `address` for the block (unless it already is one)."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(address=driver_address(address), logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def check_shared_data_root(data_root: Path, address: str) -> list[ProbeResult]:
    """Prove every Ray node writes the same data root this process reads; DeploymentError otherwise.
    Connects to the cluster at `address` for the probe."""
    with connected(address):
        results = probe_nodes(data_root)
    problems = verify_probes(results)
    if problems:
        raise DeploymentError(f"the data root {data_root} must be one shared, writable file system on every "
                              "Ray node (NFS, Lustre, a ReadWriteMany volume):\n  " + "\n  ".join(problems))
    try:
        (data_root / PROBE_DIR).rmdir()
    except OSError:
        pass  # another run's probe is in flight
    return results


def cluster_gpus(address: str) -> int:
    """GPUs the Ray cluster at `address` has in all (the finetune's preflight)."""
    import ray

    with connected(address):
        return int(ray.cluster_resources().get("GPU", 0))
