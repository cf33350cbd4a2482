"""What an evaluation run takes: generation settings, presets per finetune preset, the default baseline.

Kept free of heavy imports: the Dagster definitions derive the `evaluate` asset's config from it."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

BASELINE = "llava-hf/llava-1.5-7b-hf"


@dataclass(frozen=True)
class GenerationConfig:
    batch_size: int = 8
    max_new_tokens: int = 64     # answers are one sentence; Spatial-LLaVA's eval allowed 128
    shard_size: int = 256
    device: str = "auto"         # auto: cuda when available
    dtype: str = "bfloat16"      # on GPU; CPU runs in float32
    revision: str | None = None  # hub revision of the checkpoint (a commit pins it)

    def key(self) -> dict[str, Any]:
        """Everything, batch size included: in bf16 a batch's padding can move the last bits of the
        logits, so answers are only reused from the same batching."""
        return asdict(self)


@dataclass(frozen=True)
class EvalPreset:
    """What one evaluation takes, per finetune preset."""

    generation: GenerationConfig
    rendered_scenes: int  # held-out scenes (at most one question per category each)


# The 7B preset answers in one sentence (Spatial-LLaVA allowed 128 new tokens, 64 bound ours). The tiny
# preset's random model answers with noise that never stops early: a short budget and two scenes are
# enough to prove the path and keep `make sample` short.
EVAL_PRESETS = {"llava-1.5-7b": EvalPreset(GenerationConfig(batch_size=16), 100),
                "tiny": EvalPreset(GenerationConfig(batch_size=8, max_new_tokens=12), 2)}
