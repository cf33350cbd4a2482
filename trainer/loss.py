"""The training loss, computed here rather than inside the model so the profile decides its two degrees
of freedom: which vocabulary rows take part in the softmax, and what the token mean runs over."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from trainer.conversation import IGNORE_INDEX


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int | None = None,
                   num_items: torch.Tensor | int | None = None) -> torch.Tensor:
    """Next-token cross-entropy in float32, as LLaVA-1.5's LlamaForCausalLM computes it.

    `vocab_size`: softmax over the first `vocab_size` rows only (None: all of them). A llava-hf model
    has 32064 rows, LLaVA-1.5's 32000; the extra rows are never a label, so leaving them out of the
    softmax is exactly LLaVA's loss and gradient. `num_items`: divide the summed loss by this count
    (the global batch's supervised tokens); None: the mean over this micro-batch's supervised tokens."""
    logits = logits[:, :-1, :vocab_size].float()
    targets = labels[:, 1:].to(logits.device)
    flat_logits, flat_targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    if num_items is None:
        return F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE_INDEX)
    return F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE_INDEX, reduction="sum") / num_items


def blank_image_term(llava: Any) -> torch.Tensor:
    """0 x the projected features of one blank image: added to the loss of a micro-batch without images
    so that the vision tower and the projector run, forward and backward, on every rank at every step,
    as in LLaVA (which feeds each text-only sample a blank image and drops its features). Under ZeRO-3
    a rank that skipped them would wait forever for the others' parameter gathers and gradient reductions."""
    config = llava.config
    size = config.vision_config.image_size
    tower = llava.model.vision_tower
    blank = torch.zeros(1, 3, size, size, dtype=tower.dtype, device=tower.device)
    features = llava.model.get_image_features(
        pixel_values=blank, vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy=config.vision_feature_select_strategy).pooler_output
    return 0.0 * sum(f.float().sum() for f in features)
