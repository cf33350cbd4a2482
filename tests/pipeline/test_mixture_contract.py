"""The mixture's vectorised contract checks must agree with `records.check_record` on every record."""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipeline import tables
from concurrent.futures import ThreadPoolExecutor

from pipeline.mixture.contract import (_in_slices, contract_violations, existing_images,
                                       images_exist, missing_images, record_violations)
from pipeline.records import INVISIBLE_CLASS, MAX_TURN_BYTES, check_record, exists_under, invisible

H = "human"
G = "gpt"


def turn(speaker: Any, value: Any) -> dict[str, Any]:
    return {"from": speaker, "value": value}


# (image, conversations): at least one record per rejection reason, and the edge cases between them
CASES: list[tuple[str | None, Any]] = [
    ("coco/a.jpg", [turn(H, "<image>\nWhat is it?"), turn(G, "A cat.")]),                      # valid
    (None, [turn(H, "Hi"), turn(G, "Hello"), turn(H, "Bye"), turn(G, "Bye")]),                  # valid text-only
    ("", [turn(H, "Hi"), turn(G, "Hello")]),                                                    # "" is text-only
    ("coco/a.jpg", [turn(H, "<image>What?"), turn(G, "x")]),                                    # token without \n
    (None, None),                                                                               # no_conversation
    (None, []),                                                                                 # no_conversation
    ("coco/a.jpg", [turn("user", "<image>\nq"), turn(G, "a")]),                                 # bad_turn
    ("coco/a.jpg", [turn(None, "<image>\nq"), turn(G, "a")]),                                   # bad_turn
    (None, [turn(H, "q"), None]),                                                               # bad_turn (null turn)
    (None, [turn(G, "a"), turn(H, "q")]),                                                       # turns_not_alternating
    (None, [turn(H, "q"), turn(H, "q2")]),                                                      # turns_not_alternating
    (None, [turn(H, "q"), turn(G, "a"), turn(G, "b"), turn(H, "c")]),                           # alternating at 2
    (None, [turn(H, "q"), turn(G, "  \n\t")]),                                                  # empty_turn
    (None, [turn(H, "q"), turn(G, None)]),                                                      # empty_turn (null)
    (None, [turn(H, "q"), turn(G, "\x1c\x1f\u3000")]),                                           # Python whitespace
    (None, [turn(H, ""), turn("bot", "x")]),                                                    # first fault wins
    (None, [turn(H, "q"), turn(G, "a"), turn(H, "q2")]),                                        # unanswered_turn
    ("coco/a.jpg", [turn(H, "q <image>"), turn(G, "a")]),                                       # image_token: not first
    ("coco/a.jpg", [turn(H, "<image>\nq"), turn(G, "<image> a")]),                              # image_token: two
    ("coco/a.jpg", [turn(H, "<image>\n<image>\nq"), turn(G, "a")]),                              # image_token: two in one
    ("coco/a.jpg", [turn(H, "q"), turn(G, "a")]),                                               # image_token: none
    (None, [turn(H, "<image>\nq"), turn(G, "a")]),                                              # text-only with token
    ("coco/missing.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                # image_missing
    ("../outside.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                  # escapes the root
    ("coco/../coco/a.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                              # not plain, exists
    ("/abs/a.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                      # absolute
    ("coco/link.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                   # symlink inside root
    ("coco/out_link.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                               # symlink escaping
    ("coco", [turn(H, "<image>\nq"), turn(G, "a")]),                                            # a folder, not a file
    ("a.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                           # top level file
    ("coco/a.jpg", [turn(H, "<image>\nq"), turn(G, "a"), turn(H, "q2"), turn(G, "<image>")]),   # token in late turn
    # the content rules (issue 10, item 8)
    ("coco//a.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                    # bad_image_path
    ("coco/a.jpg/", [turn(H, "<image>\nq"), turn(G, "a")]),                                    # bad_image_path
    ("coco/a\\b.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                  # backslash
    ("coco/a\x00.jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                                  # NUL byte
    ("coco/" + "x" * 300 + ".jpg", [turn(H, "<image>\nq"), turn(G, "a")]),                     # long component
    ("/".join(["d" * 200] * 6), [turn(H, "<image>\nq"), turn(G, "a")]),                         # long path
    ("coco/a.jpg", [turn(H, "<image>\n" + "q" * (MAX_TURN_BYTES - 8)), turn(G, "a")]),          # at the cap: fine
    ("coco/a.jpg", [turn(H, "<image>\n" + "é" * MAX_TURN_BYTES), turn(G, "a")]),                 # turn_too_long
    (None, [turn(H, "q"), turn(G, "a"), turn(H, "q2"), turn(G, "x" * (MAX_TURN_BYTES + 1))]),    # turn_too_long late
    ("coco/a.jpg", [turn(H, "<image>\n"), turn(G, "a")]),                                        # only the token
    ("coco/a.jpg", [turn(H, "<image>\n\u200b"), turn(G, "a")]),                                  # no_question
    (None, [turn(H, "\u200b\ufeff"), turn(G, "a")]),                                              # no_question
    ("coco/a.jpg", [turn(H, "<image>\nq"), turn(G, "\u200b")]),                                  # empty: invisible
    (None, [turn(H, "q"), turn(G, "a"), turn(H, "\u200b"), turn(G, "\u2060\u200d")]),             # empty turn 2
    ("coco/a.jpg", [turn(H, "<image>\n<image>\u200b"), turn(G, "a")]),                            # two tokens first
    ("coco/a.jpg", [turn(H, "<image>\nq"), turn(G, "a\u200b")]),                                 # visible: fine
]

ALL_REASONS = {"no_conversation", "bad_turn", "turns_not_alternating", "empty_turn", "unanswered_turn",
               "image_token", "image_missing", "bad_image_path", "turn_too_long", "no_question"}


@pytest.fixture()
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "coco").mkdir(parents=True)
    (root / "coco" / "a.jpg").write_bytes(b"x")
    (root / "a.jpg").write_bytes(b"x")
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "coco" / "link.jpg").symlink_to(root / "coco" / "a.jpg")
    (root / "coco" / "out_link.jpg").symlink_to(tmp_path / "outside.jpg")
    return root


def frame(cases: list[tuple[str | None, Any]]) -> pl.DataFrame:
    rows = [{"id": str(i), "image": img, "conversations": conv, "source": "t", "source_id": str(i)}
            for i, (img, conv) in enumerate(cases)]
    return pl.from_arrow(tables.to_table(rows, tables.CONVERSATIONS))  # type: ignore[return-value]


def expected_reasons(cases: list[tuple[str | None, Any]], data_root: Path, check_images: bool) -> list[Any]:
    exists = exists_under(data_root) if check_images else None
    return [(r.reason if (r := check_record(img, conv, exists)) else None) for img, conv in cases]


def vectorised_reasons(cases: list[tuple[str | None, Any]], data_root: Path, check_images: bool) -> list[Any]:
    df = frame(cases)
    ok = images_exist(df["image"], data_root) if check_images else None
    return contract_violations(df, ok)["reason"].to_list()


def test_every_reason_agrees_with_check_record(data_root: Path) -> None:
    expected = expected_reasons(CASES, data_root, check_images=True)
    assert set(expected) - {None} == ALL_REASONS  # the cases really cover every rule
    assert vectorised_reasons(CASES, data_root, check_images=True) == expected


def test_agrees_without_image_check(data_root: Path) -> None:
    expected = expected_reasons(CASES, data_root, check_images=False)
    assert "image_missing" not in expected
    assert vectorised_reasons(CASES, data_root, check_images=False) == expected


def test_details_name_the_fault(data_root: Path) -> None:
    df = frame(CASES)
    out = contract_violations(df, images_exist(df["image"], data_root)).with_row_index()
    details = dict(zip(out["index"].to_list(), out["detail"].to_list()))
    for i, (img, conv) in enumerate(CASES):
        r = check_record(img, conv, exists_under(data_root))
        if r is not None:
            assert details[i] == r.detail, (i, CASES[i])


def test_invisible_characters_agree_for_every_code_point() -> None:
    """What makes a turn empty: `records.invisible` and the polars pattern share one class and must agree
    on all of Unicode; every character Python's `str.strip()` removes is invisible too."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    polars_says = pl.Series(chars).str.contains(f"^[{INVISIBLE_CLASS}]*$").to_list()
    assert polars_says == [invisible(ch) for ch in chars]
    assert all(invisible(ch) for ch in chars if ch.isspace())
    assert invisible("\u200b\u200d\ufeff") and not invisible("a") and not invisible("\u00e9")


def test_random_records_agree(data_root: Path) -> None:
    rng = random.Random(7)
    speakers = [H, G, "user", None]
    values = ["<image>\nq", "q", "", " ", "<image>", "a <image>", "x\x1e", None, "<image>\n<image>", "\u200b",
              "<image>\n\u2060"]
    images = [None, "", "coco/a.jpg", "coco/nope.jpg", "../outside.jpg", "coco/out_link.jpg", "coco//a.jpg",
              "./coco/a.jpg", "coco/\x7f.jpg"]
    cases = []
    for _ in range(3000):
        n = rng.choice([0, 1, 2, 2, 2, 3, 4, 4, 6])
        conv = [None if rng.random() < 0.02 else turn(rng.choice(speakers) if rng.random() < 0.1 else (H, G)[i % 2],
                                                       rng.choice(values) if rng.random() < 0.3 else "text")
                for i in range(n)]
        if conv and conv[0] and rng.random() < 0.6:
            conv[0]["value"] = "<image>\n" + (conv[0]["value"] or "")
        cases.append((rng.choice(images), conv if rng.random() > 0.02 else None))
    assert vectorised_reasons(cases, data_root, True) == expected_reasons(cases, data_root, True)


def test_folder_listing_agrees_with_exists_under(data_root: Path, tmp_path: Path) -> None:
    """`images_exist` lists folders instead of stat-ing files: it must accept exactly what
    `exists_under` accepts, for escapes, symlinked files and folders, folders named as images."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.jpg").write_bytes(b"x")
    (data_root / "linked_dir").symlink_to(tmp_path / "elsewhere")          # folder escaping the root
    (data_root / "inner_dir").symlink_to(data_root / "coco")               # folder staying inside
    (data_root / "coco" / "sub").mkdir()
    (data_root / "coco" / "dangling.jpg").symlink_to(data_root / "nowhere.jpg")
    paths = ["coco/a.jpg", "a.jpg", "coco/link.jpg", "coco/out_link.jpg", "coco/dangling.jpg", "coco/sub",
             "coco", "../outside.jpg", "coco/../../outside.jpg", "coco/../coco/a.jpg", "./a.jpg", "coco//a.jpg",
             "/abs/a.jpg", str(data_root / "a.jpg"), "linked_dir/b.jpg", "inner_dir/a.jpg", "missing/a.jpg",
             "coco/missing.jpg", "", "a\x00.jpg", None, "coco/a.jpg"]
    exists = exists_under(data_root)
    expected = [p is not None and p != "" and "\x00" not in p and exists(p) for p in paths]
    assert images_exist(pl.Series(paths, dtype=pl.String), data_root).to_list() == expected
    assert sorted(existing_images(pl.Series(paths, dtype=pl.String), data_root).to_list()) == sorted(
        {p for p, ok in zip(paths, expected) if ok})
    assert any(expected) and not all(expected)


@pytest.mark.parametrize("rows", [0, 1, 2, 7, 33])
def test_validation_in_slices_equals_one_pass(data_root: Path, rows: int) -> None:
    """The engine validates slices of rows in two threads and applies the image rule afterwards;
    the result must be the same as checking the whole frame at once."""
    cases = (CASES * (rows // len(CASES) + 1))[:rows]
    df = frame(cases)
    with ThreadPoolExecutor(max_workers=1) as pool:
        sliced = _in_slices(record_violations, df, pool)
    ok = images_exist(df["image"], data_root)
    assert sliced.equals(record_violations(df))
    assert missing_images(sliced, df["image"], ok).equals(contract_violations(df, ok))
    assert contract_violations(df, ok)["reason"].to_list() == expected_reasons(cases, data_root, check_images=True)
