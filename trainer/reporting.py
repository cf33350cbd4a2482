"""Progress and final metrics: to the log always, and to Dagster through Pipes when Dagster launched
us. Only global rank 0 opens Pipes (all ranks inherit the same Pipes env; several writers would
interleave one message stream)."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Iterator

from transformers import TrainerCallback

from trainer import distributed

_log = logging.getLogger("spatialmix.trainer")


def is_rank_zero() -> bool:
    return distributed.rank() == 0


@contextlib.contextmanager
def open_reporter() -> Iterator["Reporter"]:
    """A Reporter bound to Dagster Pipes on rank 0 of a Pipes-launched process, else log-only.
    Open it after `distributed.join_process_group()`, so every rank knows whether it is rank 0."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if is_rank_zero() and PipesEnvVarParamsLoader().is_dagster_pipes_process():
        with open_dagster_pipes() as pipes:
            yield Reporter(pipes)
    else:
        yield Reporter(None)


class Reporter:
    def __init__(self, pipes: Any | None) -> None:
        self.pipes = pipes
        self.active = is_rank_zero()

    def info(self, message: str) -> None:
        if not self.active:
            return
        _log.info(message)
        if self.pipes is not None:
            self.pipes.log.info(message)

    def progress(self, payload: dict[str, Any]) -> None:
        if self.pipes is not None:
            self.pipes.report_custom_message({"kind": "progress", **payload})

    def final(self, metrics: dict[str, Any]) -> None:
        if not self.active:
            return
        self.info("final metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items() if k != "loss_curve"))
        if self.pipes is not None:
            self.pipes.report_asset_materialization(metadata={
                k: {"raw_value": v, "type": "json"} if isinstance(v, (list, dict)) else v
                for k, v in metrics.items()})


class ProgressCallback(TrainerCallback):
    """Collects the loss curve and reports each logged step (step, loss, lr, tokens/s per GPU, ETA)."""

    def __init__(self, reporter: Reporter, world_size: int, tokens_seen: Callable[[], int]) -> None:
        self.reporter, self.world_size, self.tokens_seen = reporter, world_size, tokens_seen
        self.loss_curve: list[tuple[int, float]] = []
        self._t0 = time.monotonic()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._t0 = time.monotonic()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not logs or "loss" not in logs:
            return
        tokens = self.tokens_seen()  # collective: every rank runs on_log for the same steps
        if not is_rank_zero():  # torch.distributed's rank: the Trainer's own view can miss ranks on CPU
            return
        loss = float(logs["loss"])
        self.loss_curve.append((state.global_step, loss))
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        tokens_per_gpu = tokens / elapsed / self.world_size
        eta = elapsed / max(state.global_step, 1) * (state.max_steps - state.global_step)
        self.reporter.info(f"step {state.global_step}/{state.max_steps} loss {loss:.4f} "
                           f"lr {logs.get('learning_rate', 0):.3g} {tokens_per_gpu:,.0f} tok/s/GPU "
                           f"ETA {eta / 60:.1f} min")
        self.reporter.progress({"step": state.global_step, "max_steps": state.max_steps, "loss": loss,
                                "tokens_per_second_per_gpu": tokens_per_gpu})
