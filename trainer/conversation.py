"""The vicuna_v1 prompt format and its label mask: only the assistant answers are supervised.

The prompt is built as one string and tokenized once; supervision is decided per token from the
tokenizer's character offsets. Tokenizing pieces separately and summing their lengths (LLaVA's way)
breaks whenever SentencePiece merges across a piece boundary: the "tokenization mismatch" bug."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

IGNORE_INDEX = -100
IMAGE_TOKEN = "<image>"
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = {"human": "USER", "gpt": "ASSISTANT"}


@dataclass(frozen=True)
class Prompt:
    text: str
    answer_spans: list[tuple[int, int]]  # [start, end) character spans: answer + end-of-turn token


def build_prompt(conversations: Sequence[dict[str, Any]], eos: str) -> Prompt:
    """"SYSTEM USER: q ASSISTANT: a</s>USER: q2 ASSISTANT: a2</s>" (LLaVA's conv_vicuna_v1, sep2=eos)."""
    text = SYSTEM + " "
    spans: list[tuple[int, int]] = []
    for turn in conversations:
        role = ROLES[turn["from"]]
        value = turn["value"].strip() if turn["from"] == "gpt" else turn["value"]
        text += f"{role}: "
        if turn["from"] == "gpt":
            start = len(text)
            text += value + eos
            spans.append((start, len(text)))
        else:
            text += value + " "
    return Prompt(text, spans)


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


class TooLong(ValueError):
    """The image tokens or every supervised token would be cut by the length limit."""


def tokenize(conversations: Sequence[dict[str, Any]], tokenizer: Any, image_token_id: int,
             num_image_tokens: int, max_length: int) -> Tokenized:
    """Token ids and labels, with `<image>` expanded to `num_image_tokens` ids (llava-hf's layout).

    A token is supervised when its characters overlap an answer span or the space before it;
    everything else is -100.
    Longer samples are truncated (LLaVA's behaviour) unless that would cut the image or leave no
    supervised token, which raises TooLong."""
    prompt = build_prompt(conversations, tokenizer.eos_token)
    enc = tokenizer(prompt.text, return_offsets_mapping=True, add_special_tokens=True)
    ids: list[int] = []
    labels: list[int] = []
    # After "ASSISTANT:" the model generates " answer</s>": SentencePiece gives the separator space
    # to the answer's first word ("▁Red"), or, before a digit or a character with no "▁x" piece,
    # makes it a token of its own ("▁", "7"). Supervise from that space (as LLaVA does), else the
    # model never learns the "▁" that generation from a prompt ending at "ASSISTANT:" needs first.
    spans = [(start - 1, end) for start, end in prompt.answer_spans]
    for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        if token_id == image_token_id:
            ids.extend([image_token_id] * num_image_tokens)
            labels.extend([IGNORE_INDEX] * num_image_tokens)
            continue
        supervised = end > start and any(start < s_end and end > s_start for s_start, s_end in spans)
        ids.append(token_id)
        labels.append(token_id if supervised else IGNORE_INDEX)
    truncated = len(ids) > max_length
    if truncated:
        if image_token_id in ids[max_length:]:
            raise TooLong(f"{len(ids)} tokens; the limit {max_length} would cut the image tokens")
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise TooLong(f"no supervised token within the first {max_length} tokens")
    return Tokenized(ids, labels, truncated)
