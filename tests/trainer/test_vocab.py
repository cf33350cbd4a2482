"""The one-pass label mask (`improved` profile) on the real LLaMA/Vicuna-v1.5 SentencePiece vocabulary
(32,000 tokens); the `llava15` profile is compared with LLaVA itself in test_parity.py.

Catches LLaVA's "tokenization mismatch" class of bugs that a toy tokenizer cannot show: the dummy
prefix, the space between "ASSISTANT:" and the answer (a token of its own before digits and CJK),
byte-fallback characters, and the round boundaries after `</s>`. The vocabulary comes from
`scripts/fetch_llama_vocab.py` (run by `make setup`); it is looked up in `<venv>/vocab/` or in the
folder named by SPATIALMIX_LLAMA_VOCAB_DIR."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.records import llava_first_turn
from tests.trainer.llava_reference import transformers5_llama
from trainer.conversation import IGNORE_INDEX, SYSTEM, tokenize
from trainer.model import add_llava_tokens

VOCAB_FILE = "ggml-vocab-llama-spm.gguf"
NUM_IMAGE_TOKENS = 576  # CLIP-L/14 at 336 px, as in training
BYTE_TOKEN = re.compile(r"<0x([0-9A-F]{2})>")

MULTI_TURN_IMAGE = [
    {"from": "human", "value": "<image>\nWhat is to the left of the red cube?"},
    {"from": "gpt", "value": "A blue sphere."},
    {"from": "human", "value": "How far apart are they?"},
    {"from": "gpt", "value": "3.2 meters."},
    {"from": "human", "value": "Which one is taller?"},
    {"from": "gpt", "value": "The red cube is taller than the sphere."},
]
TEXT_ONLY = [
    {"from": "human", "value": "Write seven as a digit."},
    {"from": "gpt", "value": "7"},
    {"from": "human", "value": "And eight in words?"},
    {"from": "gpt", "value": "Eight."},
]
SPACES_DIGITS_UNICODE = [
    {"from": "human", "value": "Name the city.\n<image>"},
    {"from": "gpt", "value": "  東京 (Tokyo)  "},
    {"from": "human", "value": "Temperature?"},
    {"from": "gpt", "value": "\t21.5 °C, a naïve guess 🙂\n"},
    {"from": "human", "value": "Two lines, please."},
    {"from": "gpt", "value": " Line one.\nLine two. "},
]


def _vocab_dir() -> Path:
    return Path(os.environ.get("SPATIALMIX_LLAMA_VOCAB_DIR", Path(sys.prefix) / "vocab"))


@pytest.fixture(scope="module")
def llama() -> Any:
    path = _vocab_dir() / VOCAB_FILE
    if not path.is_file():
        reason = f"{path} is missing: run `python scripts/fetch_llama_vocab.py {path.parent}` (make setup does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # CI must not pass by skipping the one real-vocabulary check
        pytest.skip(reason)
    tokenizer = transformers5_llama(path, legacy=False)  # Vicuna v1.5's setting
    assert len(tokenizer) == 32000 and tokenizer.bos_token_id == 1 and tokenizer.eos_token_id == 2
    add_llava_tokens(tokenizer)  # as the trainer prepares every tokenizer
    return tokenizer


def vicuna_v1(conversations: list[dict[str, str]]) -> tuple[str, list[int]]:
    """The prompt written out independently of trainer.conversation, and for each answer the index
    where the prompt for generating it ends (just after "ASSISTANT:", as at inference)."""
    text, answer_prompt_ends = SYSTEM + " ", []
    for turn in conversations:
        if turn["from"] == "human":
            text += f"USER: {llava_first_turn(turn['value'])} "
        else:
            text += "ASSISTANT:"
            answer_prompt_ends.append(len(text))
            text += f" {turn['value']}</s>"
    return text, answer_prompt_ends


def ids_of(tokenizer: Any, text: str, num_image_tokens: int) -> list[int]:
    """Tokenize text once (BOS added) and expand `<image>` the way the trainer does."""
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    out: list[int] = []
    for token_id in tokenizer(text).input_ids:
        out.extend([token_id] * (num_image_tokens if token_id == image_id else 1))
    return out


def surface(tokenizer: Any, ids: list[int]) -> str:
    """The exact text the tokens stand for: '▁' is a space, <0xNN> are UTF-8 bytes. Unlike
    tokenizer.decode, nothing is stripped, so a leading space token is visible."""
    raw = b""
    for token in tokenizer.convert_ids_to_tokens(ids):
        byte = BYTE_TOKEN.fullmatch(token)
        raw += bytes([int(byte.group(1), 16)]) if byte else token.replace("▁", " ").encode()
    return raw.decode()


def supervised_runs(input_ids: list[int], labels: list[int]) -> list[tuple[int, list[int]]]:
    """(start index, ids) of each maximal run of supervised positions."""
    runs: list[tuple[int, list[int]]] = []
    for i, (token_id, label) in enumerate(zip(input_ids, labels)):
        if label == IGNORE_INDEX:
            continue
        assert label == token_id, f"label {label} at {i} is not the input id {token_id}"
        if runs and runs[-1][0] + len(runs[-1][1]) == i:
            runs[-1][1].append(token_id)
        else:
            runs.append((i, [token_id]))
    return runs


@pytest.mark.parametrize("conversations", [MULTI_TURN_IMAGE, TEXT_ONLY, SPACES_DIGITS_UNICODE],
                         ids=["multi_turn_image", "text_only", "spaces_digits_unicode"])
def test_labels_supervise_exactly_the_answers(llama: Any, conversations: list[dict[str, str]]) -> None:
    has_image = any("<image>" in t["value"] for t in conversations)
    n_image = NUM_IMAGE_TOKENS if has_image else 0
    image_id = llama.convert_tokens_to_ids("<image>")
    out = tokenize(conversations, llama, image_id, n_image, max_length=4096, profile="improved")
    ids, labels = out.input_ids, out.labels
    answers = [t["value"] for t in conversations if t["from"] == "gpt"]
    text, prompt_ends = vicuna_v1(conversations)

    # One BOS, first; the image expanded in place and never supervised.
    assert ids[0] == llama.bos_token_id and ids.count(llama.bos_token_id) == 1
    assert ids.count(image_id) == n_image
    assert all(labels[i] == IGNORE_INDEX for i, t in enumerate(ids) if t == image_id)

    # The supervised tokens are exactly " answer</s>" per answer (the separator space included:
    # the model must learn to emit it after "ASSISTANT:"), and nothing else.
    runs = supervised_runs(ids, labels)
    assert [surface(llama, run) for _, run in runs] == [f" {a}</s>" for a in answers]
    eos_positions = [i for i, t in enumerate(ids) if t == llama.eos_token_id]
    assert eos_positions == [start + len(run) - 1 for start, run in runs]  # every </s> ends an answer, supervised

    # The mismatch check: the whole prompt tokenized once equals the parts tokenized on their own.
    # Each round (up to its </s>) is a prefix of the full ids, so per-round counts add up to the total
    # (LLaVA's cur_len == total_len), and each answer's supervision starts right where the
    # inference prompt "... ASSISTANT:" ends.
    assert ids == ids_of(llama, text, n_image)
    round_ends = [text.index("</s>", end) + len("</s>") for end in prompt_ends]
    for end in round_ends:
        prefix = ids_of(llama, text[:end], n_image)
        assert ids[:len(prefix)] == prefix, f"round ending at char {end} tokenizes differently alone"
    assert len(ids_of(llama, text[:round_ends[-1]], n_image)) == len(ids)
    starts = [len(ids_of(llama, text[:end], n_image)) for end in prompt_ends]
    assert [start for start, _ in runs] == starts
    for start in starts:
        assert llama.convert_ids_to_tokens(ids[start - 1]) == ":"  # "ASSISTANT:" ends the prompt part


def test_vocabulary_is_llama(llama: Any) -> None:
    """The file is LLaMA's SentencePiece vocabulary, prepared as llava-hf's (<image>=32000, <pad>=32001)."""
    assert llama("Hello world").input_ids == [1, 15043, 3186]
    assert llama.convert_tokens_to_ids(["<image>", "<pad>"]) == [32000, 32001]
    assert llama.pad_token_id == 32001 and llama.padding_side == "right"
