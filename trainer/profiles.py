"""Training profiles. `llava15` (the default) reproduces LLaVA-1.5's stage-2 finetune: its token stream,
label mask, loss and optimisation. `improved` switches on named departures, each documented with its
reason and measured effect in docs/trainer.md. Everything not listed here is the same in both."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # Tokenize the whole prompt in one pass, as llava-hf's LlavaProcessor does at inference, and
    # supervise by character offsets; else LLaVA's per-chunk, per-round token arithmetic.
    one_pass_tokens: bool
    # Loss = mean over every supervised token of the global batch; else LLaVA's per-micro-batch
    # token mean, averaged over accumulation steps and ranks.
    global_token_mean: bool
    # Softmax over llava-hf's whole padded table (32064 rows); else over the LLM's own vocabulary
    # (32000 for Vicuna), as LLaVA-1.5's model has no other rows.
    padded_vocab_softmax: bool
    # Gradient-norm clipping; 0 disables it (LLaVA's zero3.json sets none, DeepSpeed's default is 0).
    max_grad_norm: float


PROFILES = {
    "llava15": Profile("llava15", one_pass_tokens=False, global_token_mean=False, padded_vocab_softmax=False,
                       max_grad_norm=0.0),
    "improved": Profile("improved", one_pass_tokens=True, global_token_mean=True, padded_vocab_softmax=True,
                        max_grad_norm=1.0),
}
DEFAULT_PROFILE = "llava15"


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown training profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]
