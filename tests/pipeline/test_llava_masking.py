"""The LLaVA masking rule: `records.llava_masking_reason` and its polars twin in the mixture's
`record_violations` agree on adversarial records, and each rejection really is a record that LLaVA's
own round splitting cannot mask (checked on LLaVA's string arithmetic, no tokenizer needed)."""
from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from pipeline import tables
from pipeline.mixture.contract import contract_violations, missing_images, record_violations
from pipeline.records import LLAVA_MASKING, check_record, llava_first_turn, llava_masking_reason

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def h(value: Any) -> dict[str, Any]:
    return {"from": "human", "value": value}


def g(value: Any) -> dict[str, Any]:
    return {"from": "gpt", "value": value}


IMG = "coco/a.jpg"
# (image, conversations, rejected?)
CASES: list[tuple[str | None, list[dict[str, Any]], bool]] = [
    (IMG, [h("<image>\nWhat is it?"), g("A cat.")], False),
    (None, [h("Hi"), g("Hello"), h("Bye"), g("Bye")], False),
    (IMG, [h("<image>What?  "), g("\nA dog.  ")], False),                       # normalised, not stripped answers
    (None, [h("Say </s> twice"), g("No.")], True),                               # literal EOS in a question
    (IMG, [h("<image>\nq"), g("Done.</s>And more.")], True),                     # EOS mid-answer
    (None, [h("q"), g("a"), h("q2"), g("a<s>b")], True),                         # BOS in a later answer
    (None, [h("Decode <unk> please"), g("ok")], True),                           # LLaVA's padding id
    (None, [h("q"), g("a <pad> b")], True),                                      # llava-hf's padding id
    (None, [h("Role play. ASSISTANT: hi"), g("ok")], True),                      # separator inside a question
    (None, [h("q"), g("Sure. ASSISTANT: again")], True),                         # separator inside an answer
    (None, [h("Continue: USER: x ASSISTANT:"), g("y")], True),                   # question ends at a separator
    (IMG, [h("<image>\nContinue ASSISTANT:  \n"), g("y")], True),                # ... after LLaVA strips it
    (None, [h("ASSISTANT: go"), g("y")], True),                                  # "USER: ASSISTANT: go"
    (IMG, [h("<image> ASSISTANT: go"), g("y")], False),                          # stripped away: "<image>\nASSISTANT: go"
    (None, [h("q"), g("ASSISTANT: answer")], False),                             # LLaVA splits fine here
    (None, [h("q"), g("text\nASSISTANT: line")], False),                         # no space before it
    (None, [h("q"), g("a ASSISTANT:")], False),                                  # no space after it
    (None, [h("ASSISTANT:x"), g("ok")], False),
    (None, [h("q\x1c ASSISTANT:\x1f"), g("ok")], False),                         # not a first turn: no strip
    (IMG, [h("<image>\nq ASSISTANT:\x1c\u3000"), g("ok")], True),                 # Python's strip() set
    (IMG, [h("<image>\n\u00a0"), g("ok")], False),                               # only whitespace left
    (None, [h("</S> <UNK> <Pad>"), g("case matters")], False),
    (None, [h("q"), g("a"), h("q2"), g("b"), h("q3 ASSISTANT: x"), g("c </s>")], True),  # first fault wins
]


def frame(cases: list[tuple[str | None, list[dict[str, Any]], bool]]) -> pl.DataFrame:
    rows = [{"id": str(i), "image": img, "conversations": conv, "source": "t", "source_id": str(i)}
            for i, (img, conv, _) in enumerate(cases)]
    return pl.from_arrow(tables.to_table(rows, tables.CONVERSATIONS))  # type: ignore[return-value]


def llava_rounds_split(conversations: list[dict[str, str]]) -> bool:
    """LLaVA's preprocess_v1 string arithmetic on the vicuna_v1 prompt: every round splits into exactly
    the question part and the answer part we wrote."""
    turns = [llava_first_turn(t["value"]) if i == 0 else t["value"] for i, t in enumerate(conversations)]
    prompt = SYSTEM + " " + "".join(f"USER: {q} ASSISTANT: {a}</s>" for q, a in zip(turns[::2], turns[1::2]))
    *rounds, tail = prompt.split("</s>")
    if tail != "" or len(rounds) != len(turns) // 2:
        return False
    for k, rnd in enumerate(rounds):
        expected_question = (SYSTEM + " " if k == 0 else "") + f"USER: {turns[2 * k]}"
        if rnd.split(" ASSISTANT: ") != [expected_question, turns[2 * k + 1]]:
            return False
    return True


def test_python_and_polars_rules_agree_on_adversarial_records() -> None:
    assert all(check_record(img, conv) is None for img, conv, _ in CASES)
    expected = [llava_masking_reason(conv) for _, conv, _ in CASES]
    assert [e is not None for e in expected] == [rejected for *_, rejected in CASES]
    out = record_violations(frame(CASES))
    assert out["detail"].to_list() == expected
    assert out["reason"].to_list() == [LLAVA_MASKING if e else None for e in expected]


def test_accepted_records_split_as_written_by_llava() -> None:
    """Records without a control text are accepted exactly when LLaVA's splitting finds our rounds."""
    for _, conv, rejected in CASES:
        if any(s in t["value"] for t in conv for s in ("</s>", "<s>", "<unk>", "<pad>")):
            continue
        assert llava_rounds_split(conv) is not rejected, conv


def test_contract_reasons_come_first_and_missing_image_outranks_masking() -> None:
    cases = [(None, [h("q"), g("a </s>"), h("unanswered")], True),             # contract: unanswered_turn
             (IMG, [h("<image>\nq"), g("a </s>")], True)]                      # image missing + masking
    df = frame(cases)
    assert record_violations(df)["reason"].to_list() == ["unanswered_turn", LLAVA_MASKING]
    image_ok = pl.Series([False, False])
    assert missing_images(record_violations(df), df["image"], image_ok)["reason"].to_list() == [
        "unanswered_turn", "image_missing"]
    assert contract_violations(df, image_ok)["reason"].to_list() == ["unanswered_turn", "image_missing"]


@pytest.mark.parametrize("value,expected", [
    ("<image>\nWhat?", "<image>\nWhat?"), ("<image>What?  ", "<image>\nWhat?"),
    ("What? <image>", "<image>\nWhat?"), ("<image>", "<image>"), ("plain  ", "plain  ")])
def test_first_turn_is_normalised_like_preprocess_multimodal(value: str, expected: str) -> None:
    assert llava_first_turn(value) == expected
