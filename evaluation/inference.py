"""Greedy answers from a llava-hf checkpoint (LlavaForConditionalGeneration), in batches, per shard.

The prompt is the trainer's vicuna_v1 ("<system> USER: <image>\\n<question> ASSISTANT:"), the picture
padded to a square with the CLIP mean as in training, the region marks drawn first. Batches are
left-padded; decoding is greedy (no sampling, one beam) with `max_new_tokens` as the bound.
Each shard of `shard_size` rows is a step of the step contract (pipeline/step.py): its inputs are the
eval table and the checkpoint's files, its config the generation settings, so a killed run redoes only
the shards without a current marker and a changed table, checkpoint or setting redoes them all."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation.presets import GenerationConfig
from evaluation.regions import mark_regions
from evaluation.table import TABLE, read_eval_table
from pipeline.atomic import write_table
from pipeline.step import Step
from pipeline.tables import to_table
from pipeline.records import IMAGE_TOKEN
from trainer.conversation import build_prompt
from trainer.images import expand_to_square

PREDICTIONS_VERSION = "predictions-v1"  # bump when answers for the same table, checkpoint and settings change
PREDICTIONS = pa.schema([
    ("id", pa.string()),
    ("prediction", pa.string()),
    ("new_tokens", pa.int32()),
    ("hit_limit", pa.bool_()),  # stopped by max_new_tokens, not by end-of-sequence
])


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


def checkpoint_identity(checkpoint: str, revision: str | None) -> tuple[list[Path], dict[str, str]]:
    """How a step identifies a checkpoint: a local folder by the content of its files (step inputs,
    hashed once per process), a hub id by id@revision (step config)."""
    path = Path(checkpoint)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file()), {"checkpoint": "local folder"}
    return [], {"checkpoint": checkpoint, "revision": revision or "main"}


def predict(table_dir: Path, checkpoint: str, out_dir: Path, config: GenerationConfig,
            log: Callable[[str], None] = print) -> tuple[list[Path], int]:
    """Answer every row of the eval table, one step per shard (marker `part-<n>.json` beside the part);
    returns the part files and how many shards were answered now (the others were current)."""
    table_path = Path(table_dir) / TABLE
    rows = read_eval_table(table_dir).select(["id", "image", "question", "regions"]).to_pylist()
    weights, identity = checkpoint_identity(checkpoint, config.revision)
    parts: list[Path] = []
    answered = 0
    loaded: LoadedModel | None = None
    for start in range(0, len(rows), config.shard_size):
        shard = rows[start:start + config.shard_size]
        part = out_dir / f"part-{start // config.shard_size:05d}.parquet"
        parts.append(part)
        step = Step(part.with_suffix(".json"), PREDICTIONS_VERSION, [table_path, *weights],
                    {**identity, "generation": config.key(), "rows": [start, start + len(shard)]})
        if step.current() is not None:
            continue
        loaded = loaded or load_model(checkpoint, config)  # only when a shard has work left
        mean = tuple(loaded.processor.image_processor.image_mean)
        t0, answers = time.perf_counter(), []
        for b in range(0, len(shard), config.batch_size):
            batch = shard[b:b + config.batch_size]
            images = [model_image(Path(table_dir) / r["image"], r["regions"] or [], mean) for r in batch]
            answers += generate(loaded, [r["question"] for r in batch], images, config.max_new_tokens)
        write_table(part, to_table([{"id": r["id"], "prediction": a, "new_tokens": n, "hit_limit": cut}
                                    for r, (a, n, cut) in zip(shard, answers)], PREDICTIONS))
        seconds = time.perf_counter() - t0
        step.finish({"answers": len(shard), "seconds": round(seconds, 3), "device": loaded.device}, [part])
        answered += 1
        log(f"{part.name}: {len(shard)} answers in {seconds:.1f} s on {loaded.device}")
    for stale in set(out_dir.glob("part-*")) - {p.with_suffix(x) for p in parts for x in (".parquet", ".json")}:
        stale.unlink()  # shards of an earlier shard size
    return parts, answered


def read_predictions(parts: list[Path]) -> pa.Table:
    return pa.concat_tables([pq.read_table(p).replace_schema_metadata(None) for p in parts]) if parts \
        else to_table([], PREDICTIONS)
