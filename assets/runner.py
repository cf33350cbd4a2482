"""Materialize assets in the project's Dagster instance, the way the CLI and the main job do it:
one run per asset (and per shard for partitioned assets), in dependency order, each recorded in the
instance folder so it shows in `dagster dev`, tagged with where it came from.

On a terminal only the assets' own progress lines are printed (Dagster's step events stay in the
instance); a failed run stops the sequence with `RunFailed`, one line naming the asset, the run id,
the reason and the run's full log written under `<instance>/logs/`. Runs execute in this process,
except under deployment "ray", where this process is the run worker and each step a Ray job."""
import contextlib
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import dagster as dg
from dagster._core.execution.execution_result import ExecutionResult  # both results' base; not exported
from dagster._core.instance.ref import InstanceRef  # the documented way to open an instance by folder

from .deployment import DEFINITIONS_MODULE, check_instance_storage, check_settings, write_instance_yaml
from .settings import PROJECT_ROOT, Settings

ENTRY_TAG, SOURCE_TAG, BATCH_TAG = "spatialmix/entry", "spatialmix/source", "spatialmix/batch"


def open_instance(home: Path, settings: Settings) -> dg.DagsterInstance:
    """The instance in `home`, with the dagster.yaml of the settings' deployment written there (the
    project's dagster.yaml: SQLite in that folder; or PostgreSQL storage, whose server must answer:
    DeploymentError, one line naming the connection, otherwise)."""
    check_settings(settings)
    write_instance_yaml(home, settings)
    check_instance_storage(settings)
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


@dataclass
class StepResult:
    key: str
    partition: str | None
    run_id: str
    metadata: dict = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)


class RunFailed(Exception):
    """A run failed; the message is one line: what, which run, why, and where its log is."""

    def __init__(self, label: str, run_id: str, reason: str, log: Path) -> None:
        super().__init__(f"{label} failed in run {run_id}: {reason} (log: {log})")
        self.run_id, self.log = run_id, log


class _Progress(logging.Formatter):
    """The message as the asset logged it (Dagster's records carry it under `dagster_meta`)."""

    def format(self, record: logging.LogRecord) -> str:
        return "  " + getattr(record, "dagster_meta", {}).get("orig_message", record.getMessage())


@dg.logger(description="The assets' own progress lines on the terminal, without Dagster's step events")
def progress_logger(_init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.getLogger(f"spatialmix.progress.{uuid.uuid4().hex[:8]}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(lambda record: getattr(record, "dagster_meta", {}).get("dagster_event") is None)
    handler.setFormatter(_Progress())
    log.addHandler(handler)
    return log


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def materialize_keys(defs: dg.Definitions, instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey],
                     run_config: dict, log: Callable[[str], None] = print, tags: dict[str, str] | None = None,
                     asset_config: dict[str, dict] | None = None) -> list[StepResult]:
    """Run `keys` (topologically ordered here) one run per asset partition; stop at the first failure
    (`RunFailed`). `asset_config` gives an asset's own config (by asset name), added to the runs of that
    asset only. Every run is tagged with `tags`, a batch id shared by this call, and its asset's source."""
    graph = defs.resolve_asset_graph()
    wanted = set(keys)
    order = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level) if k in wanted]
    job = defs.resolve_implicit_global_asset_job_def()
    on_ray = job.executor_def.name == "ray"
    if not on_ray:  # in-process runs print the assets' own lines here; Ray steps log to their Ray jobs
        job = job.with_logger_defs({"progress": progress_logger})
    batch = {BATCH_TAG: uuid.uuid4().hex[:12], **(tags or {})}
    results = []
    for key in order:
        node = graph.get(key)
        run_tags = batch | ({SOURCE_TAG: node.tags["source"]} if "source" in node.tags else {})
        for partition in (node.partitions_def.get_partition_keys() if node.partitions_def else [None]):
            label = key.to_user_string() + (f"[{partition}]" if partition else "")
            log(f"materializing {label}")
            own = (asset_config or {}).get(key.path[-1])
            config = run_config | ({} if on_ray else {"loggers": {"progress": {}}}) | (
                {"ops": {key.path[-1]: {"config": own}}} if own else {})
            execute = _execute_on_ray if on_ray else _execute_in_process
            with execute(job, config, instance, key, partition, run_tags) as res:
                if not res.success:
                    raise RunFailed(label, res.run_id, _reason(res), write_run_log(instance, res.run_id))
                step = StepResult(key.to_user_string(), partition, res.run_id)
                for event in res.get_asset_materialization_events():
                    step.metadata = {k: _plain(v) for k, v in event.materialization.metadata.items()}
                step.failed_checks = [e.check_name for e in res.get_asset_check_evaluations() if not e.passed]
            if step.failed_checks:
                log(f"  check failed: {', '.join(step.failed_checks)}")
            results.append(step)
    return results


@contextlib.contextmanager
def _execute_in_process(job: dg.JobDefinition, config: dict, instance: dg.DagsterInstance, key: dg.AssetKey,
                        partition: str | None, tags: dict[str, str]) -> Iterator[dg.ExecuteInProcessResult]:
    yield job.execute_in_process(run_config=config, instance=instance, partition_key=partition,
                                 asset_selection=[key], tags=tags, raise_on_error=False)


@contextlib.contextmanager
def _execute_on_ray(job: dg.JobDefinition, config: dict, instance: dg.DagsterInstance, key: dg.AssetKey,
                    partition: str | None, tags: dict[str, str]) -> Iterator[ExecutionResult]:
    """One run with this process as its run worker and the definitions' executor (Ray) running its step:
    the job is reconstructed from the code location, as every step process on the cluster does. Both
    build the definitions from the instance folder's settings: DAGSTER_HOME, Dagster's own variable."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository  # not public in 1.13

    os.environ["DAGSTER_HOME"] = instance.root_directory
    recon = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs", str(PROJECT_ROOT))
    if partition:
        tags = {**tags, **job.get_tags_for_partition_key(partition, selected_asset_keys=[key])}
    with dg.execute_job(recon.get_reconstructable_job(job.name), instance, run_config=config, tags=tags,
                        asset_selection=[key], raise_on_error=False) as result:
        yield result


def _reason(res: ExecutionResult) -> str:
    """The first failed step's reason in one line: a Failure's description, else the root exception."""
    for event in res.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                return " ".join(data.user_failure_data.description.split())
            error = data.error
            while error is not None and error.cause is not None:
                error = error.cause
            if error is not None:
                return " ".join((error.message or error.cls_name or "error").split())
    return "the run failed (see its log)"


def write_run_log(instance: dg.DagsterInstance, run_id: str) -> Path:
    """Every event of the run as text (with error stacks), at `<instance>/logs/<run_id>.log`."""
    dest = Path(instance.root_directory) / "logs" / f"{run_id}.log"
    dest.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
        lines.append(f"{entry.timestamp:.3f} {logging.getLevelName(entry.level)} {entry.step_key or '-'} {kind} "
                     f"{entry.user_message}")
        error = getattr(entry.dagster_event.event_specific_data, "error", None) if entry.dagster_event else None
        if error is not None:
            lines.append(error.to_string())
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(dest)
    return dest
