"""Materialize assets in the project's Dagster instance, the way the CLI and the main job do it:
one run per asset (and per shard for partitioned assets), in dependency order, each recorded in the
instance folder so it shows in `dagster dev`."""
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import dagster as dg
from dagster._core.instance.ref import InstanceRef  # the documented way to open an instance by folder

from .settings import PROJECT_ROOT


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance in `home`, with the project's dagster.yaml in it (SQLite storage in that folder)."""
    home.mkdir(parents=True, exist_ok=True)
    src, dest = PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml"
    if not dest.exists() or dest.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dest)
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


@dataclass
class StepResult:
    key: str
    partition: str | None
    run_id: str
    metadata: dict = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)


# Progress lines are INFO; Dagster's own step events are DEBUG and would bury them on a terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _plain(value: object) -> object:
    return getattr(value, "value", value)


def materialize_keys(defs: dg.Definitions, instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey],
                     run_config: dict, log: Callable[[str], None] = print, tags: dict[str, str] | None = None,
                     asset_config: dict[str, dict] | None = None) -> list[StepResult]:
    """Run `keys` (topologically ordered here) one run per asset partition; stop at the first failure.
    `asset_config` gives an asset's own config (by asset name), added to the runs of that asset only."""
    graph = defs.resolve_asset_graph()
    wanted = set(keys)
    order = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level) if k in wanted]
    job = defs.resolve_implicit_global_asset_job_def()
    results = []
    for key in order:
        pdef = graph.get(key).partitions_def
        for partition in (pdef.get_partition_keys() if pdef else [None]):
            label = key.to_user_string() + (f"[{partition}]" if partition else "")
            log(f"materializing {label}")
            own = (asset_config or {}).get(key.path[-1])
            config = run_config | QUIET | ({"ops": {key.path[-1]: {"config": own}}} if own else {})
            res = job.execute_in_process(run_config=config, instance=instance, partition_key=partition,
                                         asset_selection=[key], tags=tags or {}, raise_on_error=True)
            step = StepResult(key.to_user_string(), partition, res.run_id)
            for event in res.get_asset_materialization_events():
                step.metadata = {k: _plain(v) for k, v in event.materialization.metadata.items()}
            for evaluation in res.get_asset_check_evaluations():
                if not evaluation.passed:
                    step.failed_checks.append(evaluation.check_name)
            if step.failed_checks:
                log(f"  check failed: {', '.join(step.failed_checks)}")
            results.append(step)
    return results
