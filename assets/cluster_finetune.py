"""The `finetune` asset with launcher "ray": dagster-ray's Pipes client submits `python -m trainer.ray_train`
as a Ray job (Ray Train places the ranks on the GPU nodes; docs/deploy.md says why not the deepspeed
launcher over SSH). Rank 0 writes its Pipes messages to a file in the shared output folder, read here:
Ray Train workers' stdout reaches the job log only with a per-worker prefix, which would hide them.
ZeRO-3 configs train on GPU ranks; the others (the tiny preset) on CPU ranks."""
from __future__ import annotations

import shlex
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.pipes.client import PipesClientCompletedInvocation

from pipeline.atomic import write_text
from trainer.config import TrainConfig, to_argv
from trainer.logtee import tail

if TYPE_CHECKING:
    from dagster_ray import PipesRayJobClient


def ray_train_entrypoint(config: TrainConfig, workers: int) -> str:
    # A GPU rank also feeds its data loader: one CPU for the rank plus one per loader process.
    cpus = 1 + config.dataloader_workers
    args = [sys.executable, "-m", "trainer.ray_train", "--workers", str(workers), "--cpus_per_worker", str(cpus),
            *(["--use_gpu"] if config.zero3 else []), "--", *to_argv(config)]
    return shlex.join(args)


def finetune_on_ray(context: dg.AssetExecutionContext, config: TrainConfig, workers: int, address: str,
                    log: Path) -> PipesClientCompletedInvocation:
    """Run the finetune as a Ray job on the cluster at `address`; the job's log is copied to `log` at
    the end, and a failure carries its tail."""
    from dagster_ray import PipesRayJobClient

    log.parent.mkdir(parents=True, exist_ok=True)
    messages = log.with_suffix(".pipes.jsonl")
    submission_id = f"finetune-{context.run.run_id[:8]}-{uuid.uuid4().hex[:6]}"
    client = PipesRayJobClient(address=address, message_reader=dg.PipesFileMessageReader(str(messages)),
                               poll_interval=2)
    entrypoint = ray_train_entrypoint(config, workers)
    context.log.info(f"submitting Ray job {submission_id}: {entrypoint}")
    try:
        # No entrypoint resources: the driver only coordinates; the ranks hold the CPUs/GPUs.
        invocation = client.run(context=context, submit_job_params={"entrypoint": entrypoint,
                                                                    "submission_id": submission_id})
    except RuntimeError as exc:
        _save_log(client, submission_id, log)
        raise dg.Failure(description=f"training failed on Ray: {exc}\n--- log tail ({log}) ---\n{tail(log)}",
                         metadata={"log": dg.MetadataValue.path(str(log))}) from exc
    _save_log(client, submission_id, log)
    return invocation


def _save_log(client: "PipesRayJobClient", submission_id: str, log: Path) -> None:
    try:
        text = client.client.get_job_logs(submission_id)
    except RuntimeError as err:  # the job never started
        text = f"(no Ray job log: {err})"
    write_text(log, text)
