"""LLaVA-1.5's own loading rules (`llava/train/train.py`, `--version v1`), applied before the record
contract so a record is judged the way LLaVA itself would have trained on it.

What LLaVA does to a record, in order (read from `LazySupervisedDataset.__getitem__`,
`preprocess_multimodal` and `preprocess_v1`):
1. image records only: in every turn that holds `<image>`, all tokens are removed, the rest is
   stripped and one `<image>\\n` is put in front (so a token at the end, or two in one turn, become one
   at the start of that turn);
2. a first turn that is not from the human is dropped (one turn only; a second gpt turn then fails
   the alternation assert);
3. the conversation becomes "SYSTEM USER: q ASSISTANT: a</s>USER: ...", and the labels are masked
   round by round: the prompt is split on `</s>`, each round on " ASSISTANT: "; a round that does not
   split into exactly two parts ends the loop, and if the rounds read so far do not cover the whole
   prompt every label of the record is set to IGNORE ("tokenization mismatch"): it trains on nothing.

Our repairs: rules 1 and 2 as LLaVA applies them, plus two of our own, each counted apart:
- an unanswered trailing human turn is dropped. LLaVA would keep it and, by rule 3, mask the whole
  record; dropping it keeps the answered rounds (a deliberate, counted deviation);
- a single `<image>` outside the first turn is moved to the first turn: the project's contract and
  trainer put the image first (LLaVA would have kept it in its turn).
What LLaVA could not train on (several turns with `<image>`: one image, several image slots) is left
to the contract, which rejects it; `pipeline.records.llava_masking_reason` names records that rule 3
would silently train on nothing (the one masking rule, shared with the mixture and the trainer)."""
from __future__ import annotations

from collections import Counter
from typing import Any

from .records import IMAGE_TOKEN, llava_first_turn

# Repair metrics, in the order they are applied.
TOKEN_NORMALIZED = "image_token_normalized"          # rule 1 changed a turn
LEADING_GPT_DROPPED = "leading_gpt_turn_dropped"     # rule 2
TRAILING_HUMAN_DROPPED = "unanswered_last_turn_dropped"
TOKEN_MOVED_TO_FIRST = "image_token_moved_to_first_turn"
REPAIRS = (TOKEN_NORMALIZED, LEADING_GPT_DROPPED, TRAILING_HUMAN_DROPPED, TOKEN_MOVED_TO_FIRST)


def _is_turn(turn: Any) -> bool:
    return isinstance(turn, dict) and isinstance(turn.get("value"), str)


def apply_repairs(has_image: bool, conversations: Any) -> tuple[Any, Counter]:
    """The record's turns as LLaVA (plus our two documented repairs) would use them, and which
    repairs fired. Anything that is not a list of turn dicts is returned unchanged for the contract."""
    fired: Counter = Counter()
    if not isinstance(conversations, list) or not all(_is_turn(t) for t in conversations):
        return conversations, fired
    turns = [{"from": t.get("from"), "value": t["value"]} for t in conversations]
    if has_image:
        for t in turns:
            if IMAGE_TOKEN in t["value"] and (fixed := llava_first_turn(t["value"])) != t["value"]:
                t["value"] = fixed
                fired[TOKEN_NORMALIZED] = 1
    if turns and turns[0]["from"] == "gpt":
        turns = turns[1:]
        fired[LEADING_GPT_DROPPED] = 1
    if len(turns) % 2 and turns[-1]["from"] == "human":
        turns = turns[:-1]
        fired[TRAILING_HUMAN_DROPPED] = 1
    holders = [i for i, t in enumerate(turns) if IMAGE_TOKEN in t["value"]]
    if has_image and holders and holders != [0] and len(holders) == 1:
        i = holders[0]
        turns[i]["value"] = turns[i]["value"].replace(IMAGE_TOKEN, "").strip()
        turns[0]["value"] = llava_first_turn(IMAGE_TOKEN + turns[0]["value"])
        fired[TOKEN_MOVED_TO_FIRST] = 1
    return turns, fired
