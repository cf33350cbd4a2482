"""The `finetune` asset: launches trainer.train (python or the deepspeed launcher) through Dagster
Pipes. Rank 0 streams progress and the final metrics back; a failed run fails the asset with the
tail of its log. Training only starts on purpose: materialize `finetune`, run the `train` job, or
turn on the opt-in sensor that follows new `mixture` materializations."""

import os
import sys
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterPipesExecutionError  # not re-exported at top level in 1.13

from assets.resources import Workspace
from pipeline.fetch import sha256_file
from trainer.config import PRESETS, preset_config
from trainer.launch import training_command
from trainer.logtee import tail

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class FinetuneConfig(dg.Config):
    preset: str = "llava-1.5-7b"  # or "tiny": random small Llava, CPU, a few steps (the embedded sample)
    mixture: str = ""  # default: <data_root>/../mixtures/spatial_llava/spatial_llava.json
    output_dir: str = ""  # default: <data_root>/../checkpoints/finetune/<mixture stem>-<sha256[:12]>
    launcher: str = "deepspeed"  # "deepspeed" (one process per GPU) or "python" (one process)
    num_gpus: int = 8
    hostfile: str = ""  # multi-node: a DeepSpeed hostfile ("host slots=8" per line)
    model: str | None = None  # "assemble", "tiny" or a llava-hf checkpoint; None: the preset's
    llm: str | None = None
    vision: str | None = None
    projector: str | None = None
    global_batch: int | None = None
    per_device_batch: int | None = None
    learning_rate: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    dataloader_workers: int | None = None


def _overrides(config: FinetuneConfig) -> dict[str, object]:
    names = ("model", "llm", "vision", "projector", "global_batch", "per_device_batch",
             "learning_rate", "epochs", "max_steps", "dataloader_workers")
    return {n: getattr(config, n) for n in names if getattr(config, n) is not None}


@dg.asset(
    key="finetune", group_name="training", pool="gpu", deps=[dg.AssetKey("mixture")],
    kinds={"pytorch", "deepspeed"},
    description="LLaVA-1.5 stage-2 finetune on the mixture (DeepSpeed ZeRO-3); metadata: loss curve, "
                "tokens/s per GPU, steps, checkpoint path.",
)
def finetune(context: dg.AssetExecutionContext, config: FinetuneConfig,
             workspace: Workspace) -> dg.MaterializeResult:
    layout = workspace.layout()
    mixture = Path(config.mixture or layout.data_root.parent / "mixtures/spatial_llava/spatial_llava.json")
    if not mixture.is_file():
        raise dg.Failure(f"mixture not found at {mixture}; materialize `mixture` or set config.mixture")
    # Keyed by the mixture's content: a rerun on the same mixture resumes its checkpoints, a new
    # mixture (e.g. from the sensor) starts fresh instead of resuming the previous one's.
    output_dir = Path(config.output_dir or layout.data_root.parent / "checkpoints/finetune" /
                      f"{mixture.stem}-{sha256_file(mixture)[:12]}").resolve()
    if config.preset not in PRESETS:
        raise dg.Failure(f"unknown preset {config.preset!r}; choose one of {sorted(PRESETS)}")
    train_config = preset_config(config.preset, str(mixture.resolve()), str(layout.data_root),
                                 str(output_dir), **_overrides(config))
    launcher = "python" if config.preset == "tiny" else config.launcher
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


defs = dg.Definitions(assets=[finetune], jobs=[train], sensors=[train_on_new_mixture])
