"""The `llava15` profile against LLaVA-1.5 itself, re-implemented in tests/trainer/llava_reference.py:
token for token (ids and labels, after image expansion and truncation) on the real LLaMA vocabulary,
SentencePiece on LLaVA's side and transformers 5 on ours, with the tokenizer configured legacy and
non-legacy; and pixel for pixel on real photographs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image
from transformers import CLIPImageProcessor, CLIPImageProcessorPil

from pipeline.records import llava_masking_reason
from pipeline.sources.llava_json import convert_records, load_records
from tests.trainer import llava_reference as llava
from tests.trainer.test_vocab import VOCAB_FILE, _vocab_dir
from trainer.conversation import IGNORE_INDEX, TooLong, tokenize
from trainer.images import expand_to_square, load_pixels
from trainer.model import add_llava_tokens

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NUM_IMAGE_TOKENS = 576
SPACE_PIECE = 29871  # "▁": SentencePiece's dummy prefix of the text after <image>


def h(value: str) -> dict[str, str]:
    return {"from": "human", "value": value}


def g(value: str) -> dict[str, str]:
    return {"from": "gpt", "value": value}


LONG_ANSWER = " ".join(f"word{i} is {i}." for i in range(700))  # ~4,900 tokens
ADVERSARIAL: dict[str, list[dict[str, str]]] = {
    "multi_turn_image": [h("<image>\nWhat is left of the cube?"), g("A blue sphere."), h("How far?"),
                         g("3.2 meters."), h("Taller?"), g("The red cube is taller than the sphere.")],
    "digit_answers": [h("<image>\nCount them."), g("7"), h("And now?"), g("12 apples, 3 pears.")],
    "cjk_emoji": [h("<image>\nName the city."), g("東京 (Tokyo)"), h("Mood?"), g("🙂 happy 👍🏽"),
                  h("Japanese please."), g("日本語の答えです。")],
    "newline_and_spaces": [h("<image>\nDescribe."), g("\nA dog.  "), h("Sure?"), g(" Yes"),
                           h("Two lines."), g("  Line one.\nLine two. \t")],
    "image_without_newline": [h("<image>What is it?  "), g("A cat.")],
    "image_at_the_end": [h("What is it?\n<image>"), g("A cat.")],  # the ingest moves it; LLaVA too
    "image_only_question": [h("<image>"), g("A busy street at night.")],
    "unicode_whitespace": [h("<image>\n\u3000Where?\u00a0"), g("\u2003Here\u00a0and there.")],
    "combining_and_bytes": [h("<image>\nSpell it."), g("nai\u0308ve cafe\u0301 \u0000\u0007 ᚠᛇ 𝔘𝔫𝔦")],
    "metaspace_character": [h("<image>\nWhat is ▁?"), g("▁ is U+2581.")],
    "code_block": [h("<image>\nCode?"), g("```python\nprint('hi')  # ok\n```")],
    "text_only_multi_turn": [h("Write seven as a digit."), g("7"), h("And eight in words?"), g("Eight."),
                             h("Nine?"), g(" 9 ")],
    "text_only_truncated": [h("Count to 700."), g(LONG_ANSWER)],
    "image_truncated_after_expansion": [h("<image>\nCount to 700."), g(LONG_ANSWER)],
    "image_truncated_mid_second_round": [h("<image>\nShort?"), g("Yes."), h("Long?"), g(LONG_ANSWER)],
    "many_rounds": [t for k in range(30) for t in (h(f"Question {k}?"), g(f"Answer {k}."))],
}


@pytest.fixture(scope="module", params=[False, True], ids=["non_legacy", "legacy"])
def tokenizers(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    """(LLaVA's SentencePiece tokenizer, transformers 5's LlamaTokenizer prepared like the trainer's)."""
    path = _vocab_dir() / VOCAB_FILE
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing")
        pytest.skip(f"{path} is missing: run scripts/fetch_llama_vocab.py")
    ours = llava.transformers5_llama(path, legacy=request.param)
    add_llava_tokens(ours)
    return llava.SentencePieceLlama(path, legacy=request.param), ours


def compare(conversations: list[dict[str, str]], has_image: bool, ref: Any, ours: Any) -> tuple[int, int]:
    """(differing positions, supervised tokens) between LLaVA's and our llava15 stream for one record.
    A record LLaVA trains with no supervised token (all answers cut by the length limit) is one the
    trainer refuses (TooLong): the only sanctioned difference."""
    image_id = ours.convert_tokens_to_ids("<image>")
    ref_ids, ref_labels = llava.preprocess(conversations, ref, has_image, NUM_IMAGE_TOKENS)
    ref_ids = [image_id if t == llava.IMAGE_INDEX else t for t in ref_ids]
    supervised = sum(label != IGNORE_INDEX for label in ref_labels)
    try:
        out = tokenize(conversations, ours, image_id, NUM_IMAGE_TOKENS if has_image else 0,
                       llava.MODEL_MAX_LENGTH, profile="llava15")
    except TooLong:
        assert supervised == 0, "the trainer refused a record LLaVA supervises"
        return 0, 0
    assert len(out.input_ids) == len(ref_ids), (len(out.input_ids), len(ref_ids))
    diff = sum(a != b for a, b in zip(out.input_ids, ref_ids)) + sum(a != b for a, b in zip(out.labels, ref_labels))
    return diff, supervised


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_conversations_match_llava_token_for_token(name: str, tokenizers: tuple[Any, Any]) -> None:
    ref, ours = tokenizers
    conversations = ADVERSARIAL[name]
    has_image = any("<image>" in t["value"] for t in conversations)
    assert llava_masking_reason(conversations) is None  # not one the hygiene rule keeps from training
    diff, supervised = compare(conversations, has_image, ref, ours)
    assert diff == 0
    assert supervised > 0


def test_token_stream_details_llava_has(tokenizers: tuple[Any, Any]) -> None:
    """The points where a one-pass tokenization differs, pinned on LLaVA's side."""
    ref, ours = tokenizers
    image_id = ours.convert_tokens_to_ids("<image>")
    out = tokenize(ADVERSARIAL["newline_and_spaces"], ours, image_id, NUM_IMAGE_TOKENS, 2048)
    after_image = out.input_ids.index(image_id) + NUM_IMAGE_TOKENS
    assert out.input_ids[after_image:after_image + 2] == [SPACE_PIECE, 13]  # "▁", "\n"
    supervised = [t for t, label in zip(out.input_ids, out.labels) if label != IGNORE_INDEX]
    # Answers as written: the separator space, the leading newline, the trailing spaces are supervised.
    assert ours.convert_ids_to_tokens(supervised[:3]) == ["▁", "<0x0A>", "A"]
    assert ours.decode(supervised).endswith("\nA dog.  </s>  Yes</s>   Line one.\nLine two. \t</s>")
    # The whole image-only-question record: " ASSISTANT:" follows the image after LLaVA's strip().
    ref_ids, _ = llava.preprocess(ADVERSARIAL["image_only_question"], ref, True, NUM_IMAGE_TOKENS)
    start = ref_ids.index(llava.IMAGE_INDEX) + NUM_IMAGE_TOKENS
    assert ref_ids[start:start + 2] == [SPACE_PIECE, 319]  # SentencePiece keeps the prefix: "▁", "▁A"


def test_truncation_cuts_after_image_expansion(tokenizers: tuple[Any, Any]) -> None:
    _, ours = tokenizers
    image_id = ours.convert_tokens_to_ids("<image>")
    out = tokenize(ADVERSARIAL["image_truncated_after_expansion"], ours, image_id, NUM_IMAGE_TOKENS, 2048)
    assert out.truncated and len(out.input_ids) == 2048 and out.labels[-1] != IGNORE_INDEX
    # Every answer beyond the limit: LLaVA trains an all-masked sample, the trainer refuses it.
    beyond = [h("<image>\n" + LONG_ANSWER), g("Done.")]
    with pytest.raises(TooLong):
        tokenize(beyond, ours, image_id, NUM_IMAGE_TOKENS, 2048)
    assert compare(beyond, True, *tokenizers) == (0, 0)


def _sample_665k_records(mirror: Path) -> list[dict[str, Any]]:
    """The sample 665K file as the ingest keeps it (LLaVA's repairs, the contract, the masking rule)."""
    path = next(mirror.rglob("llava_v1_5_mix665k.json"))
    return convert_records(load_records(path), "llava_665k", lambda image: image, lambda _: None).rows


def test_sample_665k_records_match_llava(sample_mirror: Path, tokenizers: tuple[Any, Any]) -> None:
    records = _sample_665k_records(sample_mirror)
    assert len(records) >= 40
    results = [compare(r["conversations"], bool(r.get("image")), *tokenizers) for r in records]
    assert sum(diff for diff, _ in results) == 0
    assert all(supervised > 0 for _, supervised in results)


@pytest.fixture(scope="module")
def sample_mixture(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The embedded sample's mixture (all sources, spatial QA, the recipe), built by the main job."""
    root = tmp_path_factory.mktemp("run-sample")
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_bytes((PROJECT_ROOT / "dagster.yaml").read_bytes())
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home"), "PYTHONPATH": str(PROJECT_ROOT)}
    # Up to the mixture and its checks: the finetune and the evaluation are other tests'.
    skip = ["finetune", "evaluate",
            *(f"{b}_{s}" for b in ("spatialrgpt_bench", "spatial_relation_eval") for s in ("download", "eval"))]
    done = subprocess.run([sys.executable, "-m", "assets.cli", "run-sample", "--workers", "1", "--skip", *skip],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((root / "playground/mixtures/sample/sample.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_sample_mixture_record_matches_llava(sample_mixture: list[dict[str, Any]],
                                                   tokenizers: tuple[Any, Any]) -> None:
    recipe = tomllib.loads((PROJECT_ROOT / "recipes/sample.toml").read_text())
    assert len(sample_mixture) == sum(c["expected"] for c in recipe["components"])  # tolerance 0: exact
    results = [compare(r["conversations"], bool(r.get("image")), *tokenizers) for r in sample_mixture]
    assert sum(diff for diff, _ in results) == 0
    assert all(supervised > 0 for _, supervised in results)


# ---- pixels ---------------------------------------------------------------------------------------

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
          "colorwheel", "camera", "cell", "logo"]


def clip_336(processor_class: type) -> Any:
    """openai/clip-vit-large-patch14-336's preprocessor_config.json."""
    return processor_class(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                           resample=3, do_center_crop=True, do_normalize=True, do_rescale=True,
                           image_mean=list(llava.CLIP_MEAN), image_std=list(llava.CLIP_STD))


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """scikit-image's photographs (RGB, grey, RGBA; landscape, square), a portrait turn of each
    non-square one, lossless PNG; plus one as JPEG."""
    folder = tmp_path_factory.mktemp("photos")
    files = []
    for name in PHOTOS:
        image = Image.fromarray(getattr(skimage.data, name)())
        variants = [image] + ([image.transpose(Image.Transpose.ROTATE_90)] if image.width != image.height else [])
        for k, variant in enumerate(variants):
            files.append(folder / f"{name}-{k}.png")
            variant.save(files[-1])
    files.append(folder / "coffee.jpg")
    Image.fromarray(skimage.data.coffee()).save(files[-1], quality=90)
    return files


def test_pixels_match_llava_exactly_on_real_photos(photo_files: list[Path]) -> None:
    processor = clip_336(CLIPImageProcessorPil)
    sizes = set()
    for path in photo_files:
        with Image.open(path) as image:
            expected = llava.llava_pixels(image)
            sizes.add((image.width > image.height) - (image.width < image.height))
        ours = load_pixels(path, processor).numpy()
        assert ours.shape == expected.shape == (3, 336, 336) and ours.dtype == expected.dtype == np.float32
        assert np.abs(ours - expected).max() == 0, path.name
    assert sizes == {-1, 0, 1}  # portrait, square and landscape photos were all compared


def test_pad_colour_is_llavas_truncated_mean() -> None:
    image = expand_to_square(Image.new("RGB", (40, 20), (255, 0, 0)), llava.CLIP_MEAN)
    assert image.size == (40, 40)
    assert image.getpixel((0, 0)) == (122, 116, 104)  # int(c * 255); rounding would give (123, 117, 104)
    assert image.getpixel((20, 20)) == (255, 0, 0) and image.getpixel((20, 9)) == (122, 116, 104)
    tall = expand_to_square(Image.new("RGB", (20, 40), (0, 255, 0)), llava.CLIP_MEAN)
    assert tall.getpixel((10, 5)) == (0, 255, 0) and tall.getpixel((4, 5)) == (122, 116, 104)


def test_torchvision_backend_is_refused(photo_files: list[Path]) -> None:
    """transformers 5's default CLIP backend resizes with torchvision: not LLaVA's pixels."""
    with pytest.raises(ValueError, match="PIL backend"):
        load_pixels(photo_files[0], clip_336(CLIPImageProcessor))
