"""The `finetune` asset: launches trainer.train (python or the deepspeed launcher, or under deployment
"ray" Ray Train ranks on the cluster: `assets/cluster_finetune.py`) through Dagster Pipes. Rank 0
streams progress and the final metrics back; a failed run fails the asset with the
tail of its log. Training only starts on purpose: materialize `finetune`, run the `train` job, or
turn on the opt-in sensor that follows new `mixture` materializations.

Before anything is launched, everything knowable is checked and a launch bound to fail is refused in
seconds with every reason at once: the mixture's checks (blocking, `assets/mixture_checks.py`) passed
on the mixture it would train on, the starting weights are on this machine, the GPU count fits the
launcher, the batch divides (`trainer.preflight`).

The asset's config is derived from the trainer's own `TrainConfig`: every training field can be
overridden for one run (empty = the preset's value), so the two never drift apart."""

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError  # not re-exported at top level in 1.13

from assets import versions
from assets.catalog import describe
from assets.cluster import RayPlacement
from assets.lib import choices, config_from, metadata, picture, rows_table
from assets.mixture_checks import MIXTURE_CHECKS
from assets.resources import Workspace
from assets.settings import PROJECT_ROOT
from trainer.config import PRESETS, TrainConfig
from trainer.launch import LAUNCHERS, RAY

if TYPE_CHECKING:
    from dagster._core.pipes.client import PipesClientCompletedInvocation

# The data root is the image folder; `mixture` and `output_dir` default to the layout's paths.
_RESOLVED = {"image_folder"}
Preset = choices("Preset", PRESETS)


def finetune_config(launchers: tuple[str, ...]) -> type[dg.Config]:
    """The finetune's config: every TrainConfig field as an optional override, and the launch choices."""
    launcher_help = "'deepspeed' (one process per GPU) or 'python' (one process)"
    if RAY in launchers:
        launcher_help = "'deepspeed' (one process per GPU), 'python' (one process) or 'ray' (Ray Train ranks on the cluster)"
    return config_from("FinetuneConfig", TrainConfig, exclude=_RESOLVED, optional=True, extra={
        "preset": (Optional[Preset], None, "training preset; empty: the workspace's (settings file)"),
        "launcher": (Optional[choices("Launcher", launchers)], None, f"{launcher_help}; empty: the workspace's"),
        "num_gpus": (int, 0, "GPUs per node for the deepspeed launcher (ranks in all for 'ray'); 0: every GPU present"),
        "hostfile": (str, "", "multi-node: a DeepSpeed hostfile ('host slots=8' per line)"),
    })


def _mixture(context: dg.AssetExecutionContext, config: dg.Config) -> tuple[Path | None, list[str]]:
    """The mixture to train on and what stands in the way: by default the latest `mixture`
    materialization's JSON, whose blocking checks must have passed on that very materialization (a
    WARN is logged, an ERROR refuses). An explicit `config.mixture` file is taken as it is."""
    if config.mixture:
        return Path(config.mixture), []
    latest = context.instance.fetch_materializations(dg.AssetKey("mixture"), limit=1).records
    if not latest or latest[0].asset_materialization is None:
        return None, ["`mixture` has no materialization in this instance: materialize it (its checks must pass) "
                      "or name a mixture file in config.mixture"]
    record = latest[0]
    path = Path(str(record.asset_materialization.metadata["json_path"].value))
    problems = []
    for name in MIXTURE_CHECKS:
        found = context.instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey("mixture"), name))
        evaluation = found.event.asset_check_evaluation if found and found.event else None
        target = evaluation.target_materialization_data if evaluation else None
        if evaluation is None or target is None or target.storage_id != record.storage_id:
            problems.append(f"mixture check `{name}` has not run on the latest mixture: execute it from the "
                            "mixture's Checks tab, or materialize `mixture` again")
        elif not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            problems.append(f"mixture check `{name}` failed on the latest mixture (see the mixture's Checks tab)")
        elif not evaluation.passed:
            context.log.warning(f"mixture check `{name}` warns on the latest mixture; training anyway")
    return path, problems


def _refuse(problems: list[str]) -> dg.Failure:
    return dg.Failure(description="finetune cannot start:\n" + "\n".join(f"- {p}" for p in problems),
                      metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems))},
                      allow_retries=False)


def finetune_asset(ray: RayPlacement = RayPlacement()) -> dg.AssetsDefinition:
    """The `finetune` asset; under deployment "ray" its launchers include 'ray'."""
    FinetuneConfig = finetune_config((*LAUNCHERS, RAY) if ray.enabled else LAUNCHERS)

    @dg.asset(
        key="finetune", group_name="training", pool="gpu", deps=[dg.AssetKey("mixture")],
        description="LLaVA-1.5 stage-2 finetune on the mixture (DeepSpeed ZeRO-3); metadata: loss curve (picture "
                    "and table), tokens/s per GPU, steps, checkpoint path.",
        **describe("training", {"pytorch", "deepspeed"}),
    )
    def finetune(context: dg.AssetExecutionContext, config: FinetuneConfig,  # type: ignore[valid-type]
                 workspace: Workspace) -> dg.MaterializeResult:
        return _finetune(context, config, workspace)
    return finetune


def _finetune(context: dg.AssetExecutionContext, config: dg.Config, workspace: Workspace) -> dg.MaterializeResult:
    from pipeline.digests import sha256_file
    from trainer.config import preset_config
    from trainer.launch import training_command
    from trainer.preflight import LaunchError, check_launch

    layout = workspace.layout()
    preset = config.preset.value if config.preset else workspace.finetune_preset
    if preset not in PRESETS:
        raise _refuse([f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}"])
    mixture, problems = _mixture(context, config)
    if mixture is None or not mixture.is_file():
        raise _refuse(problems + ([f"mixture {mixture}: no such file"] if mixture else []))
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name not in ("mixture", "output_dir", *_RESOLVED) and getattr(config, f.name) is not None}
    train_config = preset_config(preset, str(mixture.resolve()), str(layout.data_root), "", **overrides)
    output_dir = Path(config.output_dir or layout.checkpoints(mixture, sha256_file(mixture), train_config.profile))
    train_config = dataclasses.replace(train_config, output_dir=str(output_dir.resolve()))
    requested = config.launcher.value if config.launcher else workspace.launcher
    hostfile = config.hostfile or None
    launch = None
    if requested == RAY and workspace.deployment != "ray":
        problems.append("launcher 'ray' trains through Ray Train on the Ray cluster: it needs deployment 'ray'")
    else:
        try:
            launch = check_launch(train_config, requested, config.num_gpus, hostfile,
                                  _gpus(train_config, requested, hostfile, workspace.ray_address))
        except LaunchError as err:
            problems += err.problems
    if problems or launch is None:
        raise _refuse(problems)
    log = output_dir / "logs" / f"{context.run.run_id}.log"
    if launch.launcher == RAY:
        from assets.cluster_finetune import finetune_on_ray

        invocation = finetune_on_ray(context, train_config, launch.world_size, workspace.ray_address, log)
    else:
        invocation = _run_here(context, training_command(train_config, launch.launcher, launch.num_gpus, hostfile), log)
    reported = invocation.get_materialize_result()
    return dg.MaterializeResult(metadata=_metrics_metadata(reported.metadata or {}, output_dir, log, launch.launcher),
                                data_version=versions.of_files([output_dir / "train_metrics.json"]))


def _gpus(train_config: TrainConfig, launcher: str, hostfile: str | None, ray_address: str) -> int:
    """The GPUs a launch can use, asked only where it matters: the Ray cluster's for ZeRO-3 ranks on
    Ray, this machine's for the deepspeed launcher without a hostfile."""
    from trainer.launch import choose_launcher
    from trainer.preflight import gpus_present

    if launcher == RAY:
        if not train_config.zero3:
            return 0
        from assets.cluster import cluster_gpus

        return cluster_gpus(ray_address)
    if launcher in LAUNCHERS and choose_launcher(train_config, launcher) == "deepspeed" and not hostfile:
        return gpus_present()
    return 0


def _run_here(context: dg.AssetExecutionContext, command: list[str], log: Path) -> "PipesClientCompletedInvocation":
    """The launcher's command in a subprocess on this machine, its output copied to `log`."""
    from trainer.logtee import tail

    context.log.info(f"launching: {' '.join(command)}")
    client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT), env={
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))})
    try:
        return client.run(context=context, command=[sys.executable, "-m", "trainer.logtee", str(log), "--", *command])
    except DagsterPipesExecutionError as exc:
        raise dg.Failure(description=f"training failed: {exc}\n--- log tail ({log}) ---\n{tail(log)}",
                         metadata={"log": dg.MetadataValue.path(str(log))}) from exc


def _metrics_metadata(reported: dict, output_dir: Path, log: Path, launcher: str) -> dict:
    """Rank 0's final metrics as the asset's metadata: the loss curve as a picture and a table."""
    from trainer.plots import write_loss_curve

    raw = {k: getattr(v, "value", v) for k, v in reported.items()}
    curve = raw.pop("loss_curve", None) or []
    out = metadata({**raw, "checkpoint": Path(raw["checkpoint"]) if raw.get("checkpoint") else None,
                    "log": log, "launcher": launcher, "output_dir": output_dir})
    if curve:
        png = write_loss_curve(curve, output_dir / "loss_curve.png")
        out["loss_curve"] = picture(png.read_bytes(), "image/png", "loss curve")
        out["loss_curve_png"] = dg.MetadataValue.path(str(png))
        out["loss_by_step"] = rows_table([{"step": int(s), "loss": float(v)} for s, v in curve])
    return out


train = dg.define_asset_job("train", selection=dg.AssetSelection.assets("finetune"),
                            description="Stage-2 finetune on the current mixture.")


@dg.asset_sensor(asset_key=dg.AssetKey("mixture"), job=train, name="train_on_new_mixture",
                 default_status=dg.DefaultSensorStatus.STOPPED, minimum_interval_seconds=300)
def train_on_new_mixture(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.RunRequest:
    """Opt-in: a new `mixture` materialization starts one training run (off until switched on)."""
    return dg.RunRequest(run_key=f"mixture-{asset_event.run_id}-{asset_event.timestamp}")
