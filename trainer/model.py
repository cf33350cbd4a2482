"""The stage-2 starting point as a llava-hf checkpoint folder, and loading it for training.

Three ways in, one way out: `assemble` (Vicuna + CLIP + the stage-1 mm_projector.bin), `build_tiny`
(random, offline), or an existing llava-hf checkpoint. Training always loads a llava-hf folder with
`from_pretrained`, so ZeRO-3's partitioned init and the saved checkpoints follow one code path."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (AutoModelForCausalLM, AutoTokenizer, CLIPImageProcessor, CLIPVisionModel,
                          LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor)
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from pipeline.records import IMAGE_TOKEN
from trainer.tiny import tiny_image_processor, tiny_text_config, tiny_tokenizer, tiny_vision_config

PAD_TOKEN = "<pad>"
# llava-hf pads the 32002-token vocabulary to 32064 rows for tensor-core friendly matmuls.
PAD_VOCAB_TO = 64
# LLaVA-1.5's stage-1 projector file: nn.Sequential(Linear, GELU, Linear) saved under model.mm_projector.
PROJECTOR_KEYS = {"model.mm_projector.0.weight": "linear_1.weight", "model.mm_projector.0.bias": "linear_1.bias",
                  "model.mm_projector.2.weight": "linear_2.weight", "model.mm_projector.2.bias": "linear_2.bias"}


def add_llava_tokens(tokenizer: Any) -> None:
    """Add `<image>` and `<pad>` as special tokens when missing (idempotent for llava-hf tokenizers)."""
    # An added (special) token, not merely a vocabulary entry: only added tokens are split out of
    # the text before the model's pre-tokenizer sees it.
    if IMAGE_TOKEN not in tokenizer.get_added_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    tokenizer.padding_side = "right"


def num_image_tokens(config: LlavaConfig) -> int:
    """576 for CLIP-L/14 at 336 px: one token per patch, plus the CLS token under 'full'."""
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    return patches + (1 if config.vision_feature_select_strategy == "full" else 0)


def load_projector(path: Path, projector: LlavaMultiModalProjector) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if set(state) != set(PROJECTOR_KEYS):
        raise ValueError(f"{path}: expected the mlp2x_gelu keys {sorted(PROJECTOR_KEYS)}, found {sorted(state)}")
    mapped = {PROJECTOR_KEYS[k]: v for k, v in state.items()}
    for name, tensor in projector.state_dict().items():
        if mapped[name].shape != tensor.shape:
            raise ValueError(f"{path}: {name} has shape {tuple(mapped[name].shape)}, the model needs "
                             f"{tuple(tensor.shape)} (wrong LLM or vision tower for this projector?)")
    projector.load_state_dict({k: v.to(next(projector.parameters()).dtype) for k, v in mapped.items()})


def _compose(text_model: Any, vision_model: CLIPVisionModel, tokenizer: Any,
             projector_path: Path | None) -> LlavaForConditionalGeneration:
    add_llava_tokens(tokenizer)
    config = LlavaConfig(vision_config=vision_model.config.to_dict(), text_config=text_model.config.to_dict(),
                         image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         pad_token_id=tokenizer.pad_token_id, projector_hidden_act="gelu",
                         vision_feature_layer=-2, vision_feature_select_strategy="default")
    config.image_seq_length = num_image_tokens(config)
    # Build the shell on the meta device and move the loaded towers in: no second 7B copy in memory.
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = vision_model
    model.model.language_model = text_model.model
    model.lm_head = text_model.lm_head
    dtype = text_model.lm_head.weight.dtype
    model.model.multi_modal_projector = LlavaMultiModalProjector(config).to(dtype)
    if projector_path is not None:
        load_projector(projector_path, model.model.multi_modal_projector)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:  # never shrink a larger table
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=PAD_VOCAB_TO)
    model.config.text_config.pad_token_id = tokenizer.pad_token_id  # valid only after the resize
    return model


def _save_atomically(model: LlavaForConditionalGeneration, tokenizer: Any, image_processor: Any,
                     dest: Path) -> Path:
    """Write into a temp folder beside `dest`, then rename: a killed assembly leaves no half checkpoint."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        model.save_pretrained(tmp)
        processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                   patch_size=model.config.vision_config.patch_size,
                                   vision_feature_select_strategy=model.config.vision_feature_select_strategy,
                                   num_additional_image_tokens=1)
        processor.save_pretrained(tmp)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not (dest / "config.json").is_file():  # someone else finished first: theirs is identical
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def assemble(llm: str, vision: str, projector: Path | None, dest: Path,
             dtype: torch.dtype = torch.bfloat16, revision: str | None = None) -> Path:
    """Vicuna-7B-v1.5 (`lmsys/vicuna-7b-v1.5`) + CLIP ViT-L/14-336 (`openai/clip-vit-large-patch14-336`)
    + LLaVA-1.5's stage-1 `mm_projector.bin` -> a llava-hf checkpoint folder at `dest`."""
    if (dest / "config.json").is_file():
        return dest
    tokenizer = AutoTokenizer.from_pretrained(llm, revision=revision)
    text_model = AutoModelForCausalLM.from_pretrained(llm, dtype=dtype, revision=revision)
    vision_model = CLIPVisionModel.from_pretrained(vision, dtype=dtype)
    model = _compose(text_model, vision_model, tokenizer, projector)
    return _save_atomically(model, tokenizer, CLIPImageProcessor.from_pretrained(vision), dest)


def build_random(dest: Path, text_config: Any, vision_config: Any, tokenizer: Any, image_processor: Any,
                 seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """A randomly initialised Llava of any size as a llava-hf folder (tiny preset, GPU benchmark)."""
    if (dest / "config.json").is_file():
        return dest
    torch.manual_seed(seed)
    text_model = AutoModelForCausalLM.from_config(text_config, dtype=dtype)
    vision_model = CLIPVisionModel._from_config(vision_config, dtype=dtype)
    model = _compose(text_model, vision_model, tokenizer, None)
    return _save_atomically(model, tokenizer, image_processor, dest)


def build_tiny(dest: Path, seed: int = 0) -> Path:
    """The `tiny` preset's checkpoint: random weights from fixed configs, seeded, so it is reproducible."""
    tokenizer = tiny_tokenizer()
    return build_random(dest, tiny_text_config(len(tokenizer)), tiny_vision_config(), tokenizer,
                        tiny_image_processor(), seed)


@dataclass
class Stage2Model:
    model: LlavaForConditionalGeneration
    processor: LlavaProcessor
    num_image_tokens: int

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def image_processor(self) -> Any:
        return self.processor.image_processor

    @property
    def base_vocab_size(self) -> int:
        """The LLM's own vocabulary (32000 for Vicuna): the rows LLaVA-1.5's model has, without the
        tokens llava-hf adds (`<image>`, `<pad>`) and the padding to a multiple of 64."""
        return self.tokenizer.vocab_size


def load_for_training(path: str | Path, dtype: torch.dtype, weights: str | Path | None = None) -> Stage2Model:
    """Load a llava-hf checkpoint with the vision tower frozen (stage 2 trains projector + LLM).

    Call after the TrainingArguments exist: with a ZeRO-3 config they switch from_pretrained to
    partitioned initialisation, so no rank ever holds the full model. `weights`: a Trainer
    checkpoint to take the weights from (it holds no image processor). The image processor is the
    PIL backend, LLaVA-1.5's pixels (trainer/images.py)."""
    processor = LlavaProcessor.from_pretrained(path, backend="pil")
    tokenizer = processor.tokenizer
    add_llava_tokens(tokenizer)
    model = LlavaForConditionalGeneration.from_pretrained(weights or path, dtype=dtype)
    if model.config.image_token_id != tokenizer.convert_tokens_to_ids(IMAGE_TOKEN):
        raise ValueError(f"{path}: config image_token_id {model.config.image_token_id} is not the "
                         f"tokenizer's {IMAGE_TOKEN} id {tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)}")
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        raise ValueError(f"{path}: tokenizer has {len(tokenizer)} tokens, embeddings only "
                         f"{model.get_input_embeddings().num_embeddings}")
    model.model.vision_tower.requires_grad_(False)
    model.config.use_cache = False
    return Stage2Model(model, processor, num_image_tokens(model.config))

