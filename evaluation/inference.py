"""Greedy answers from a llava-hf checkpoint (LlavaForConditionalGeneration), in batches, per shard.

The prompt is the trainer's vicuna_v1 ("<system> USER: <image>\\n<question> ASSISTANT:"), the picture
padded to a square with the CLIP mean as in training, the region marks drawn first. Batches are
left-padded; decoding is greedy (no sampling, one beam) with `max_new_tokens` as the bound.
Shards of `shard_size` rows are written as atomic part files keyed by what made them (table,
checkpoint, generation settings), so a killed run resumes at the first missing shard."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation.regions import mark_regions
from pipeline.atomic import write_table
from pipeline.tables import to_table
from pipeline.records import IMAGE_TOKEN
from trainer.conversation import build_prompt
from trainer.images import expand_to_square

PREDICTIONS = pa.schema([
    ("id", pa.string()),
    ("prediction", pa.string()),
    ("new_tokens", pa.int32()),
    ("hit_limit", pa.bool_()),  # stopped by max_new_tokens, not by end-of-sequence
])


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


@dataclass
class LoadedModel:
    model: Any
    processor: Any
    device: str

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer


def load_model(checkpoint: str, config: GenerationConfig) -> LoadedModel:
    import torch
    from transformers import LlavaForConditionalGeneration, LlavaProcessor

    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    dtype = getattr(torch, config.dtype) if device.startswith("cuda") else torch.float32
    processor = LlavaProcessor.from_pretrained(checkpoint, revision=config.revision)
    processor.tokenizer.padding_side = "left"
    if processor.tokenizer.pad_token is None:
        raise ValueError(f"{checkpoint}: the tokenizer has no pad token; batched generation needs one")
    model = LlavaForConditionalGeneration.from_pretrained(checkpoint, revision=config.revision, dtype=dtype)
    model.to(device).eval()
    return LoadedModel(model, processor, device)


def prompt_text(question: str, eos: str) -> str:
    """vicuna_v1, as the model was trained: the trainer's prompt up to the assistant's turn."""
    return build_prompt([{"from": "human", "value": f"{IMAGE_TOKEN}\n{question}"}], eos).text + "ASSISTANT:"


def model_image(path: Path, regions: list[dict], image_mean: tuple[float, ...]) -> Image.Image:
    with Image.open(path) as handle:
        image = handle.convert("RGB")
    return expand_to_square(mark_regions(image, regions), image_mean)


def generate(loaded: LoadedModel, questions: list[str], images: list[Image.Image],
             max_new_tokens: int) -> list[tuple[str, int, bool]]:
    """(answer, new tokens, stopped by the limit) per question, greedy, one left-padded batch."""
    import torch

    tok = loaded.tokenizer
    prompts = [prompt_text(q, tok.eos_token) for q in questions]
    inputs = loaded.processor(text=prompts, images=images, padding=True, return_tensors="pt")
    inputs = inputs.to(loaded.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(loaded.model.dtype)
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = out[:, inputs["input_ids"].shape[1]:].cpu()
    results = []
    for row in new:
        ids = row.tolist()
        ended = tok.eos_token_id in ids
        length = ids.index(tok.eos_token_id) + 1 if ended else len(ids)
        results.append((tok.decode(ids[:length], skip_special_tokens=True).strip(), length, not ended))
    return results


def _shard_key(fingerprint: str, checkpoint: str, config: GenerationConfig, ids: list[str]) -> str:
    h = hashlib.sha256(json.dumps([fingerprint, checkpoint, config.key()], sort_keys=True).encode())
    h.update("\n".join(ids).encode())
    return h.hexdigest()


def _finished(part: Path, key: str) -> bool:
    return part.is_file() and (pq.read_schema(part).metadata or {}).get(b"key", b"").decode() == key


def predict(table: pa.Table, table_dir: Path, fingerprint: str, checkpoint: str, out_dir: Path,
            config: GenerationConfig, log: Callable[[str], None] = print) -> list[Path]:
    """Answer every row of the eval table; returns the part files (existing finished ones reused)."""
    rows = table.select(["id", "image", "question", "regions"]).to_pylist()
    parts: list[Path] = []
    loaded: LoadedModel | None = None
    for start in range(0, len(rows), config.shard_size):
        shard = rows[start:start + config.shard_size]
        part = out_dir / f"part-{start // config.shard_size:05d}.parquet"
        key = _shard_key(fingerprint, checkpoint, config, [r["id"] for r in shard])
        parts.append(part)
        if _finished(part, key):
            continue
        loaded = loaded or load_model(checkpoint, config)  # only when a shard has work left
        mean = tuple(loaded.processor.image_processor.image_mean)
        t0, answers = time.perf_counter(), []
        for b in range(0, len(shard), config.batch_size):
            batch = shard[b:b + config.batch_size]
            images = [model_image(table_dir / r["image"], r["regions"] or [], mean) for r in batch]
            answers += generate(loaded, [r["question"] for r in batch], images, config.max_new_tokens)
        out = to_table([{"id": r["id"], "prediction": a, "new_tokens": n, "hit_limit": cut}
                        for r, (a, n, cut) in zip(shard, answers)], PREDICTIONS)
        write_table(part, out.replace_schema_metadata({"key": key}))
        log(f"{part.name}: {len(shard)} answers in {time.perf_counter() - t0:.1f} s on {loaded.device}")
    return parts


def read_predictions(parts: list[Path]) -> pa.Table:
    return pa.concat_tables([pq.read_table(p).replace_schema_metadata(None) for p in parts]) if parts \
        else to_table([], PREDICTIONS)
