"""Prompt format, label mask, dataset rejections, collator and sampler of the trainer (CPU, no downloads).
LLaVA parity on the real vocabulary and real photos is tests/trainer/test_parity.py."""
from __future__ import annotations

import io
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from tests.trainer import llava_reference as llava
from trainer.conversation import IGNORE_INDEX, SYSTEM, TokenizationMismatch, TooLong, build_prompt, tokenize
from trainer.data import Collator, MixtureDataset, read_bad_samples, read_records, BadSamples
from trainer.model import add_llava_tokens
from trainer.sampler import LengthGroupedSampler, split_to_even_chunks
from trainer.tiny import tiny_image_processor, tiny_tokenizer

MULTI_TURN = [
    {"from": "human", "value": "<image>\nWhat colour?"},
    {"from": "gpt", "value": "Red."},
    {"from": "human", "value": "Left or right?"},
    {"from": "gpt", "value": "Left."},
]


def word_tokenizer(words: list[str], prepend_scheme: str = "first") -> PreTrainedTokenizerFast:
    """One token per whitespace-separated word (SentencePiece-style '▁' marks), so every id is
    predictable by hand."""
    vocab = {t: i for i, t in enumerate(dict.fromkeys(["<unk>", "<s>", "</s>", *words]))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend_scheme)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    add_llava_tokens(fast)
    return fast


def test_prompt_is_vicuna_v1() -> None:
    prompt = build_prompt(MULTI_TURN, "</s>")
    assert prompt.text == (f"{SYSTEM} USER: <image>\nWhat colour? ASSISTANT: Red.</s>"
                           "USER: Left or right? ASSISTANT: Left.</s>")
    assert [prompt.text[a:b] for a, b in prompt.answer_spans] == ["Red.</s>", "Left.</s>"]
    # LLaVA's preprocess_multimodal on the first turn; answers as written.
    odd = [{"from": "human", "value": "<image>What colour?  "}, {"from": "gpt", "value": " Red. "}]
    assert build_prompt(odd, "</s>").text == f"{SYSTEM} USER: <image>\nWhat colour? ASSISTANT:  Red. </s>"


def test_llava15_label_mask_on_hand_computed_words() -> None:
    """LLaVA's round arithmetic by hand: "<image>" splits the prompt, the piece after it starts with
    the "▁" put before any text ("▁\\nWhat"); a round's question part, tokenized alone, ends in a "▁"
    that the answer's first word absorbs in the prompt, hence LLaVA's "- 2"."""
    system = ["▁" + w for w in SYSTEM.split()]
    vocab = [*system, "▁USER:", "▁", "▁\nWhat", "▁colour?", "▁ASSISTANT:", "▁Red.", "</s>", "▁Left",
             "▁or", "▁right?", "▁Left."]
    tok = word_tokenizer(vocab, prepend_scheme="always")  # legacy: "▁USER:" after "</s>" as alone
    image_id = tok.convert_tokens_to_ids("<image>")
    out = tokenize(MULTI_TURN, tok, image_id, num_image_tokens=3, max_length=2048)
    expected = ["<s>", *system, "▁USER:", "▁", "<image>", "<image>", "<image>", "▁\nWhat", "▁colour?",
                "▁ASSISTANT:", "▁Red.", "</s>", "▁USER:", "▁Left", "▁or", "▁right?", "▁ASSISTANT:", "▁Left.", "</s>"]
    assert tok.convert_ids_to_tokens(out.input_ids) == expected
    supervised = [t for t, label in zip(tok.convert_ids_to_tokens(out.input_ids), out.labels) if label != IGNORE_INDEX]
    assert supervised == ["▁Red.", "</s>", "▁Left.", "</s>"]
    # A non-legacy tokenizer without LLaMA's one-token difference at "USER" after "</s>": the rounds
    # do not add up, which LLaVA answers by masking everything; the trainer refuses the sample.
    with pytest.raises(TokenizationMismatch):
        tokenize(MULTI_TURN, word_tokenizer([*vocab, "USER:"], prepend_scheme="first"), image_id, 3, 2048)


def test_one_pass_label_mask_matches_hand_computed_multi_turn() -> None:
    system = ["▁" + w for w in SYSTEM.split()]
    # The token sequence written out by hand: BOS, system, then the two rounds. After "</s>" the
    # next "USER:" carries no '▁' (no space in the prompt), as with the real Vicuna tokenizer.
    turn1 = ["▁USER:", "▁", "<image>", "\nWhat", "▁colour?", "▁ASSISTANT:"]
    answer1 = ["▁Red.", "</s>"]
    turn2 = ["USER:", "▁Left", "▁or", "▁right?", "▁ASSISTANT:"]
    answer2 = ["▁Left.", "</s>"]
    tok = word_tokenizer(system + turn1 + answer1 + turn2 + answer2)
    image_id = tok.convert_tokens_to_ids("<image>")
    out = tokenize(MULTI_TURN, tok, image_id, num_image_tokens=3, max_length=2048, profile="improved")

    expected_tokens = ["<s>", *system, "▁USER:", "▁", "<image>", "<image>", "<image>", "\nWhat",
                       "▁colour?", "▁ASSISTANT:", "▁Red.", "</s>", "USER:", "▁Left", "▁or", "▁right?",
                       "▁ASSISTANT:", "▁Left.", "</s>"]
    supervised = {len(expected_tokens) - 9, len(expected_tokens) - 8, len(expected_tokens) - 2,
                  len(expected_tokens) - 1}  # "▁Red." "</s>" ... "▁Left." "</s>"
    assert tok.convert_ids_to_tokens(out.input_ids) == expected_tokens
    expected_labels = [tid if i in supervised else IGNORE_INDEX for i, tid in enumerate(out.input_ids)]
    assert out.labels == expected_labels
    assert not out.truncated


def test_label_mask_with_bpe_tokenizer_decodes_to_answers() -> None:
    tok = tiny_tokenizer()
    add_llava_tokens(tok)
    image_id = tok.convert_tokens_to_ids("<image>")
    out = tokenize(MULTI_TURN, tok, image_id, num_image_tokens=16, max_length=2048)
    runs, current = [], []
    for tid, label in zip(out.input_ids, out.labels):
        if label != IGNORE_INDEX:
            assert label == tid
            current.append(tid)
        elif current:
            runs.append(current)
            current = []
    runs += [current] if current else []
    assert [tok.decode(r).strip() for r in runs] == ["Red.</s>", "Left.</s>"]
    assert out.input_ids.count(image_id) == 16
    assert out.input_ids[0] == tok.bos_token_id


def test_text_only_sample_has_no_image_tokens() -> None:
    tok = tiny_tokenizer()
    add_llava_tokens(tok)
    image_id = tok.convert_tokens_to_ids("<image>")
    conv = [{"from": "human", "value": "What is 2 plus 3?"}, {"from": "gpt", "value": "5."}]
    out = tokenize(conv, tok, image_id, num_image_tokens=0, max_length=2048)
    assert image_id not in out.input_ids
    assert tok.decode([t for t in out.labels if t != IGNORE_INDEX]).strip() == "5.</s>"


def test_max_length_counts_image_tokens() -> None:
    tok = tiny_tokenizer()
    add_llava_tokens(tok)
    image_id = tok.convert_tokens_to_ids("<image>")
    full = tokenize(MULTI_TURN, tok, image_id, num_image_tokens=576, max_length=2048)
    assert len(full.input_ids) > 576
    cut = tokenize(MULTI_TURN, tok, image_id, num_image_tokens=576, max_length=len(full.input_ids) - 3)
    assert cut.truncated and len(cut.input_ids) == len(full.input_ids) - 3
    with pytest.raises(TooLong):  # the image would be cut
        tokenize(MULTI_TURN, tok, image_id, num_image_tokens=576, max_length=300)
    with pytest.raises(TooLong):  # every answer would be cut
        tokenize(MULTI_TURN, tok, image_id, num_image_tokens=576, max_length=600)


def _jpeg(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue())


@pytest.fixture()
def mixture(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _jpeg(root / "coco/train2017/a.jpg", (64, 48))
    good = (root / "coco/train2017/a.jpg").read_bytes()
    (root / "coco/train2017/truncated.jpg").write_bytes(good[: len(good) // 2])
    records = [
        {"id": "ok", "image": "coco/train2017/a.jpg", "conversations": MULTI_TURN},
        {"id": "text", "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]},
        {"id": "truncated", "image": "coco/train2017/truncated.jpg", "conversations": MULTI_TURN},
        {"id": "missing", "image": "coco/train2017/none.jpg", "conversations": MULTI_TURN},
        {"id": "malformed", "conversations": [{"from": "gpt", "value": "answer first"}]},
        {"id": "eos", "conversations": [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Done.</s>More"}]},
    ]
    (tmp_path / "mix.json").write_bytes(orjson.dumps(records))
    return tmp_path / "mix.json"


def _dataset(path: Path, bad: BadSamples | None = None) -> MixtureDataset:
    tok = tiny_tokenizer()
    add_llava_tokens(tok)
    return MixtureDataset(path, path.parent / "data", tok, tiny_image_processor(),
                          tok.convert_tokens_to_ids("<image>"), 16, 2048, bad)


def test_dataset_reports_bad_samples_and_keeps_going(mixture: Path, tmp_path: Path) -> None:
    ds = _dataset(mixture, BadSamples(tmp_path / "bad"))
    assert len(ds) == 4 and dict(ds.bad.counts) == {"turns_not_alternating": 1, "llava_masking": 1}
    sample = ds[0]
    assert sample["pixel_values"].shape == (3, 56, 56)
    assert (sample["input_ids"] == ds.image_token_id).sum() == 16
    assert "pixel_values" not in ds[1]
    # Indexes 2 (truncated JPEG) and 3 (missing file) fall through to the next good sample.
    assert torch.equal(ds[2]["input_ids"], ds[3]["input_ids"]) and torch.equal(ds[3]["input_ids"], sample["input_ids"])
    assert read_bad_samples(tmp_path / "bad") == {"image_unreadable": 1, "image_missing": 1,
                                                  "turns_not_alternating": 1, "llava_masking": 1}


def test_dataset_skips_what_llava_would_mask_entirely(tmp_path: Path) -> None:
    """A tokenizer whose rounds do not add up the way LLaVA corrects for (non-legacy, but "USER:" one
    token either way): LLaVA would train the two-round record with no label; it is counted instead."""
    system = ["▁" + w for w in SYSTEM.split()]
    tok = word_tokenizer([*system, "▁USER:", "USER:", "▁Hi?", "▁ASSISTANT:", "▁Hello.", "▁Bye?", "▁Bye.", "▁"])
    one = [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]
    records = [{"id": "two", "conversations": [*one, {"from": "human", "value": "Bye?"}, {"from": "gpt", "value": "Bye."}]},
               {"id": "one", "conversations": one}]
    (tmp_path / "mix.json").write_bytes(orjson.dumps(records))
    ds = MixtureDataset(tmp_path / "mix.json", tmp_path, tok, tiny_image_processor(),
                        tok.convert_tokens_to_ids("<image>"), 16, 2048, BadSamples(tmp_path / "bad"))
    assert torch.equal(ds[0]["input_ids"], ds[1]["input_ids"])  # the two-round record falls through
    assert read_bad_samples(tmp_path / "bad") == {"tokenization_mismatch": 1}


def test_parquet_twin_reads_same_records(mixture: Path, tmp_path: Path) -> None:
    records = orjson.loads(mixture.read_bytes())
    table = pa.Table.from_pylist([{**r, "image": r.get("image"), "source": "x", "source_id": r["id"]} for r in records])
    pq.write_table(table, tmp_path / "mix.parquet")
    from_parquet = read_records(tmp_path / "mix.parquet")
    assert [r["id"] for r in from_parquet] == [r["id"] for r in records]
    assert from_parquet[0]["conversations"] == records[0]["conversations"]


def test_collator_pads_and_stacks_only_images(mixture: Path) -> None:
    ds = _dataset(mixture)
    batch = Collator(pad_token_id=ds.tokenizer.pad_token_id)([ds[1], ds[0]])
    n_text, n_image = len(ds[1]["input_ids"]), len(ds[0]["input_ids"])
    assert batch["input_ids"].shape == (2, max(n_text, n_image))
    assert batch["attention_mask"].sum().item() == n_text + n_image
    assert (batch["labels"][0, n_text:] == IGNORE_INDEX).all()
    assert batch["pixel_values"].shape == (1, 3, 56, 56)


def test_split_to_even_chunks_by_hand() -> None:
    lengths = [9, 8, 7, 3, 2, 1]
    assert split_to_even_chunks([0, 1, 2, 3, 4, 5], lengths, 2) == [[0, 3, 4], [1, 2, 5]]  # 14 and 16 words
    assert split_to_even_chunks([0, 1, 2, 3, 4], lengths, 2) == [[0, 2, 4], [1, 3]]  # uneven: round-robin


@pytest.mark.parametrize("n_image,n_text,per_device,chunks,seed", [
    (33, 17, 2, 3, 1), (40, 0, 4, 2, 0), (0, 9, 2, 2, 5), (5, 3, 4, 4, 2), (100, 37, 3, 4, 7)])
def test_sampler_is_llavas_modality_length_grouping(n_image: int, n_text: int, per_device: int, chunks: int,
                                                    seed: int) -> None:
    rng = torch.Generator().manual_seed(seed)
    words = (torch.randint(1, 60, (n_image + n_text,), generator=rng)).tolist()
    lengths = [w if i < n_image else -w for i, w in enumerate(words)]
    order = torch.randperm(len(lengths), generator=rng).tolist()
    lengths = [lengths[i] for i in order]  # modalities interleaved in the dataset
    sampler = LengthGroupedSampler(lengths, per_device, chunks, seed=seed)
    got = list(sampler)
    assert got == llava.modality_length_grouped_indices(lengths, per_device, chunks, torch.Generator().manual_seed(seed))
    assert sorted(got) == list(range(len(lengths))) and len(sampler) == len(lengths)
    step = per_device * chunks
    if n_image and n_text:  # one modality per global step, then both leftovers merged, index-sorted
        n_full = (-(-n_image // step) - 1) + (-(-n_text // step) - 1)
        assert all(len({lengths[i] > 0 for i in got[k * step:(k + 1) * step]}) == 1 for k in range(n_full))
        assert got[n_full * step:] == sorted(got[n_full * step:])
    sampler.set_epoch(1)
    assert list(sampler) != got or len(got) <= step


