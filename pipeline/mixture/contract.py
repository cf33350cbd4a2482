"""The record contract of `pipeline/records.py` and its LLaVA masking rule, vectorised in polars, and
the image-existence check."""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.records import ANSWER_SEPARATOR, CONTROL_TEXTS, IMAGE_TOKEN, LLAVA_MASKING, exists_under

# Python's str.strip() treats the ASCII separators \x1c-\x1f as whitespace; regex \s does not.
BLANK_PATTERN = r"^[\s\x1c-\x1f]*$"
_STRIP_PATTERN = r"^[\s\x1c-\x1f]+|[\s\x1c-\x1f]+$"
# A plain relative path (no empty, "." or ".." component) can be checked by listing its folder.
_PLAIN_PATH = r"^(?:[^/]+/)*[^/]+$"
_DOT_PART = r"(?:^|/)\.{1,2}(?:/|$)"


def images_exist(paths: pl.Series, data_root: Path) -> pl.Series:
    """Vectorised `records.exists_under(data_root)`, per path."""
    return paths.is_in(existing_images(paths, data_root).implode()).fill_null(False)


def existing_images(paths: pl.Series, data_root: Path) -> pl.Series:
    """The distinct `paths` that `records.exists_under(data_root)` accepts: one directory listing per
    referenced folder instead of one stat per record. Paths that are not plain, and symlinked entries,
    go through `exists_under` itself so both always agree (it refuses anything resolving outside the root)."""
    root = data_root.resolve()
    exists = exists_under(data_root)
    uniq = pl.DataFrame({"path": paths.drop_nulls().unique()}).with_columns(
        plain=pl.col("path").str.contains(_PLAIN_PATH) & ~pl.col("path").str.contains(_DOT_PART),
        folder=pl.col("path").str.extract(r"^(.*)/[^/]*$").fill_null(""),
        name=pl.col("path").str.extract(r"([^/]+)$"),
    )
    found: list[pl.DataFrame] = []
    links: list[str] = []
    for folder in uniq.filter("plain")["folder"].unique().to_list():
        real = (root / folder).resolve()
        if not real.is_relative_to(root) or not real.is_dir():
            continue
        files: list[str] = []
        with os.scandir(real) as entries:
            for e in entries:
                if e.is_symlink():  # its target decides: leave it to exists_under
                    links.append(f"{folder}/{e.name}" if folder else e.name)
                elif e.is_file():
                    files.append(e.name)
        found.append(pl.DataFrame({"folder": folder, "name": files},
                                  schema={"folder": pl.String, "name": pl.String}))
    listed = (pl.concat(found) if found else pl.DataFrame(schema={"folder": pl.String, "name": pl.String}))
    ok = uniq.filter("plain").join(listed, on=["folder", "name"], how="semi").select("path")
    linked = uniq.join(pl.DataFrame({"path": links}, schema={"path": pl.String}), on="path", how="semi")
    slow = pl.concat([uniq.filter(~pl.col("plain")), linked])["path"].to_list()
    slow_ok = [p for p in slow if _safe_exists(exists, p)]
    return pl.concat([ok, pl.DataFrame({"path": slow_ok}, schema={"path": pl.String})])["path"]


def _safe_exists(exists: Any, path: str) -> bool:
    try:
        return bool(exists(path))
    except (ValueError, OSError):  # e.g. an embedded NUL byte: no such file can exist
        return False


def contract_violations(df: pl.DataFrame, image_ok: pl.Series | None) -> pl.DataFrame:
    """`reason` and `detail` per row (null when valid), the rules of `records.check_record` in
    the same order. `image_ok` is the existence of each row's image (None: not checked)."""
    return missing_images(record_violations(df), df["image"], image_ok)


def missing_images(violations: pl.DataFrame, images: pl.Series, image_ok: pl.Series | None) -> pl.DataFrame:
    """Add the image-existence rule to `record_violations`. It is the last contract rule a record with
    an image can break (the rule after it is for text-only records), so it applies exactly where no
    other contract rule did; kept separate so the engine can list the image folders while the other
    rules run."""
    if image_ok is None:
        return violations
    # The masking rule comes after the whole contract in `records` (check_record, then
    # llava_masking_reason), so a missing image outranks it.
    open_ = violations["reason"].is_null() | (violations["reason"] == LLAVA_MASKING)
    missing = (open_ & images.is_not_null() & (images != "") & ~image_ok).fill_null(False)
    return violations.with_columns(
        reason=pl.when(pl.lit(missing)).then(pl.lit("image_missing")).otherwise("reason"),
        detail=pl.when(pl.lit(missing)).then(pl.lit(images)).otherwise("detail"))


def _in_slices(check: Any, df: pl.DataFrame, pool: ThreadPoolExecutor, slices: int = 16) -> pl.DataFrame:
    """`check(df)` for a row-wise `check`, every other slice of rows in `pool` while this thread does
    the rest: polars runs these nested-list expressions on about one core per call, and a slice's
    intermediate columns are a fraction of the whole table's."""
    size = -(-df.height // slices) or 1
    parts: list[Any] = []
    for i, start in enumerate(range(0, df.height, size)):
        rows = df.slice(start, size)
        parts.append(pool.submit(check, rows) if i % 2 else check(rows))
    done = [p if isinstance(p, pl.DataFrame) else p.result() for p in parts]
    return pl.concat(done) if done else check(df)


def _llava_masking_detail() -> pl.Expr:
    """Per record, `records.llava_masking_reason` (null when none), for records that pass the contract."""
    value = pl.element().struct.field("value")
    turn = pl.int_range(pl.len())
    # llava_first_turn: "<image>\n" + the rest stripped; just "<image>" when nothing else is left
    rest = value.str.replace_all(IMAGE_TOKEN, "", literal=True).str.replace_all(_STRIP_PATTERN, "")
    asked = (pl.when(~value.str.contains(IMAGE_TOKEN, literal=True)).then(value)
             .when(rest == "").then(pl.lit(IMAGE_TOKEN))
             .otherwise(pl.concat_str([pl.lit(IMAGE_TOKEN + "\n"), rest])))
    rendered = pl.when(turn % 2 == 0).then(pl.concat_str([pl.lit(" "), asked, pl.lit(" ASSISTANT:")])).otherwise(value)
    detail = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for text in CONTROL_TEXTS:
        detail = detail.when(value.str.contains(text, literal=True)).then(pl.format("turn {} contains " + text, turn))
    detail = detail.when(rendered.str.contains(ANSWER_SEPARATOR, literal=True)).then(
        pl.format("turn {}: " + repr(ANSWER_SEPARATOR) + " would split the round", turn))
    return pl.col("conversations").list.eval(detail.otherwise(None)).list.drop_nulls().list.first()


# A record can break the masking rule only if some turn holds a control text or "ASSISTANT:" (the
# separator's own "ASSISTANT:" has to come from the text); the exact rule then runs on those few.
_SUSPECT = "|".join(re.escape(t) for t in (*CONTROL_TEXTS, ANSWER_SEPARATOR.strip()))


def _llava_masking_details(conversations: pl.Series) -> pl.Series:
    rows = pl.DataFrame({"conversations": conversations}).with_row_index("_i")
    suspects = rows.filter(pl.col("conversations").list.eval(
        pl.element().struct.field("value").str.contains(_SUSPECT)).list.any().fill_null(False))
    details = suspects.select("_i", _masking=_llava_masking_detail())
    return rows.select("_i").join(details, on="_i", how="left", maintain_order="left")["_masking"]


def record_violations(df: pl.DataFrame) -> pl.DataFrame:
    """`contract_violations` without the image-existence rule: the contract, then the masking rule."""
    conv = pl.col("conversations")
    speaker = pl.element().struct.field("from")
    value = pl.element().struct.field("value")
    turn = pl.int_range(pl.len())
    expected = pl.when(turn % 2 == 0).then(pl.lit("human")).otherwise(pl.lit("gpt"))
    # per turn: 1 no human/gpt speaker, 2 out of turn, 3 empty, 0 fine (first failing check wins)
    codes = conv.list.eval(
        pl.when(~speaker.is_in(["human", "gpt"]).fill_null(False)).then(1)
        .when(speaker != expected).then(2)
        .when(value.is_null() | value.str.contains(BLANK_PATTERN)).then(3)
        .otherwise(0))
    n_turns = conv.list.len()
    has_image = pl.col("image").is_not_null() & (pl.col("image") != "")
    first_value = conv.list.first().struct.field("value")
    frame = df.select("image", "conversations").with_columns(
        _n=n_turns.fill_null(0),
        _codes=codes,
    ).with_columns(
        _bad=pl.col("_codes").list.eval((pl.element() > 0).arg_max()).list.first(),
    ).with_columns(
        _code=pl.col("_codes").list.get(pl.col("_bad").cast(pl.Int64), null_on_oob=True).fill_null(0),
        _tokens=conv.list.eval(value.str.count_matches(IMAGE_TOKEN, literal=True)).list.sum(),
        _speaker=conv.list.get(pl.col("_bad").cast(pl.Int64), null_on_oob=True).struct.field("from"),
        _masking=_llava_masking_details(df["conversations"]),
    )
    bad_turn = pl.col("_bad").cast(pl.String)
    tokens = pl.col("_tokens").cast(pl.String)
    reason_detail = (
        pl.when(pl.col("_n") == 0).then(pl.struct(
            reason=pl.lit("no_conversation"), detail=pl.lit("conversations missing or empty")))
        .when(pl.col("_code") == 1).then(pl.struct(
            reason=pl.lit("bad_turn"), detail=pl.format("turn {} has no human/gpt speaker", bad_turn)))
        .when(pl.col("_code") == 2).then(pl.struct(
            reason=pl.lit("turns_not_alternating"),
            detail=pl.format("turn {} is {}, expected {}", bad_turn, pl.col("_speaker"),
                             pl.when(pl.col("_bad") % 2 == 0).then(pl.lit("human")).otherwise(pl.lit("gpt")))))
        .when(pl.col("_code") == 3).then(pl.struct(
            reason=pl.lit("empty_turn"), detail=pl.format("turn {} is empty", bad_turn)))
        .when(pl.col("_n") % 2 == 1).then(pl.struct(
            reason=pl.lit("unanswered_turn"), detail=pl.lit("last human turn has no answer")))
        .when(has_image & ((pl.col("_tokens") != 1) | ~first_value.str.starts_with(IMAGE_TOKEN))).then(pl.struct(
            reason=pl.lit("image_token"),
            detail=pl.format("{} <image> tokens; need one at the start of turn 0", tokens)))
        .when(~has_image & (pl.col("_tokens") > 0)).then(pl.struct(
            reason=pl.lit("image_token"), detail=pl.format("text-only sample has {} <image> tokens", tokens)))
        .when(pl.col("_masking").is_not_null()).then(pl.struct(
            reason=pl.lit(LLAVA_MASKING), detail=pl.col("_masking")))
        .otherwise(pl.lit(None, dtype=pl.Struct({"reason": pl.String, "detail": pl.String})))
    )
    return frame.select(reason_detail.alias("_rd")).unnest("_rd")
