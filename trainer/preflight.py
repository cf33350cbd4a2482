"""What can be known before a finetune starts, checked before it starts: a launch that is bound to fail
(no projector for `assemble`, weights that are not on this machine, more GPUs asked than present, a
batch split that does not divide, a missing hostfile) is refused in seconds with every reason at
once, instead of failing minutes later inside the launcher."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer.config import TrainConfig
from trainer.launch import LAUNCHERS, RAY, choose_launcher


@dataclass(frozen=True)
class Launch:
    """The launch the checks cleared: the launcher actually used and the processes it starts."""

    launcher: str
    num_gpus: int
    world_size: int


class LaunchError(ValueError):
    """The launch would fail; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def gpus_present() -> int:
    """CUDA devices this process can use (CUDA_VISIBLE_DEVICES applies, as it will for training)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def hostfile_slots(path: Path) -> int:
    """Total `slots=N` of a DeepSpeed hostfile (`host slots=N` per line, `#` comments)."""
    total = 0
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        if not fields.get("slots", "").isdigit():
            raise ValueError(f"{path}:{n}: expected 'host slots=N', got {line!r}")
        total += int(fields["slots"])
    return total


def _weights_problem(ref: str, what: str) -> str | None:
    """None when `ref` (a local folder or a hub id) has its weights on this machine."""
    path = Path(ref)
    if path.is_dir():
        return None if (path / "config.json").is_file() else f"{what} {ref}: folder has no config.json"
    if path.is_absolute() or ref.startswith(".") or ref.count("/") != 1:
        return f"{what} {ref}: no such folder"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(ref, "config.json"), str):
        return None
    return f"{what} {ref}: not in the Hugging Face cache of this machine (fetch it first: `hf download {ref}`)"


def weight_problems(config: TrainConfig) -> list[str]:
    """Missing starting weights. A run that already finished, or whose starting checkpoint was already
    built (`<output_dir>/init`), needs none of them."""
    out = Path(config.output_dir)
    if (out / "final").is_dir() and (out / "train_metrics.json").is_file():
        return []
    if config.model == "tiny" or (config.model == "assemble" and (out / "init" / "config.json").is_file()):
        return []
    if config.model != "assemble":
        return [p for p in [_weights_problem(config.model, "model")] if p]
    problems = []
    if not config.projector:
        problems.append("model 'assemble' needs `projector`: the stage-1 mm_projector.bin (stage 2 starts "
                        "from a pretrained projector)")
    elif not Path(config.projector).is_file():
        problems.append(f"projector {config.projector}: no such file")
    problems += [p for p in (_weights_problem(config.llm, "llm"), _weights_problem(config.vision, "vision")) if p]
    return problems


def _ray_world(config: TrainConfig, num_gpus: int, hostfile: str | None, gpus: int, problems: list[str]) -> int:
    """Ranks of a Ray Train launch: one per GPU of the cluster (`gpus`: how many it has) under ZeRO-3,
    else `num_gpus` CPU ranks (the tiny preset's smoke run)."""
    if hostfile:
        problems.append("a hostfile is for the deepspeed launcher; Ray Train places the ranks itself")
    if not config.zero3:
        return max(num_gpus, 1)
    if gpus == 0:
        problems.append("launcher 'ray' with ZeRO-3 trains on GPU nodes and the Ray cluster has none")
        return 0
    if num_gpus > gpus:
        problems.append(f"num_gpus {num_gpus} but the Ray cluster has {gpus} GPU(s)")
    return num_gpus or gpus


def _local_world(launcher: str, num_gpus: int, hostfile: str | None, gpus: int, problems: list[str]) -> int:
    """Processes of a launch on this machine (or the hostfile's nodes)."""
    if launcher != "deepspeed":
        if num_gpus > 1:
            problems.append(f"num_gpus {num_gpus} needs the deepspeed launcher (launcher 'python' runs one process)")
        return 1
    if hostfile:
        try:
            world = hostfile_slots(Path(hostfile))
        except (OSError, ValueError) as err:
            problems.append(f"hostfile: {err}")
            return 0
        if world == 0:
            problems.append(f"hostfile {hostfile} lists no slots")
        return world
    if gpus == 0:
        problems.append("the deepspeed launcher needs CUDA GPUs and this machine has none (the `tiny` "
                        "preset with launcher 'python' trains on CPU)")
        return 1
    num_gpus = num_gpus or gpus
    if num_gpus > gpus:
        problems.append(f"num_gpus {num_gpus} but this machine has {gpus} GPU(s)")
    return num_gpus


def check_launch(config: TrainConfig, launcher: str, num_gpus: int, hostfile: str | None,
                 gpus: int) -> Launch:
    """The launch to run, or a LaunchError naming every problem. `num_gpus` 0 means every GPU present;
    `gpus` is how many are present (see `gpus_present`; for launcher 'ray': in the Ray cluster)."""
    problems = []
    if launcher not in (*LAUNCHERS, RAY):
        raise LaunchError([f"launcher must be one of {(*LAUNCHERS, RAY)}, got {launcher!r}"])
    if not Path(config.mixture).is_file():
        problems.append(f"mixture {config.mixture}: no such file")
    problems += weight_problems(config)
    if launcher == RAY:
        world = _ray_world(config, num_gpus, hostfile, gpus, problems)
    else:
        launcher = choose_launcher(config, launcher)
        world = _local_world(launcher, num_gpus, hostfile, gpus, problems)
    if world > 0:
        try:
            config.gradient_accumulation(world)
        except ValueError as err:
            problems.append(str(err))
    if problems:
        raise LaunchError(problems)
    spread = launcher == RAY or (launcher == "deepspeed" and not hostfile)  # else: one process, or the hostfile's
    return Launch(launcher, world if spread else 1, world)
