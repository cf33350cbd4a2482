"""The vicuna_v1 prompt and its label mask: only the assistant answers are supervised.

The profile (trainer/profiles.py) picks one of two tokenizations of the same prompt:
- `llava15`: LLaVA-1.5's own arithmetic (`preprocess_v1` + `tokenizer_image_token`). The prompt is
  tokenized in pieces split at `<image>`, each on its own, so the text after the image starts with
  SentencePiece's "▁" (29871); the mask comes from the token counts of each round tokenized alone.
  Where those counts do not add up LLaVA zeroes every label; here that raises TokenizationMismatch,
  so the sample is counted and skipped instead of filling a batch slot with nothing.
- one pass (`improved`): the prompt is tokenized once, as llava-hf's LlavaProcessor does at inference,
  and supervision is decided per token from character offsets, so it cannot mismatch.
Either way `<image>` becomes `num_image_tokens` ids (llava-hf's layout) and max_length counts them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pipeline.records import ANSWER_SEPARATOR, IMAGE_TOKEN, llava_first_turn
from trainer.profiles import DEFAULT_PROFILE, get_profile

IGNORE_INDEX = -100
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = {"human": "USER", "gpt": "ASSISTANT"}


@dataclass(frozen=True)
class Prompt:
    text: str
    answer_spans: list[tuple[int, int]]  # [start, end) character spans: answer + end-of-turn token


def build_prompt(conversations: Sequence[dict[str, Any]], eos: str) -> Prompt:
    """"SYSTEM USER: q ASSISTANT: a</s>USER: q2 ASSISTANT: a2</s>" (LLaVA's conv_vicuna_v1, sep2=eos),
    after LLaVA's preprocess_multimodal (`<image>` first, on its own line); answers as written."""
    text = SYSTEM + " "
    spans: list[tuple[int, int]] = []
    for turn in conversations:
        text += f"{ROLES[turn['from']]}: "
        if turn["from"] == "gpt":
            start = len(text)
            text += turn["value"] + eos
            spans.append((start, len(text)))
        else:
            text += llava_first_turn(turn["value"]) + " "
    return Prompt(text, spans)


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


class TooLong(ValueError):
    """The image tokens or every supervised token would be cut by the length limit."""


class TokenizationMismatch(ValueError):
    """LLaVA's round arithmetic does not add up to the prompt's tokens, so LLaVA would zero every label."""


def tokenize(conversations: Sequence[dict[str, Any]], tokenizer: Any, image_token_id: int,
             num_image_tokens: int, max_length: int, profile: str = DEFAULT_PROFILE) -> Tokenized:
    """Token ids and labels, `<image>` expanded to `num_image_tokens` ids.

    Longer samples are truncated after the image expansion (LLaVA's behaviour) unless that would cut
    the image or leave no supervised token, which raises TooLong."""
    prompt = build_prompt(conversations, tokenizer.eos_token)
    if get_profile(profile).one_pass_tokens:
        ids, labels = _one_pass(prompt, tokenizer)
    else:
        ids, labels = _llava15(prompt.text, tokenizer, image_token_id, max_length)
    expanded_ids: list[int] = []
    expanded_labels: list[int] = []
    for token_id, label in zip(ids, labels):
        n = num_image_tokens if token_id == image_token_id else 1
        expanded_ids.extend([token_id] * n)
        expanded_labels.extend([label if n == 1 else IGNORE_INDEX] * n)
    truncated = len(expanded_ids) > max_length
    if truncated:
        if image_token_id in expanded_ids[max_length:]:
            raise TooLong(f"{len(expanded_ids)} tokens; the limit {max_length} would cut the image tokens")
        expanded_ids, expanded_labels = expanded_ids[:max_length], expanded_labels[:max_length]
    if all(label == IGNORE_INDEX for label in expanded_labels):
        raise TooLong(f"no supervised token within the first {max_length} tokens")
    return Tokenized(expanded_ids, expanded_labels, truncated)


def _one_pass(prompt: Prompt, tokenizer: Any) -> tuple[list[int], list[int]]:
    """One tokenization; a token is supervised when its characters overlap an answer span or the
    space before it."""
    enc = tokenizer(prompt.text, return_offsets_mapping=True, add_special_tokens=True)
    # After "ASSISTANT:" the model generates " answer</s>": SentencePiece gives the separator space
    # to the answer's first word ("▁Red"), or, before a digit or a character with no "▁x" piece,
    # makes it a token of its own ("▁", "7"). Supervise from that space (as LLaVA does), else the
    # model never learns the "▁" that generation from a prompt ending at "ASSISTANT:" needs first.
    spans = [(start - 1, end) for start, end in prompt.answer_spans]
    labels = [token_id if end > start and any(start < s_end and end > s_start for s_start, s_end in spans)
              else IGNORE_INDEX for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"])]
    return list(enc["input_ids"]), labels


def _llava15(text: str, tokenizer: Any, image_token_id: int, max_length: int) -> tuple[list[int], list[int]]:
    """LLaVA's preprocess_v1 (vicuna_v1, tokenizers >= 0.14) with one `image_token_id` per `<image>`."""
    has_image = IMAGE_TOKEN in text
    ids = _tokenizer_image_token(text, tokenizer, image_token_id)
    if not has_image:  # text-only prompts go through tokenizer(..., truncation=True, max_length)
        ids = ids[:max_length]
    # Each round after the first is tokenized alone below; a non-legacy tokenizer then gives its
    # "USER" one token more than it has after "</s>" in the whole prompt, which LLaVA subtracts.
    shift = 0 if _prefixes_after_special_tokens(tokenizer) else 1
    labels = list(ids)
    cur = 1
    _ignore(labels, 0, cur)
    for i, rnd in enumerate(text.split(tokenizer.eos_token)):
        parts = rnd.split(ANSWER_SEPARATOR)
        if not rnd or len(parts) != 2:
            break
        round_len = len(_tokenizer_image_token(rnd, tokenizer, image_token_id)) - (shift if i else 0)
        instruction_len = (len(_tokenizer_image_token(parts[0] + ANSWER_SEPARATOR, tokenizer, image_token_id))
                           - 2 - (shift if i else 0))
        _ignore(labels, cur, cur + instruction_len)
        cur += round_len
    _ignore(labels, cur, len(labels))
    # LLaVA pads with <unk>, so its length check does not count literal <unk> tokens.
    total = sum(token_id != tokenizer.unk_token_id for token_id in ids)
    if cur < max_length and cur != total:
        raise TokenizationMismatch(f"rounds add up to {cur} tokens, the prompt has {total}")
    return ids, labels


def _ignore(labels: list[int], start: int, stop: int) -> None:
    """`labels[start:stop] = IGNORE_INDEX` with Python (and torch) slice semantics."""
    labels[start:stop] = [IGNORE_INDEX] * len(labels[start:stop])


def _tokenizer_image_token(text: str, tokenizer: Any, image_token_id: int) -> list[int]:
    """LLaVA's tokenizer_image_token: each piece between `<image>` markers tokenized on its own, the
    BOS kept only once, one `image_token_id` per marker."""
    chunks = [_sentencepiece_ids(tokenizer, piece) for piece in text.split(IMAGE_TOKEN)]
    offset = 1 if chunks[0][:1] == [tokenizer.bos_token_id] else 0
    ids = chunks[0][:offset]
    for k, chunk in enumerate(chunks):
        if k:
            ids.append(image_token_id)
        ids.extend(chunk[offset:])
    return ids


def _sentencepiece_ids(tokenizer: Any, text: str) -> list[int]:
    """`tokenizer(text).input_ids` as LLaVA's SentencePiece tokenizer gives them. SentencePiece always
    prepends its "▁"; tokenizers' Metaspace skips it when the text already starts with a space (after
    a first turn that is only "<image>", the next piece is " ASSISTANT: ...")."""
    if text[:1] in (" ", "▁") and _skips_prefix_before_space(tokenizer):
        text = " " + text
    return list(tokenizer(text).input_ids)


def _skips_prefix_before_space(tokenizer: Any) -> bool:
    return tokenizer(" a", add_special_tokens=False).input_ids == tokenizer("a", add_special_tokens=False).input_ids


def _prefixes_after_special_tokens(tokenizer: Any) -> bool:
    """The tokenizer's `legacy` behaviour, read from what it does (LLaVA reads `tokenizer.legacy`,
    which transformers' LlamaTokenizer sets from the same flag; the GGUF-built one has no attribute):
    text after a special token gets SentencePiece's "▁" as if it started the prompt."""
    start = ROLES["human"] + ":"  # how every round after the first begins
    after = tokenizer(tokenizer.eos_token + start, add_special_tokens=False).input_ids[1:]
    return after == tokenizer(start, add_special_tokens=False).input_ids
