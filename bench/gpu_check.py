"""GPU check for the stage-2 trainer: a small Llava in bf16 under ZeRO-3, through the same
trainer.train code path (dataset, sampler, collator, HF Trainer + DeepSpeed), for a few steps.

Prints tokens/s per GPU, model FLOPs utilisation (ratio to the card's bf16 dense peak), and an
estimate of wall-clock hours for the ~850K mixture on 8 GPUs at 7B scale, as a ratio to
Spatial-LLaVA's published 18 h on 8 A100-40GB.

    python bench/gpu_check.py              # one H100/H200, ~3-5 minutes
    python bench/gpu_check.py --dry        # CPU, tiny model, fp32, no DeepSpeed: checks the arithmetic

The small model keeps LLaVA-1.5-7B's shapes where they set the speed (CLIP ViT-L/14-336 vision
tower, 4096-wide Llama layers, 32K vocabulary) with fewer layers, so its MFU carries over to 7B;
one GPU measures no inter-GPU communication, which 8-GPU ZeRO-3 adds (stated in the output)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig,  # noqa: E402
                          TrainerCallback)

from trainer.config import TrainConfig, preset_config  # noqa: E402
from trainer.model import build_random, build_tiny  # noqa: E402
from trainer.reporting import Reporter  # noqa: E402
from trainer.synthetic import write_synthetic_mixture  # noqa: E402
from trainer.tiny import tiny_tokenizer  # noqa: E402
from trainer.train import run  # noqa: E402

MIXTURE_SAMPLES = 850_000
PUBLISHED_HOURS_8xA100 = 18.0
# bf16 dense tensor-core peaks (vendor datasheets, SXM parts).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0}
LLAVA_7B = {"layers": 32, "hidden": 4096, "intermediate": 11008, "vocab": 32064}
CLIP_L336 = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                             num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)


def text_params(layers: int, hidden: int, intermediate: int, vocab: int) -> float:
    """Llama matmul parameters (attention 4h^2, SwiGLU MLP 3*h*i per layer, plus the LM head)."""
    return layers * (4 * hidden * hidden + 3 * hidden * intermediate) + hidden * vocab


def train_flops_per_token(layers: int, hidden: int, intermediate: int, vocab: int, seq: float) -> float:
    """6N per token for forward+backward of the trained LLM, plus causal attention scores
    (6 * layers * hidden * seq: QK^T and AV, halved for causality, times 3 for fwd+bwd)."""
    return 6 * text_params(layers, hidden, intermediate, vocab) + 6 * layers * hidden * seq


def vision_flops_per_image(vision: CLIPVisionConfig, llm_hidden: int) -> float:
    """Frozen tower: forward only (2N per patch token); the projector trains (6N per image token)."""
    patches = (vision.image_size // vision.patch_size) ** 2 + 1
    tower = vision.num_hidden_layers * (4 * vision.hidden_size ** 2 + 2 * vision.hidden_size * vision.intermediate_size)
    projector = vision.hidden_size * llm_hidden + llm_hidden * llm_hidden
    return 2 * tower * patches + 6 * projector * (patches - 1)


class StepTimer(TrainerCallback):
    """Times the steps after warm-up (allocator, DeepSpeed buckets and kernels settle first)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.tokens_seen: Callable[[], int] = lambda: 0
        self.start: tuple[float, int, int] | None = None
        self.end: tuple[float, int, int] | None = None

    def bind_token_counter(self, tokens_seen: Callable[[], int]) -> None:
        self.tokens_seen = tokens_seen

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        mark = (time.perf_counter(), self.tokens_seen(), state.global_step)
        if state.global_step == self.warmup:
            self.start = mark
        elif state.global_step > self.warmup:
            self.end = mark


def bench_model(folder: Path, layers: int, dry: bool) -> tuple[Path, dict[str, Any]]:
    if dry:
        from trainer.tiny import tiny_text_config, tiny_vision_config
        text, vision = tiny_text_config(384), tiny_vision_config()
        return build_tiny(folder), {"text": text, "vision": vision}
    text = LlamaConfig(vocab_size=32000, hidden_size=LLAVA_7B["hidden"], intermediate_size=LLAVA_7B["intermediate"],
                       num_hidden_layers=layers, num_attention_heads=32, num_key_value_heads=32,
                       max_position_embeddings=4096, bos_token_id=1, eos_token_id=2)
    processor = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    path = build_random(folder, text, CLIP_L336, tiny_tokenizer(), processor, dtype=torch.bfloat16)
    return path, {"text": text, "vision": CLIP_L336}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="CPU, tiny model, fp32, no DeepSpeed")
    parser.add_argument("--layers", type=int, default=8, help="Llama layers of the 4096-wide bench model")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--per-device-batch", type=int, default=16)
    parser.add_argument("--answer-words", type=int, default=120, help="words per answer (sets text length)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the card's bf16 peak")
    parser.add_argument("--mean-tokens-per-sample", type=float, default=None,
                        help="for the 850K estimate; default: the measured mean of this run's samples")
    parser.add_argument("--workdir", default=None)
    a = parser.parse_args(argv)
    if not a.dry:
        if not torch.cuda.is_available():
            parser.error("no CUDA device: run on the GPU machine, or pass --dry")
        # DeepSpeed in one process without its launcher still needs a (one-rank) process group.
        for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                           "MASTER_PORT": "29531"}.items():
            os.environ.setdefault(key, value)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="gpu_check-"))
    steps, warmup = (4, 1) if a.dry else (a.steps, a.warmup_steps)
    batch = 2 if a.dry else a.per_device_batch
    n_image = batch * (steps + 2)
    mixture = write_synthetic_mixture(work / "data", work / "mix.json", n_image=n_image, n_text=0,
                                      size=(400, 300), long_answer_words=8 if a.dry else a.answer_words)
    t0 = time.perf_counter()
    model_path, cfg = bench_model(work / "model", a.layers, a.dry)
    print(f"model built in {time.perf_counter() - t0:.0f} s at {model_path}", flush=True)
    overrides = dict(model=str(model_path), global_batch=batch, per_device_batch=batch, max_steps=steps,
                     save_steps=10**9, dataloader_workers=0 if a.dry else 8, logging_steps=1)
    config: TrainConfig = preset_config("tiny" if a.dry else "llava-1.5-7b", str(mixture), str(work / "data"),
                                        str(work / "out"), **overrides)
    timer = StepTimer(warmup)
    metrics = run(config, Reporter(None), callbacks=[timer])
    assert timer.start and timer.end, "not enough steps after warm-up"
    seconds = timer.end[0] - timer.start[0]
    tokens = timer.end[1] - timer.start[1]
    measured_steps = timer.end[2] - timer.start[2]
    tokens_per_s = tokens / seconds
    samples = measured_steps * batch
    mean_tokens = tokens / samples
    text, vision = cfg["text"], cfg["vision"]
    seq = mean_tokens
    flops_token = train_flops_per_token(text.num_hidden_layers, text.hidden_size, text.intermediate_size,
                                        text.vocab_size, seq)
    flops_image = vision_flops_per_image(vision, text.hidden_size)
    achieved = (flops_token * tokens + flops_image * samples) / seconds
    if a.peak_tflops:
        peak, peak_source = a.peak_tflops * 1e12, "--peak-tflops"
    elif a.dry:
        peak, peak_source = 1e12, "nominal 1 TFLOP/s (dry run: no GPU peak to compare with)"
    else:
        name = torch.cuda.get_device_name()
        match = [k for k in PEAK_TFLOPS if k in name]
        if not match:
            parser.error(f"unknown peak for {name!r}: pass --peak-tflops")
        peak, peak_source = PEAK_TFLOPS[match[0]] * 1e12, f"{match[0]} bf16 dense datasheet"
    mfu = achieved / peak
    # 7B at the same MFU: time per sample scales with FLOPs per sample.
    mean_for_estimate = a.mean_tokens_per_sample or mean_tokens
    flops_sample_7b = (train_flops_per_token(LLAVA_7B["layers"], LLAVA_7B["hidden"], LLAVA_7B["intermediate"],
                                             LLAVA_7B["vocab"], mean_for_estimate) * mean_for_estimate
                       + vision_flops_per_image(CLIP_L336, LLAVA_7B["hidden"]))
    peak_for_estimate = peak if not a.dry else PEAK_TFLOPS["H100"] * 1e12
    hours_8gpu = MIXTURE_SAMPLES * flops_sample_7b / (mfu * peak_for_estimate * 8) / 3600
    tokens_per_s_7b = mfu * peak_for_estimate * mean_for_estimate / flops_sample_7b
    device = "cpu (dry)" if a.dry else torch.cuda.get_device_name()
    print(f"device                     {device}")
    print(f"model                      Llama {text.num_hidden_layers}x{text.hidden_size} + CLIP "
          f"{vision.num_hidden_layers}x{vision.hidden_size}/{vision.image_size}px, "
          f"{'fp32' if a.dry else 'bf16 ZeRO-3'}, gradient checkpointing")
    print(f"measured                   {measured_steps} steps x {batch} samples after {warmup} warm-up steps, "
          f"{seconds:.2f} s, mean {mean_tokens:.0f} tokens/sample (image tokens included)")
    print(f"tokens/s per GPU           {tokens_per_s:,.0f}")
    print(f"model TFLOP/s per GPU      {achieved / 1e12:.3g}")
    print(f"MFU                        {mfu:.3g} (peak {peak / 1e12:.0f} TFLOP/s: {peak_source})")
    print(f"7B tokens/s per GPU (est.) {tokens_per_s_7b:,.0f} at the same MFU, {mean_for_estimate:.0f} tokens/sample")
    print(f"850K on 8 GPUs (est.)      {hours_8gpu:.1f} h wall-clock; ratio to Spatial-LLaVA's published "
          f"{PUBLISHED_HOURS_8xA100:.0f} h on 8 A100-40GB: {hours_8gpu / PUBLISHED_HOURS_8xA100:.2f}"
          + (" (dry: H100 peak assumed)" if a.dry else "")
          + "; excludes 8-GPU ZeRO-3 communication (not measured on one GPU)")
    print(f"final loss                 {metrics['final_loss']:.3f} over {metrics['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
