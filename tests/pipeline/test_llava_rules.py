"""LLaVA-1.5's loading rules: each repair on its own, the v1 prompt, and the label masking that would
train on nothing (checked against a re-implementation of LLaVA's round loop over character counts)."""
from __future__ import annotations

import random

import pytest

from pipeline.llava_rules import (LEADING_GPT_DROPPED, ROUND_SEP, SEP2, TOKEN_MOVED_TO_FIRST, TOKEN_NORMALIZED,
                                  TRAILING_HUMAN_DROPPED, apply_repairs, llava_masking_reason, llava_prompt)
from pipeline.records import check_record
from pipeline.sources.llava_json import convert_records
from pipeline.records import Rejection


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
    ([h("Q"), g("A</s>B")], "eos_in_turn"),
    ([h("Q</s>"), g("A")], "eos_in_turn"),
    ([h("Q"), g("A</s>")], "eos_in_turn"),
    ([h("say ASSISTANT: x"), g("A")], "role_marker_in_turn"),
    ([h("Q"), g("A ASSISTANT: B")], "role_marker_in_turn"),
])
def test_masking_that_trains_on_nothing(turns: list, reason: str | None) -> None:
    found = llava_masking_reason(turns)
    assert (found.split(":")[0] if found else None) == reason


def _llava_masks_everything(turns: list) -> bool:
    """LLaVA's preprocess_v1 loop with characters standing in for tokens (exact at string level)."""
    conversation = llava_prompt(turns)
    total, cur = len(conversation), 0
    for rou in conversation.split(SEP2):
        if rou == "":
            break
        if len(rou.split(ROUND_SEP)) != 2:
            break
        cur += len(rou) + len(SEP2)
    return cur != total


def test_masking_reason_agrees_with_llavas_loop_on_random_records() -> None:
    rng = random.Random(0)
    pieces = ["Q", "A", "</s>", " ASSISTANT: ", "USER:", " ", "word", "ASSISTANT:", "\n"]
    for _ in range(3000):
        turns = [(h if i % 2 == 0 else g)("".join(rng.choice(pieces) for _ in range(rng.randint(1, 4))))
                 for i in range(2 * rng.randint(1, 3))]
        if check_record(None, turns) is not None:
            continue
        assert (llava_masking_reason(turns) is not None) == _llava_masks_everything(turns), turns


def test_convert_records_names_the_rule_that_fired() -> None:
    records = [{"id": "a", "image": "x.jpg", "conversations": [g("hi"), h("<image>\nQ"), g("A")]},
               {"id": "b", "image": "y.jpg", "conversations": [h("<image>\nQ"), g("A</s>")]},
               {"id": "c", "image": "z.jpg", "conversations": [h("<image>\nQ"), g("A")]},
               {"id": "a", "conversations": [h("Q"), g("A")]},
               ["not", "a", "record"]]
    out = convert_records(records, "src", lambda p: p if p != "z.jpg" else Rejection("image_missing", p))
    assert [r["id"] for r in out.rows] == ["a", "a#2"]
    assert {r["source_id"]: r["reason"] for r in out.rejected} == {
        "1:b": "eos_in_turn", "2:c": "image_missing", "4": "not_a_record"}
    assert out.details()[LEADING_GPT_DROPPED] == 1 and out.details()["text_only"] == 1
