"""LLaVA-1.5's loading rules: each repair on its own, the v1 prompt, and the label masking that would
train on nothing (checked against a re-implementation of LLaVA's round loop over character counts)."""
from __future__ import annotations

import random

import pytest

from pipeline.llava_rules import (LEADING_GPT_DROPPED, TOKEN_MOVED_TO_FIRST, TOKEN_NORMALIZED, TRAILING_HUMAN_DROPPED,
                                  apply_repairs)
from pipeline.records import LLAVA_MASKING, Rejection, check_record, llava_masking_reason
from pipeline.sources.llava_json import convert_records

# LLaVA's v1 conversation template (SeparatorStyle.TWO), written out independently of the code under test.
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
SEP2 = "</s>"
ROUND_SEP = " ASSISTANT: "


def llava_prompt(turns: list[dict]) -> str:
    """The prompt as LLaVA's `Conversation.get_prompt` builds it, including its quirk: an empty message
    is written as "ROLE:" with no separator."""
    text = SYSTEM + " "
    for i, turn in enumerate(turns):
        role, value = ("USER", "ASSISTANT")[i % 2], turn["value"]
        text += f"{role}: {value}{(' ', SEP2)[i % 2]}" if value else f"{role}:"
    return text


def h(v: str) -> dict:
    return {"from": "human", "value": v}


def g(v: str) -> dict:
    return {"from": "gpt", "value": v}


@pytest.mark.parametrize("image, turns, repaired, fired", [
    (True, [h("What is it?\n<image>"), g("A cat.")], [h("<image>\nWhat is it?"), g("A cat.")], {TOKEN_NORMALIZED}),
    (True, [h("<image>\n<image>\nCompare."), g("Same.")], [h("<image>\nCompare."), g("Same.")], {TOKEN_NORMALIZED}),
    (True, [h("<image> Describe.  "), g("Ok.")], [h("<image>\nDescribe."), g("Ok.")], {TOKEN_NORMALIZED}),
    (True, [g("Hello."), h("<image>\nQ"), g("A")], [h("<image>\nQ"), g("A")], {LEADING_GPT_DROPPED}),
    (True, [h("<image>\nQ"), g("A"), h("More?")], [h("<image>\nQ"), g("A")], {TRAILING_HUMAN_DROPPED}),
    (True, [h("Look."), g("Ok."), h("<image>\nNow?"), g("Grey.")],
     [h("<image>\nLook."), g("Ok."), h("Now?"), g("Grey.")], {TOKEN_MOVED_TO_FIRST}),
    (False, [h("Say <image> please"), g("<image>")], [h("Say <image> please"), g("<image>")], set()),  # text-only: untouched
    (True, [h("<image>\nQ"), g("A")], [h("<image>\nQ"), g("A")], set()),
])
def test_each_repair(image: bool, turns: list, repaired: list, fired: set) -> None:
    out, counts = apply_repairs(image, turns)
    assert out == repaired and set(counts) == fired


def test_repairs_do_not_touch_the_input_and_leave_garbage_to_the_contract() -> None:
    turns = [h("Q <image>"), g("A")]
    apply_repairs(True, turns)
    assert turns == [h("Q <image>"), g("A")]
    assert apply_repairs(True, "not a list") == ("not a list", {})
    # two turns with a token: one image, two slots; LLaVA cannot train on it, the contract says so
    out, _ = apply_repairs(True, [h("<image>\nA"), g("x"), h("<image>\nB"), g("y")])
    assert check_record("i.jpg", out).reason == "image_token"


def test_prompt_is_llavas_v1_format() -> None:
    assert llava_prompt([h("<image>\nQ"), g("A"), h("Q2"), g("A2")]).endswith(
        " USER: <image>\nQ ASSISTANT: A</s>USER: Q2 ASSISTANT: A2</s>")
    assert llava_prompt([h("Q"), g("")]).endswith("USER: Q ASSISTANT:")  # LLaVA writes an empty message bare


@pytest.mark.parametrize("turns, reason", [
    ([h("Q"), g("A")], None),
    ([h("Q"), g("A"), h("Q2"), g("A2")], None),
    ([h("Q"), g("A</s>B")], "turn 1 contains </s>"),
    ([h("Q</s>"), g("A")], "turn 0 contains </s>"),
    ([h("Q"), g("A</s>")], "turn 1 contains </s>"),
    ([h("say ASSISTANT: x"), g("A")], "turn 0: ' ASSISTANT: ' would split the round"),
    ([h("Q"), g("A ASSISTANT: B")], "turn 1: ' ASSISTANT: ' would split the round"),
])
def test_masking_that_trains_on_nothing(turns: list, reason: str | None) -> None:
    assert llava_masking_reason(turns) == reason


def _llava_supervised(turns: list) -> list[str] | None:
    """LLaVA's preprocess_v1 loop with characters standing in for tokens (exact at string level): the
    text it supervises in each round, or None when it masks every label ("tokenization mismatch")."""
    conversation = llava_prompt(turns)
    total, cur, supervised = len(conversation), 0, []
    for rou in conversation.split(SEP2):
        if rou == "":
            break
        parts = rou.split(ROUND_SEP)
        if len(parts) != 2:
            break
        supervised.append(parts[1])
        cur += len(rou) + len(SEP2)
    return supervised if cur == total else None


def test_masking_reason_agrees_with_llavas_loop_on_random_records() -> None:
    """The rule fires exactly where LLaVA trains on nothing or on other text than the answers."""
    rng = random.Random(0)
    pieces = ["Q", "A", "</s>", " ASSISTANT: ", "USER:", " ", "word", "ASSISTANT:", "\n"]
    fired = 0
    for _ in range(3000):
        turns = [(h if i % 2 == 0 else g)("".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))))
                 for i in range(2 * rng.randint(1, 3))]
        if check_record(None, turns) is not None:
            continue
        answers = [t["value"] for t in turns[1::2]]
        wrong = _llava_supervised(turns) != answers
        assert (llava_masking_reason(turns) is not None) == wrong, turns
        fired += wrong
    assert fired > 100  # the generator does reach both outcomes


def test_convert_records_names_the_rule_that_fired() -> None:
    records = [{"id": "a", "image": "x.jpg", "conversations": [g("hi"), h("<image>\nQ"), g("A")]},
               {"id": "b", "image": "y.jpg", "conversations": [h("<image>\nQ"), g("A</s>")]},
               {"id": "c", "image": "z.jpg", "conversations": [h("<image>\nQ"), g("A")]},
               {"id": "a", "conversations": [h("Q"), g("A")]},
               ["not", "a", "record"]]
    out = convert_records(records, "src", lambda p: p if p != "z.jpg" else Rejection("image_missing", p))
    assert [r["id"] for r in out.rows] == ["a", "a#2"]
    assert {r["source_id"]: r["reason"] for r in out.rejected} == {
        "1:b": LLAVA_MASKING, "2:c": "image_missing", "4": "not_a_record"}
    assert out.details()[LEADING_GPT_DROPPED] == 1 and out.details()["text_only"] == 1
