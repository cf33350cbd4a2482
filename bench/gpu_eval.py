"""Evaluation throughput on one GPU: questions answered per second by the engine's batched greedy
inference (evaluation.inference), against the one-question-at-a-time loop of Spatial-LLaVA's
eval_spatial.py (batch 1), in one run, on the held-out rendered benchmark's questions and pictures.

    python bench/gpu_eval.py              # one H100/H200: LLaVA-1.5-7B shapes (random weights), bf16, ~3 min
    python bench/gpu_eval.py --dry        # CPU, the tiny preset's model, fp32: checks the script end to end

Random weights never emit end-of-sequence, so every answer runs to --max-new-tokens: the measured
rate is a lower bound for a trained model, whose answers are one short sentence (stated in the output)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,  # noqa: E402
                          LlavaForConditionalGeneration, LlavaProcessor)

from evaluation.inference import LoadedModel, generate, model_image  # noqa: E402
from evaluation.rendered import BENCHMARK, rendered_benchmark  # noqa: E402
from evaluation.table import read_eval_table, write_eval_table  # noqa: E402
from trainer.model import add_llava_tokens, num_image_tokens  # noqa: E402
from trainer.tiny import tiny_image_processor, tiny_text_config, tiny_tokenizer, tiny_vision_config  # noqa: E402

SPATIALRGPT_BENCH_QUESTIONS = 1406
LLAMA_7B = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096)
CLIP_L336 = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                             image_size=336, patch_size=14, projection_dim=768)


def random_llava(dry: bool, device: str, dtype: torch.dtype) -> LoadedModel:
    """A randomly initialised Llava built on the device (7B shapes, or the tiny preset's with --dry)."""
    tokenizer = tiny_tokenizer()
    add_llava_tokens(tokenizer)
    text = tiny_text_config(len(tokenizer)) if dry else LLAMA_7B
    vision = tiny_vision_config() if dry else CLIP_L336
    images = tiny_image_processor() if dry else CLIPImageProcessor(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    config = LlavaConfig(vision_config=vision.to_dict(), text_config=text.to_dict(),
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         pad_token_id=tokenizer.pad_token_id, vision_feature_layer=-2,
                         vision_feature_select_strategy="default")
    config.image_seq_length = num_image_tokens(config)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=vision.patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    tokenizer.padding_side = "left"
    return LoadedModel(model, processor, device)


def answer_all(loaded: LoadedModel, questions: list[str], pictures: list, batch: int,
               max_new: int) -> tuple[float, int]:
    """(seconds, new tokens) to answer every question in batches of `batch` (after one warm-up batch)."""
    generate(loaded, questions[:batch], pictures[:batch], max_new)
    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, tokens = time.perf_counter(), 0
    for i in range(0, len(questions), batch):
        tokens += sum(n for _, n, _ in generate(loaded, questions[i:i + batch], pictures[i:i + batch], max_new))
    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="CPU, tiny model, fp32")
    parser.add_argument("--scenes", type=int, help="held-out scenes to ask about (default 12, --dry 2)")
    parser.add_argument("--batch", type=int, help="batch size of the engine (default 16, --dry 4)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--workdir", type=Path, help="where the eval table is written (default: a temp folder)")
    args = parser.parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --dry for the CPU check")
    device, dtype = ("cpu", torch.float32) if args.dry else ("cuda", torch.bfloat16)
    scenes, batch = args.scenes or (2 if args.dry else 12), args.batch or (4 if args.dry else 16)
    with tempfile.TemporaryDirectory() as tmp:
        folder = (args.workdir or Path(tmp)) / "table"
        write_eval_table(folder, BENCHMARK, rendered_benchmark(scenes), [])
        rows = read_eval_table(folder).to_pylist()
        loaded = random_llava(args.dry, device, dtype)
        mean = tuple(loaded.processor.image_processor.image_mean)
        questions = [r["question"] for r in rows]
        pictures = [model_image(folder / r["image"], r["regions"], mean) for r in rows]
        single_s, _ = answer_all(loaded, questions, pictures, 1, args.max_new_tokens)
        batched_s, tokens = answer_all(loaded, questions, pictures, batch, args.max_new_tokens)
    n = len(rows)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    shape = "tiny preset" if args.dry else "LLaVA-1.5-7B shapes (CLIP-L/14-336 + 32x4096 Llama)"
    print(f"evaluation throughput on {name}, {shape}, {str(dtype).removeprefix('torch.')}, {n} questions")
    print(f"one-by-one (batch 1, Spatial-LLaVA's loop)   {n / single_s:10.2f} samples/s")
    print(f"batched (batch {batch}, left-padded)            {n / batched_s:10.2f} samples/s")
    print(f"ratio batched / one-by-one                   {single_s / batched_s:10.2f}")
    print(f"new tokens per answer                        {tokens / n:10.1f} (max {args.max_new_tokens}; random "
          f"weights never stop early, so this is a lower bound on samples/s)")
    print(f"SpatialRGPT-Bench ({SPATIALRGPT_BENCH_QUESTIONS:,} questions), batched  "
          f"{SPATIALRGPT_BENCH_QUESTIONS * batched_s / n / 60:10.1f} minutes at most")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
