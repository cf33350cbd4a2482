"""The `finetune` asset: launches trainer.train (python or the deepspeed launcher) through Dagster
Pipes. Rank 0 streams progress and the final metrics back; a failed run fails the asset with the
tail of its log. Training only starts on purpose: materialize `finetune`, run the `train` job, or
turn on the opt-in sensor that follows new `mixture` materializations.

The asset's config is derived from the trainer's own `TrainConfig`: every training field can be
overridden for one run (empty = the preset's value), so the two never drift apart."""

import dataclasses
import os
import sys
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError  # not re-exported at top level in 1.13

from assets.lib import config_from
from assets.resources import Workspace
from assets.settings import PROJECT_ROOT, resolve_recipe
from trainer.config import TrainConfig

# The data root is the image folder; `mixture` and `output_dir` default to the layout's paths.
_RESOLVED = {"image_folder"}

FinetuneConfig = config_from("FinetuneConfig", TrainConfig, exclude=_RESOLVED, optional=True, extra={
    "preset": (str, "", "'llava-1.5-7b' or 'tiny'; empty: the workspace's"),
    "launcher": (str, "", "'deepspeed' or 'python'; empty: the workspace's"),
    "num_gpus": (int, 8, "GPUs per node for the deepspeed launcher"),
    "hostfile": (str, "", "multi-node: a DeepSpeed hostfile ('host slots=8' per line)"),
})


@dg.asset(
    key="finetune", group_name="training", pool="gpu", deps=[dg.AssetKey("mixture")],
    kinds={"pytorch", "deepspeed"},
    description="LLaVA-1.5 stage-2 finetune on the mixture (DeepSpeed ZeRO-3); metadata: loss curve, "
                "tokens/s per GPU, steps, checkpoint path.",
)
def finetune(context: dg.AssetExecutionContext, config: FinetuneConfig,  # type: ignore[valid-type]
             workspace: Workspace) -> dg.MaterializeResult:
    from pipeline.digests import sha256_file
    from pipeline.recipe import load as load_recipe
    from trainer.config import PRESETS, preset_config
    from trainer.launch import choose_launcher, training_command
    from trainer.logtee import tail

    layout = workspace.layout()
    preset = config.preset or workspace.finetune_preset
    if preset not in PRESETS:
        raise dg.Failure(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if config.mixture:
        mixture = Path(config.mixture)
    else:  # the workspace recipe's mixture
        mixture = layout.mixture_json(load_recipe(resolve_recipe(workspace.recipe, Path.cwd())).name)
    if not mixture.is_file():
        raise dg.Failure(f"mixture not found at {mixture}; materialize `mixture` or set config.mixture")
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name not in ("mixture", "output_dir", *_RESOLVED) and getattr(config, f.name) is not None}
    train_config = preset_config(preset, str(mixture.resolve()), str(layout.data_root), "", **overrides)
    output_dir = Path(config.output_dir or layout.checkpoints(mixture, sha256_file(mixture), train_config.profile))
    train_config = dataclasses.replace(train_config, output_dir=str(output_dir.resolve()))
    launcher = choose_launcher(train_config, config.launcher or workspace.launcher)
    command = training_command(train_config, launcher, config.num_gpus, config.hostfile or None)
    log = output_dir / "logs" / f"{context.run.run_id}.log"
    context.log.info(f"launching: {' '.join(command)}")
    client = dg.PipesSubprocessClient(cwd=str(PROJECT_ROOT), env={
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))})
    try:
        invocation = client.run(context=context, command=[
            sys.executable, "-m", "trainer.logtee", str(log), "--", *command])
    except DagsterPipesExecutionError as exc:
        raise dg.Failure(description=f"training failed: {exc}\n--- log tail ({log}) ---\n{tail(log)}",
                         metadata={"log": dg.MetadataValue.path(str(log))}) from exc
    reported = invocation.get_materialize_result()
    metrics = dict(reported.metadata or {})
    curve = metrics.get("loss_curve")
    rows = curve.value if isinstance(curve, dg.JsonMetadataValue) else []
    metrics["loss_table"] = dg.MetadataValue.md(
        "| step | loss |\n|---|---|\n" + "\n".join(f"| {s} | {l:.4f} |" for s, l in rows[-50:]))
    metrics["log"] = dg.MetadataValue.path(str(log))
    metrics["launcher"] = launcher
    return dg.MaterializeResult(metadata=metrics)


train = dg.define_asset_job("train", selection=dg.AssetSelection.assets("finetune"),
                            description="Stage-2 finetune on the current mixture.")


@dg.asset_sensor(asset_key=dg.AssetKey("mixture"), job=train, name="train_on_new_mixture",
                 default_status=dg.DefaultSensorStatus.STOPPED, minimum_interval_seconds=300)
def train_on_new_mixture(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.RunRequest:
    """Opt-in: a new `mixture` materialization starts one training run (off until switched on)."""
    return dg.RunRequest(run_key=f"mixture-{asset_event.run_id}-{asset_event.timestamp}")
