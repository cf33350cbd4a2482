"""The conversation record contract (docs/architecture.md): one function decides whether a record is valid.

Rules, each a named rejection reason: turns alternate human/gpt starting with human; no empty turn
(every turn, answers included, has a visible character: whitespace and zero-width or other format
characters do not count); an image sample has exactly one `<image>` token at the start of the first
human turn; a text-only sample has none; then the content rules (`check_content`): the image path is
relative, normalized and bounded; no turn is longer than MAX_TURN_BYTES; the first turn asks
something besides `<image>`; last, the image exists (as the image manifests list it).

`llava_masking_reason` is the training-hygiene rule on top: records whose labels LLaVA-1.5's masking
would zero out, or whose text the tokenizer would turn into control tokens."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from .names import path_problem

IMAGE_TOKEN = "<image>"
LLAVA_MASKING = "llava_masking"
# Text the LLaMA/llava-hf tokenizer turns into control ids: `</s>` also ends a round in LLaVA's label
# masking, `<unk>` is LLaVA's padding id (dropped from the attention and the length count), `<s>` a
# BOS inside the text, `<pad>` llava-hf's padding id.
CONTROL_TEXTS = ("</s>", "<s>", "<unk>", "<pad>")
# vicuna_v1 puts " ASSISTANT: " between a question and its answer; LLaVA finds the answer by splitting
# each round at it, so it must occur exactly there.
ANSWER_SEPARATOR = " ASSISTANT: "
T = TypeVar("T")
# Far above any real turn (LLaVA trains on 2,048 tokens); a 10 MB "question" is an upstream accident.
# In UTF-8 bytes: what both this check and its polars twin measure without scanning the text.
MAX_TURN_BYTES = 256 * 1024
# Characters that show nothing: Python's whitespace (str.isspace) plus format, joiner and filler
# characters (zero-width space, BOM, soft hyphen, bidi controls, Hangul fillers, variation selectors,
# tags). One explicit class, so Python and the mixture's polars twin agree on every code point.
INVISIBLE_CLASS = ("\t-\r\x1c-\x20\x85\xa0\xad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5"
                   "\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u2800\u3000"
                   "\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001d173-\U0001d17a\U000e0000-\U000e007f"
                   "\U000e0100-\U000e01ef")
_INVISIBLE_ONLY = re.compile(f"[{INVISIBLE_CLASS}]*")


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
        if value is not None and not isinstance(value, str):
            return Rejection("not_text", f"turn {i} is {type(value).__name__}, not text")
        if not isinstance(value, str) or invisible(value):
            return Rejection("empty_turn", f"turn {i} is empty")
    if len(conversations) % 2:
        return Rejection("unanswered_turn", "last human turn has no answer")
    tokens = sum(t["value"].count(IMAGE_TOKEN) for t in conversations)
    if image:
        if tokens != 1 or not conversations[0]["value"].startswith(IMAGE_TOKEN):
            return Rejection("image_token", f"{tokens} <image> tokens; need one at the start of turn 0")
    elif tokens:
        return Rejection("image_token", f"text-only sample has {tokens} <image> tokens")
    if (content := check_content(image, conversations)) is not None:
        return content
    if image and image_exists is not None and not image_exists(image):
        return Rejection("image_missing", image)
    return None


def invisible(text: str) -> bool:
    """True when `text` shows nothing (only whitespace and invisible characters)."""
    return _INVISIBLE_ONLY.fullmatch(text) is not None


def check_content(image: str | None, conversations: list[dict[str, str]]) -> Rejection | None:
    """The content rules, for a record whose structure passed (`check_record`, before image existence)."""
    if image and (problem := path_problem(image)) is not None:
        return Rejection("bad_image_path", f"{problem}: {image[:200]}")
    for i, turn in enumerate(conversations):
        if (size := len(turn["value"].encode("utf-8", "surrogatepass"))) > MAX_TURN_BYTES:
            return Rejection("turn_too_long", f"turn {i} has {size} bytes (cap {MAX_TURN_BYTES})")
    if invisible(conversations[0]["value"].replace(IMAGE_TOKEN, "")):
        return Rejection("no_question", "turn 0 asks nothing besides <image>")
    return None


def record_id(value: Any) -> str | Rejection:
    """An upstream record id as the contract's non-empty string id (integers are spelled out)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return Rejection("bad_id", f"id is {value!r}"[:200])


def exists_under(data_root: Path) -> Callable[[str], bool]:
    """An `image_exists` callback that also refuses paths escaping the data root."""
    root = data_root.resolve()

    def exists(rel: str) -> bool:
        p = (root / rel).resolve()
        return p.is_relative_to(root) and p.is_file()

    return exists


def guarded(convert: Callable[[Any], T], row: Any) -> T | Rejection:
    """`convert(row)`; any exception it raises is one `bad_record` rejection naming it, not a failed source."""
    try:
        return convert(row)
    except Exception as err:
        return Rejection("bad_record", f"{type(err).__name__}: {err}"[:300])
