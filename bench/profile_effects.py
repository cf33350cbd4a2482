"""The measured effect of each switch of the `improved` profile against `llava15` (docs/trainer.md),
and of the pixel path choices, on CPU with random models: nothing here needs a download or a GPU.

    python bench/profile_effects.py [--mixture playground/mixtures/sample/sample.json] [--vocab-dir DIR]

Records: the given LLaVA-format mixture, else the embedded sample's 665K records. Tokens: the real
LLaMA vocabulary (<venv>/vocab/ggml-vocab-llama-spm.gguf), as transformers 5 loads Vicuna's tokenizer.
Loss: a randomly initialised Llava with LLaVA-1.5-7B's vocabulary layout (32000 + <image>, <pad>,
padded to 32064) and small layers; numbers on a trained 7B model need a GPU and are not claimed."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import (AutoTokenizer, CLIPImageProcessor, CLIPImageProcessorPil, LlamaConfig,  # noqa: E402
                          LlamaTokenizer, TrainerCallback)

from pipeline.sources.llava_json import convert_records  # noqa: E402
from sample.mirror import write_sample_mirror  # noqa: E402
from trainer.config import preset_config  # noqa: E402
from trainer.conversation import IGNORE_INDEX, tokenize  # noqa: E402
from trainer.data import Collator  # noqa: E402
from trainer.images import expand_to_square, load_pixels  # noqa: E402
from trainer.loss import causal_lm_loss  # noqa: E402
from trainer.model import add_llava_tokens, build_random, load_for_training  # noqa: E402
from trainer.reporting import Reporter  # noqa: E402
from trainer.sampler import LengthGroupedSampler  # noqa: E402
from trainer.synthetic import write_synthetic_mixture  # noqa: E402
from trainer.tiny import tiny_image_processor, tiny_vision_config  # noqa: E402
from trainer.train import run  # noqa: E402

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "colorwheel"]


def records_from(mixture: str | None, work: Path) -> list[dict[str, Any]]:
    if mixture:
        return json.loads(Path(mixture).read_text())
    path = next(write_sample_mirror(work / "mirror").rglob("llava_v1_5_mix665k.json"))
    # the sample 665K as the ingest keeps it (LLaVA's repairs, the contract, the masking rule)
    return convert_records(json.loads(path.read_text()), "llava_665k", lambda image: image, lambda _: None).rows


def token_streams(records: list[dict[str, Any]], tokenizer: Any, label: str) -> None:
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    differing = extra = supervised_delta = space_after_image = 0
    for record in records:
        n_image = 576 if record.get("image") else 0
        a = tokenize(record["conversations"], tokenizer, image_id, n_image, 2048, profile="llava15")
        b = tokenize(record["conversations"], tokenizer, image_id, n_image, 2048, profile="improved")
        differing += a.input_ids != b.input_ids or a.labels != b.labels
        extra += len(a.input_ids) - len(b.input_ids)
        supervised_delta += sum(x != IGNORE_INDEX for x in a.labels) - sum(x != IGNORE_INDEX for x in b.labels)
        if n_image:
            after = a.input_ids.index(image_id) + n_image
            space_after_image += a.input_ids[after] == 29871
    print(f"  {label:<11} records differing {differing}/{len(records)}; llava15 has {extra:+d} tokens in all "
          f"({space_after_image} are the '▁' after <image>), {supervised_delta:+d} supervised tokens")


def pixels(work: Path) -> None:
    pil, tv = (cls(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}) for cls in
               (CLIPImageProcessorPil, CLIPImageProcessor))
    values = differing = 0
    worst = 0.0
    for name in PHOTOS:
        path = work / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        ours = load_pixels(path, pil).numpy()
        with Image.open(path) as image:
            square = expand_to_square(image.convert("RGB"), CLIP_MEAN)
        theirs = tv(images=square, return_tensors="pt")["pixel_values"][0].numpy()
        delta = np.abs(ours - theirs) * np.array(CLIP_STD)[:, None, None] * 255  # in grey levels
        values += delta.size
        differing += int((delta > 0.5).sum())
        worst = max(worst, float(delta.max()))
    print(f"  torchvision backend vs PIL (LLaVA): {differing / values:.2%} of values differ, "
          f"max {worst:.2f} grey levels, over {len(PHOTOS)} photos")
    rounded = tuple(int(round(c * 255)) for c in CLIP_MEAN)
    truncated = tuple(int(c * 255) for c in CLIP_MEAN)
    shift = max(abs(r - t) / 255 / s for r, t, s in zip(rounded, truncated, CLIP_STD))
    print(f"  pad colour round() {rounded} vs int() {truncated}: padded pixels shift by up to {shift:.4f} "
          f"after normalisation (1 grey level)")


def llava_7b_vocab_model(work: Path, tokenizer: Any) -> Any:
    text = LlamaConfig(vocab_size=32000, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                       bos_token_id=1, eos_token_id=2)
    path = build_random(work / "vocab-model", text, tiny_vision_config(), tokenizer, tiny_image_processor(), seed=0)
    return load_for_training(path, torch.float32)


def micro_batches(stage2: Any, records: list[dict[str, Any]], per_device: int, chunks: int) -> list[dict[str, Any]]:
    """The first global step of LLaVA's sampler over `records`, as `chunks` micro-batches."""
    tok, image_id = stage2.tokenizer, stage2.model.config.image_token_id
    lengths = [(1 if r.get("image") else -1) * sum(len(t["value"].split()) for t in r["conversations"]) for r in records]
    order = list(LengthGroupedSampler(lengths, per_device, chunks, seed=0))[:per_device * chunks]
    out = []
    for k in range(chunks):
        samples = []
        for i in order[k * per_device:(k + 1) * per_device]:
            r = records[i]
            t = tokenize(r["conversations"], tok, image_id, stage2.num_image_tokens if r.get("image") else 0, 2048)
            sample = {"input_ids": torch.tensor(t.input_ids), "labels": torch.tensor(t.labels)}
            if r.get("image"):
                sample["pixel_values"] = torch.zeros(3, 56, 56)
            samples.append(sample)
        out.append(Collator(tok.pad_token_id)(samples))
    return out


def loss_effects(stage2: Any, batches: list[dict[str, Any]]) -> None:
    model, base = stage2.model, stage2.base_vocab_size
    counts = [int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches]
    with torch.no_grad():
        logits = [model(**{k: v for k, v in b.items() if k != "labels"}).logits for b in batches]
        full = statistics.mean(float(causal_lm_loss(x, b["labels"])) for x, b in zip(logits, batches))
        own = statistics.mean(float(causal_lm_loss(x, b["labels"], base)) for x, b in zip(logits, batches))
    print(f"  padded-vocabulary softmax ({model.lm_head.weight.shape[0]} rows vs {base}): loss {full:.4f} vs "
          f"{own:.4f}, {full - own:+.4f} (log(32064/32000) = {np.log(32064 / 32000):.4f})")
    grads = []
    for reduction in ("micro-batch mean", "global token mean"):
        model.zero_grad()
        for b, n in zip(batches, counts):
            logits_b = model(**{k: v for k, v in b.items() if k != "labels"}).logits
            loss = (causal_lm_loss(logits_b, b["labels"], base) / len(batches) if reduction == "micro-batch mean"
                    else causal_lm_loss(logits_b, b["labels"], base, sum(counts)))
            loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    model.zero_grad()
    cosine = float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0))
    weights = [1 / (len(batches) * n) for n in counts]
    print(f"  loss reduction, one global step of {len(batches)} micro-batches ({counts} supervised tokens): "
          f"a token weighs up to {max(weights) / min(weights):.1f}x another under LLaVA's; gradient cosine "
          f"{cosine:.4f}, norm ratio {float(grads[1].norm() / grads[0].norm()):.3f}")


class GradNorms(TrainerCallback):
    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "grad_norm" in logs:
            self.norms.append(float(logs["grad_norm"]))


def clipping(work: Path, steps: int) -> None:
    mixture = write_synthetic_mixture(work / "data", work / "mix.json", n_image=12, n_text=4)
    finals = {}
    norms = GradNorms()
    for profile in ("llava15", "improved"):
        config = preset_config("tiny", str(mixture), str(work / "data"), str(work / profile), max_steps=steps,
                               save_steps=10**6, profile=profile)
        metrics = run(config, Reporter(None), callbacks=[norms] if profile == "improved" else [])
        finals[profile] = metrics["final_loss"]
    above = sum(n > 1.0 for n in norms.norms)
    print(f"  clipping at 1.0 (tiny preset, {steps} steps): the pre-clip norm exceeded 1 in {above}/{len(norms.norms)} "
          f"steps (median {statistics.median(norms.norms):.2f}); final loss llava15 {finals['llava15']:.3f}, "
          f"improved (all switches) {finals['improved']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixture", help="a LLaVA-format mixture JSON (default: the sample's 665K records)")
    parser.add_argument("--vocab-dir", default=str(Path(sys.prefix) / "vocab"))
    parser.add_argument("--steps", type=int, default=20)
    a = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="profile_effects-"))
    records = records_from(a.mixture, work)
    print(f"records: {len(records)} ({sum(bool(r.get('image')) for r in records)} with an image)")
    print("token stream, llava15 vs improved (one-pass), real LLaMA vocabulary:")
    gguf = AutoTokenizer.from_pretrained(a.vocab_dir, gguf_file="ggml-vocab-llama-spm.gguf")
    add_llava_tokens(gguf)
    token_streams(records, gguf, "non-legacy")
    bpe = json.loads(gguf.backend_tokenizer.to_str())["model"]
    legacy = LlamaTokenizer(vocab=bpe["vocab"], merges=[tuple(m) for m in bpe["merges"]], legacy=True,
                            add_bos_token=True, add_eos_token=False)
    add_llava_tokens(legacy)
    token_streams(records, legacy, "legacy")
    print("pixels:")
    pixels(work)
    print("loss, random Llava with LLaVA-1.5-7B's vocabulary layout:")
    stage2 = llava_7b_vocab_model(work, gguf)
    loss_effects(stage2, micro_batches(stage2, records, per_device=4, chunks=4))
    print("optimisation:")
    clipping(work, a.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
