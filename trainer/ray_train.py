"""The finetune on a Ray cluster: `python -m trainer.ray_train --workers N [--use_gpu] -- <trainer.train
arguments>`, run as a Ray job. Ray Train's TorchTrainer places one worker per GPU (or per CPU slot) on
the cluster's nodes, sets the torchrun environment in each (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT) and opens the process group; every worker then runs `trainer.train.run`, the same
code path as under the deepspeed launcher, ZeRO-3 included. Nothing needs SSH between nodes or a
hostfile. Rank 0 reports to Dagster through Pipes when the job carries a Pipes context; the outputs,
checkpoints and resume logic are trainer.train's, on the shared output folder."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainer.config import parse_args


def _train_worker(loop_config: dict[str, Any]) -> None:
    """One rank: the process group and the torchrun variables are already set up by Ray Train."""
    from trainer.reporting import open_reporter
    from trainer.train import run

    with open_reporter() as reporter:
        run(parse_args(loop_config["argv"]), reporter)


def launch(train_argv: list[str], workers: int, use_gpu: bool, cpus_per_worker: float,
           max_failures: int = 0) -> None:
    """Fit on the connected cluster; raises when training fails after `max_failures` restarts (a
    restarted worker group resumes from the newest checkpoint in the output folder)."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    config = parse_args(train_argv)  # refuse bad arguments here, before any worker starts
    out = Path(config.output_dir).resolve()
    # CPU ranks without ZeRO-3: accelerate must be told (ACCELERATE_USE_CPU, in the ranks' runtime
    # environment), else it sees no GPU and no CPU flag, makes every rank a lone process, and the HF
    # Trainer skips DDP: the ranks would train unsynchronized copies.
    cpu_ddp = not use_gpu and not config.zero3
    ray.init(address="auto", log_to_driver=True,
             runtime_env={"env_vars": {"ACCELERATE_USE_CPU": "true"}} if cpu_ddp else None)
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"argv": train_argv},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}),
        # Ray Train's own run state lives beside the checkpoints, on the shared file system.
        run_config=RunConfig(name="ray_train", storage_path=str(out.parent / f"{out.name}.ray"),
                             failure_config=FailureConfig(max_failures=max_failures)),
    )
    trainer.fit()


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m trainer.ray_train --workers N [--use_gpu] [--cpus_per_worker C] "
              "[--max_failures F] -- <trainer.train arguments>", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m trainer.ray_train")
    parser.add_argument("--workers", type=int, required=True, help="ranks: one per GPU (or CPU slot)")
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--cpus_per_worker", type=float, default=1.0)
    parser.add_argument("--max_failures", type=int, default=0)
    ns = parser.parse_args(argv[:split])
    launch(argv[split + 1:], ns.workers, ns.use_gpu, ns.cpus_per_worker, ns.max_failures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
