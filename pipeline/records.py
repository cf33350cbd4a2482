"""The conversation record contract (docs/architecture.md): one function decides whether a record is valid.

Rules, each a named rejection reason: turns alternate human/gpt starting with human; no empty turn;
an image sample has exactly one `<image>` token at the start of the first human turn; a text-only
sample has none; the image exists under the data root.

`llava_masking_reason` is the training-hygiene rule on top: records whose labels LLaVA-1.5's masking
would zero out, or whose text the tokenizer would turn into control tokens."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

IMAGE_TOKEN = "<image>"
LLAVA_MASKING = "llava_masking"
# Text the LLaMA/llava-hf tokenizer turns into control ids: `</s>` also ends a round in LLaVA's label
# masking, `<unk>` is LLaVA's padding id (dropped from the attention and the length count), `<s>` a
# BOS inside the text, `<pad>` llava-hf's padding id.
CONTROL_TEXTS = ("</s>", "<s>", "<unk>", "<pad>")
# vicuna_v1 puts " ASSISTANT: " between a question and its answer; LLaVA finds the answer by splitting
# each round at it, so it must occur exactly there.
ANSWER_SEPARATOR = " ASSISTANT: "


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str = ""


def image_first(turns: list[dict[str, str]]) -> list[dict[str, str]] | Rejection:
    """Put `<image>` at the start of the first human turn (the record contract), refusing an empty
    question (which would otherwise pass as the bare token)."""
    if not turns or not turns[0]["value"].strip():
        return Rejection("empty_turn", "turn 0 is empty")
    turns[0]["value"] = f"{IMAGE_TOKEN}\n{turns[0]['value']}"
    return turns


def llava_first_turn(value: str) -> str:
    """LLaVA's `preprocess_multimodal` on a turn holding `<image>`: the token moved to the front on a
    line of its own, the rest stripped (`"<image>What?  "` -> `"<image>\\nWhat?"`)."""
    if IMAGE_TOKEN not in value:
        return value
    return (IMAGE_TOKEN + "\n" + value.replace(IMAGE_TOKEN, "").strip()).strip()


def llava_masking_reason(conversations: list[dict[str, Any]]) -> str | None:
    """Why LLaVA-1.5's `preprocess_v1` would zero this record's labels or supervise the wrong text, or
    None. For records that pass `check_record`. A round is `USER: q ASSISTANT: a</s>`: LLaVA splits the
    prompt into rounds at every `</s>` and each round at every `" ASSISTANT: "`, and zeroes all labels
    when the pieces do not add up; a `" ASSISTANT:"` ending the question moves the split into it."""
    for i, turn in enumerate(conversations):
        value = turn["value"]
        for text in CONTROL_TEXTS:
            if text in value:
                return f"turn {i} contains {text}"
        # Human turns are checked as LLaVA renders them: " q ASSISTANT: " must hold the separator once, last.
        rendered = f" {llava_first_turn(value)} ASSISTANT:" if i % 2 == 0 else value
        if ANSWER_SEPARATOR in rendered:
            return f"turn {i}: {ANSWER_SEPARATOR!r} would split the round"
    return None


def check_record(image: str | None, conversations: Any,
                 image_exists: Callable[[str], bool] | None = None) -> Rejection | None:
    """Return why the record breaks the contract, or None when it is valid."""
    if not isinstance(conversations, list) or not conversations:
        return Rejection("no_conversation", "conversations missing or empty")
    for i, turn in enumerate(conversations):
        if not isinstance(turn, dict) or turn.get("from") not in ("human", "gpt"):
            return Rejection("bad_turn", f"turn {i} has no human/gpt speaker")
        expected = "human" if i % 2 == 0 else "gpt"
        if turn["from"] != expected:
            return Rejection("turns_not_alternating", f"turn {i} is {turn['from']}, expected {expected}")
        value = turn.get("value")
        if not isinstance(value, str) or not value.strip():
            return Rejection("empty_turn", f"turn {i} is empty")
    if len(conversations) % 2:
        return Rejection("unanswered_turn", "last human turn has no answer")
    tokens = sum(t["value"].count(IMAGE_TOKEN) for t in conversations)
    if image:
        if tokens != 1 or not conversations[0]["value"].startswith(IMAGE_TOKEN):
            return Rejection("image_token", f"{tokens} <image> tokens; need one at the start of turn 0")
        if image_exists is not None and not image_exists(image):
            return Rejection("image_missing", image)
    elif tokens:
        return Rejection("image_token", f"text-only sample has {tokens} <image> tokens")
    return None


def exists_under(data_root: Path) -> Callable[[str], bool]:
    """An `image_exists` callback that also refuses paths escaping the data root."""
    root = data_root.resolve()

    def exists(rel: str) -> bool:
        p = (root / rel).resolve()
        return p.is_relative_to(root) and p.is_file()

    return exists
