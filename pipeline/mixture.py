"""Merge the conversation tables named by a recipe into one LLaVA training mixture.

Steps (all record-level work is columnar, in polars): read each component's table, check every record
against the contract of `pipeline/records.py` (the same rules, vectorised), drop exact duplicates,
detect (and keep or drop) samples that repeat the reference set, sample per component, make ids
unique, shuffle from the recipe's seed, then export:

    <out>/<name>.json        LLaVA's format (list of {id, image?, conversations}), streamed
    <out>/<name>.parquet     the same records in the same order, with provenance (CONVERSATIONS)
    <out>/rejections.parquet every record left out and why (REJECTIONS)
    <out>/manifest.json      counts per component vs the recipe, rejections, duplicates, overlap, hashes

Every file is written to a temporary name and renamed; the manifest goes last and records a
fingerprint of the inputs, so a rerun over unchanged inputs does nothing."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import atomic, tables
from pipeline.layout import Layout
from pipeline.overlap import question_key
from pipeline.progress import Log, default_log
from pipeline.recipe import Component, Recipe
from pipeline.recipe import load as load_recipe
from pipeline.records import IMAGE_TOKEN, exists_under

CONVERSATIONS_SCHEMA = pl.Schema(pl.from_arrow(tables.CONVERSATIONS.empty_table()).schema)  # type: ignore[union-attr]
# Bump when the engine's output for the same inputs changes, so old mixtures are rebuilt.
ENGINE_VERSION = "1"
BATCH_ROWS = 16_384  # records per JSON / Parquet write: bounds the memory of the export
WORKERS = min(4, os.cpu_count() or 1)  # threads hashing the input tables
# The Parquet copy is a by-product beside the JSON: zstd's fast negative levels compress its text
# ~1.5x less than level 1 but encode it ~1.5x faster, and its encoding is the export's longest thread.
PARQUET_COMPRESSION, PARQUET_LEVEL = "zstd", -1
# Python's str.strip() treats the ASCII separators \x1c-\x1f as whitespace; regex \s does not.
BLANK_PATTERN = r"^[\s\x1c-\x1f]*$"
# A plain relative path (no empty, "." or ".." component) can be checked by listing its folder.
_PLAIN_PATH = r"^(?:[^/]+/)*[^/]+$"
_DOT_PART = r"(?:^|/)\.{1,2}(?:/|$)"


class MixtureError(RuntimeError):
    """An input the recipe needs is missing or unreadable; the message names it."""


@dataclass(frozen=True)
class MixtureReport:
    manifest: dict[str, Any]
    out_dir: Path
    skipped: bool  # True when the inputs were unchanged and nothing was written

    @property
    def json_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["json"]["file"]

    @property
    def parquet_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["parquet"]["file"]

    @property
    def rejections_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["rejections"]["file"]

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.json"


# ---------------------------------------------------------------- reading

def component_path(layout: Layout, c: Component) -> Path:
    return layout.tables(c.source) / c.table


def _parquet_files(path: Path) -> list[Path]:
    """A table is one parquet file or a folder of parts; hidden/underscore files are temp or metadata."""
    if path.is_file():
        return [path]
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if parts:
            return parts
    raise MixtureError(f"conversation table not found: {path} (a parquet file or a folder of parts)")


def read_component(path: Path) -> pl.DataFrame:
    """Read a conversation table in the CONVERSATIONS schema (extra columns are ignored)."""
    parts = []
    for f in _parquet_files(path):
        names = pq.read_schema(f).names
        missing = [n for n in CONVERSATIONS_SCHEMA if n not in names]
        if missing:
            raise MixtureError(f"{f}: missing columns {missing}; expected the CONVERSATIONS schema")
        part = pl.read_parquet(f, columns=list(CONVERSATIONS_SCHEMA))
        if part.schema != CONVERSATIONS_SCHEMA:
            try:
                part = part.cast(CONVERSATIONS_SCHEMA)  # type: ignore[arg-type]
            except pl.exceptions.PolarsError as e:
                raise MixtureError(f"{f}: columns do not match the CONVERSATIONS schema: {e}") from e
        parts.append(part)
    return pl.concat(parts, rechunk=False)


def image_hashes(tables_root: Path) -> pl.DataFrame:
    """(path, sha256) of every written image, from all sources' image manifests."""
    files = sorted(p for p in tables_root.glob("*/images/*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        return pl.DataFrame(schema={"path": pl.String, "sha256": pl.String})
    return (pl.scan_parquet(files).select("path", "sha256")
            .filter(pl.col("path").is_not_null() & pl.col("sha256").is_not_null())
            .unique("path", keep="first", maintain_order=True).collect())


# ---------------------------------------------------------------- validation

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


def _image_column(recipe: Recipe, layout: Layout) -> pl.Series:
    """Every component's image paths, read alone (a small column) so the image listing can start
    before the full tables are read. A malformed table fails here too, but `read_component` reports it."""
    files = [f for c in recipe.components for f in _parquet_files(component_path(layout, c))]
    return pl.concat([pl.read_parquet(f, columns=["image"])["image"].cast(pl.String).unique() for f in files])


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
    """Add the image-existence rule to `record_violations`. It is the last rule a record with an image
    can break (the rule after it is for text-only records), so it applies exactly where no other did;
    kept separate so the engine can list the image folders while the other rules run."""
    if image_ok is None:
        return violations
    missing = (violations["reason"].is_null() & images.is_not_null() & (images != "") & ~image_ok).fill_null(False)
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


def record_violations(df: pl.DataFrame) -> pl.DataFrame:
    """`contract_violations` without the image-existence rule."""
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
        .otherwise(pl.lit(None, dtype=pl.Struct({"reason": pl.String, "detail": pl.String})))
    )
    return frame.select(reason_detail.alias("_rd")).unnest("_rd")


def normalised_question(conversations: pl.Expr) -> pl.Expr:
    """The overlap report's question key (`overlap.question_key`), so both count the same overlaps.
    Applied only to rows that share image bytes with the reference, so per-row Python is cheap."""
    return (conversations.list.first().struct.field("value")
            .map_elements(question_key, return_dtype=pl.String, skip_nulls=True))


# ---------------------------------------------------------------- fingerprint and outputs

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _inputs(recipe: Recipe, layout: Layout) -> list[Path]:
    files = [f for c in recipe.components for f in _parquet_files(component_path(layout, c))]
    if recipe.overlap.sources:
        files += sorted(p for p in layout.tables_root.glob("*/images/*.parquet")
                        if not p.name.startswith((".", "_")))
    return files


def fingerprint(recipe: Recipe, layout: Layout, check_images: bool) -> tuple[str, list[dict[str, Any]]]:
    """Content hash of everything the output depends on: engine version, recipe, roots, input tables.
    Image files are not hashed (millions of them); their tables and manifests change when they do."""
    files = _inputs(recipe, layout)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # hashlib releases the GIL: one file per core
        digests = list(pool.map(_sha256_file, files))
    inputs = [{"path": str(p.relative_to(layout.tables_root)) if p.is_relative_to(layout.tables_root) else str(p),
               "bytes": p.stat().st_size, "sha256": sha} for p, sha in zip(files, digests)]
    key = {"engine": ENGINE_VERSION, "recipe": recipe.raw, "data_root": str(layout.data_root),
           "check_images": check_images, "inputs": inputs}
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest(), inputs


def _encode_json(batch: pl.DataFrame) -> pl.Series:
    """One LLaVA JSON document per record (polars' encoder, no Python objects per record). A
    text-only record has no `image` key at all: LLaVA decides the modality by the key's presence."""
    lines = batch.select(pl.struct("id", "image", "conversations").struct.json_encode()).to_series()
    text_only = batch["image"].is_null().arg_true()
    if text_only.len():
        # `"image":null,` can only be the key itself: inside a JSON string every `"` is escaped
        stripped = lines.gather(text_only).str.replace('"image":null,', "", literal=True, n=1)
        lines = lines.scatter(text_only, stripped)
    return lines


class _HashingFile:
    """Write-through file wrapper that hashes and counts what passes (polars and pyarrow write into it)."""

    closed = False  # pyarrow checks it before writing

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def _batches(records: pl.DataFrame, order: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """The output records in output order, BATCH_ROWS at a time: `order` holds each record's row in
    `records` (`_uid`) and its final id. Gathering per batch keeps every batch compact, so converting
    it (to JSON, to Arrow) costs only its own rows and the memory of one batch."""
    columns = records.select(tables.CONVERSATIONS.names)
    for start in range(0, order.height, BATCH_ROWS):
        part = order.slice(start, BATCH_ROWS)
        yield columns[part["_uid"].to_numpy()].with_columns(id=part["id"])


def _write_lines(f: _HashingFile, lines: pl.DataFrame, last: bool) -> None:
    """One JSON record per line, each followed by a comma except the very last one."""
    lines[: -1 if last else None].write_csv(f, include_header=False, quote_style="never", line_terminator=",\n")
    if last:
        f.write(lines[-1, 0].encode() + b"\n")


def _write_row_group(writer: pq.ParquetWriter, batch: pl.DataFrame) -> None:
    writer.write_table(batch.to_arrow().cast(tables.CONVERSATIONS))


def _close_json(f: _HashingFile, raw: BinaryIO) -> None:
    f.write(b"]\n")
    raw.flush()
    os.fsync(raw.fileno())


def export(records: pl.DataFrame, order: pl.DataFrame, json_dest: Path,
           parquet_dest: Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write the LLaVA JSON (a list, one record per line, streamed) and the Parquet copy with
    provenance, both atomic and in the same order; returns size/sha256 of each (hashed as written).
    The main thread gathers and encodes batch n+1 while one thread writes and hashes the JSON of
    batch n and another converts and encodes it to Parquet (polars, pyarrow, hashlib and file writes
    release the GIL). Each thread has one job queued at most, so memory stays a few batches."""
    schema = tables.CONVERSATIONS
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(stack.enter_context(atomic.atomic_path(json_dest)).open("wb"))
        f = _HashingFile(raw)
        writer, pq_file = None, None
        if parquet_dest is not None:
            pq_raw = stack.enter_context(stack.enter_context(atomic.atomic_path(parquet_dest)).open("wb"))
            pq_file = _HashingFile(pq_raw)
            # no dictionaries or statistics: free text of high cardinality gains nothing from them
            writer = stack.enter_context(pq.ParquetWriter(
                pq_file, schema, compression=PARQUET_COMPRESSION, compression_level=PARQUET_LEVEL,
                use_dictionary=["source"], write_statistics=False))
        # entered last, so they exit first: no write outlives its file
        json_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        parquet_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        f.write(b"[\n")
        json_job = parquet_job = None
        written = 0
        for batch in _batches(records, order):
            if writer:
                if parquet_job:
                    parquet_job.result()
                parquet_job = parquet_pool.submit(_write_row_group, writer, batch)
            lines = _encode_json(batch).to_frame()
            written += batch.height
            if json_job:
                json_job.result()
            json_job = json_pool.submit(_write_lines, f, lines, written == order.height)
        for job in (json_job, parquet_job):
            if job:
                job.result()
        closing = json_pool.submit(_close_json, f, raw)  # the fsync overlaps the Parquet footer
        if writer:
            writer.close()
        closing.result()
        json_out = {"file": json_dest.name, "bytes": f.size, "sha256": f.sha.hexdigest()}
    parquet_out = None if pq_file is None else {
        "file": parquet_dest.name, "bytes": pq_file.size, "sha256": pq_file.sha.hexdigest(), "rows": order.height}
    return json_out, parquet_out


def write_llava_json(records: pl.DataFrame, dest: Path) -> dict[str, Any]:
    """Only the JSON of `records` (CONVERSATIONS columns), in their order."""
    order = records.select(_uid=pl.int_range(pl.len(), dtype=pl.Int64), id="id")
    return export(records, order, dest, None)[0]


def write_table(table: pl.DataFrame, dest: Path, schema: pa.Schema) -> dict[str, Any]:
    atomic.write_table(dest, table.to_arrow().cast(schema))
    return {"file": dest.name, "bytes": dest.stat().st_size, "sha256": _sha256_file(dest), "rows": table.height}


def count_json_records(path: Path) -> int:
    """Re-read a mixture JSON written by `write_llava_json` and count its records without loading the
    whole list: every line between `[` and `]` must parse as one JSON object followed by a comma
    (except the last), which is exactly a valid JSON list. Raises ValueError otherwise."""
    count = 0
    with path.open("rb") as f:
        if f.readline() != b"[\n":
            raise ValueError(f"{path}: does not start with a '[' line")
        pending: bytes | None = None  # the previous record line, judged once we see what follows it
        for raw in f:
            line = raw.rstrip(b"\n")
            if line == b"]":
                if pending is not None:
                    _parse_record(pending, path, count)
                    count += 1
                if f.read(2) not in (b"", b"\n"):
                    raise ValueError(f"{path}: data after the closing ']'")
                return count
            if pending is not None:
                if not pending.endswith(b","):
                    raise ValueError(f"{path}: record {count} is not followed by a comma")
                _parse_record(pending[:-1], path, count)
                count += 1
            pending = line
    raise ValueError(f"{path}: truncated, no closing ']' line")


def _parse_record(line: bytes, path: Path, index: int) -> None:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{path}: record {index} is not valid JSON: {e}") from e
    if not isinstance(rec, dict) or "conversations" not in rec:
        raise ValueError(f"{path}: record {index} is not a LLaVA record")


def _outputs_intact(out: Path, manifest: dict[str, Any]) -> bool:
    outputs = manifest.get("outputs", {})
    return bool(outputs) and all(
        (out / o["file"]).is_file() and (out / o["file"]).stat().st_size == o["bytes"] for o in outputs.values())


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


# ---------------------------------------------------------------- the merge

def _duplicates(records: pl.DataFrame, valid: pl.Expr) -> pl.DataFrame:
    """`_uid` of every valid record repeating an earlier valid one (same image path and same
    conversations) and the id of that first one. A 64-bit hash narrows the search to a few
    candidates; equality is then checked exactly on those."""
    # Hashing the nested column directly row-encodes it (a second copy of all text); hashing each
    # turn's text and folding the hashes, salted by turn position, costs no memory.
    turn_hash = (pl.element().struct.field("value").hash(seed=1)
                 ^ pl.int_range(pl.len()).cast(pl.UInt64).hash(seed=2))
    hashed = pl.when(valid).then(pl.col("image").hash(seed=0) ^ pl.col("conversations").list.eval(turn_hash).list.sum())
    candidates = records.filter(valid & hashed.is_duplicated())
    key = pl.struct("image", "conversations")
    return (candidates.with_columns(_first=pl.col("id").first().over(key))
            .filter(~key.is_first_distinct()).select("_uid", "_component", "_first"))


def _rows(records: pl.DataFrame, picked: pl.DataFrame) -> pl.DataFrame:
    """The rows of `records` at `picked["_uid"]` (their positions) with `picked`'s other columns."""
    extra = [c for c in picked.columns if c not in records.columns]
    return records[picked["_uid"].to_numpy()].with_columns(picked.select(extra))


def _overlap(records: pl.DataFrame, keep: pl.Expr, recipe: Recipe,
             hashes: pl.DataFrame | None) -> tuple[pl.DataFrame, int]:
    """Kept samples of the overlap sources with the same image bytes and first question as a kept
    sample of the reference component: `_uid`, component, reference id; plus #images without a hash.
    `hashes` is `image_hashes` (None when the recipe configures no overlap sources)."""
    hits_schema = {"_uid": pl.Int64, "_component": pl.String, "_ref": pl.String}
    if hashes is None:
        return pl.DataFrame(schema=hits_schema), 0
    with_image = keep & pl.col("image").is_not_null()
    candidates = (records.select("_uid", "image", "_component", _in=with_image & pl.col("_component").is_in(recipe.overlap.sources))
                  .filter("_in").join(hashes, left_on="image", right_on="path", how="left"))
    unhashed = candidates.filter(pl.col("sha256").is_null()).height
    # Only reference samples whose image bytes also occur among the candidates can match: find those
    # first, so the question text is normalised for a few rows rather than for the whole reference set.
    shared = hashes.join(candidates.select("sha256").unique(), on="sha256", how="semi")
    ref_rows = (records.select("_uid", "image", _in=with_image & (pl.col("_component") == recipe.overlap.reference))
                .filter("_in").join(shared, left_on="image", right_on="path", how="inner"))
    reference = (_rows(records, ref_rows).select("sha256", _q=normalised_question(pl.col("conversations")), _ref="id")
                 .group_by("sha256", "_q").agg(pl.col("_ref").first()))
    asked = _rows(records, candidates.filter(pl.col("sha256").is_not_null()))
    hits = (asked.select("_uid", "_component", "sha256", _q=normalised_question(pl.col("conversations")))
            .join(reference, on=["sha256", "_q"], how="inner").select("_uid", "_component", "_ref"))
    return hits, unhashed


def _sample(kept: pl.DataFrame, recipe: Recipe) -> tuple[pl.DataFrame, dict[str, int]]:
    """Apply each component's `max_samples` / `fraction` to the kept rows (`_uid`, `_component`, in
    mixture order): a seeded subset, in the original order."""
    sizes = _counts(kept)
    picked: list[pl.DataFrame] = []
    sampled_out = {}
    for stream, c in enumerate(recipe.components):
        n = sizes.get(c.name, 0)
        k = n
        if c.fraction is not None:
            k = min(k, round(n * c.fraction))
        if c.max_samples is not None:
            k = min(k, c.max_samples)
        sampled_out[c.name] = n - k
        if k < n:
            rng = np.random.Generator(np.random.PCG64([recipe.seed, stream]))
            picked.append(pl.DataFrame({"_component": c.name, "_pos": np.sort(rng.choice(n, size=k, replace=False))},
                                       schema={"_component": pl.String, "_pos": pl.Int64}))
    if picked:
        sampled = [c.name for c in recipe.components if sampled_out[c.name]]
        positions = kept.with_columns(_pos=pl.int_range(pl.len(), dtype=pl.Int64).over("_component"))
        drop = (positions.filter(pl.col("_component").is_in(sampled))
                .join(pl.concat(picked), on=["_component", "_pos"], how="anti"))
        kept = kept.filter(~pl.col("_uid").is_in(drop["_uid"].implode()))
    return kept, sampled_out


def _unique_ids(df: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Fill missing ids as `<component>-<row>`; rename later repeats `<id>~<component>-<k>` (k-th
    repeat, in mixture order) until every id is unique. Returns the frame, #assigned, #renamed."""
    missing = pl.col("id").is_null() | (pl.col("id") == "")
    assigned = df.select(missing.sum()).item()
    df = df.with_columns(id=pl.when(missing).then(pl.format("{}-{}", "_component", "_row")).otherwise("id"))
    renamed = 0
    for _ in range(8):
        repeat = ~pl.col("id").is_first_distinct()
        n = df.select(repeat.sum()).item()
        if n == 0:
            return df, assigned, renamed
        renamed += n
        k = pl.int_range(pl.len()).over("id")
        df = df.with_columns(id=pl.when(repeat).then(pl.format("{}~{}-{}", "id", "_component", k)).otherwise("id"))
    raise MixtureError("could not make ids unique after 8 renaming rounds")


def _rejection_rows(df: pl.DataFrame, reason: pl.Expr, detail: pl.Expr) -> pl.DataFrame:
    return df.select(source=pl.col("source"), source_id=pl.coalesce("source_id", "id"), reason=reason, detail=detail)


def _counts(df: pl.DataFrame) -> dict[str, int]:
    return dict(df.group_by("_component").len().iter_rows())


def build(recipe: Recipe, layout: Layout, out_dir: Path | None = None, *, check_images: bool = True,
          force: bool = False, log: Log = default_log) -> MixtureReport:
    """Merge, validate and export the mixture. `check_images=False` skips the image-existence rule
    (for benchmarks of the merge alone; the manifest records it). Reruns over unchanged inputs
    return the existing manifest with `skipped=True` unless `force`."""
    out = Path(out_dir) if out_dir else layout.data_root.parent / "mixtures" / recipe.name
    key, inputs = fingerprint(recipe, layout, check_images)
    previous = _read_manifest(out / "manifest.json")
    if not force and previous and previous.get("input_fingerprint") == key and _outputs_intact(out, previous):
        log(f"mixture {recipe.name}: inputs unchanged ({key[:12]}), keeping {out}")
        return MixtureReport(previous, out, skipped=True)

    # Side work runs in a background thread while the main thread reads (polars releases the GIL):
    # the image listing, then the image manifests for the overlap; then half of the validation.
    background = ThreadPoolExecutor(max_workers=1)
    try:
        return _build(recipe, layout, out, key, inputs, check_images, background, log)
    finally:
        background.shutdown(cancel_futures=True)


def _build(recipe: Recipe, layout: Layout, out: Path, key: str, inputs: list[dict[str, Any]], check_images: bool,
           background: ThreadPoolExecutor, log: Log) -> MixtureReport:
    existing = (background.submit(lambda: existing_images(_image_column(recipe, layout), layout.data_root))
                if check_images else None)
    hashes = background.submit(image_hashes, layout.tables_root) if recipe.overlap.sources else None
    frames = []
    for c in recipe.components:
        df = read_component(component_path(layout, c))
        log(f"mixture {recipe.name}: {c.name}: {df.height:,} records from {component_path(layout, c)}")
        frames.append(df.with_columns(source=pl.col("source").fill_null(c.source), _component=pl.lit(c.name),
                                      _row=pl.int_range(pl.len(), dtype=pl.Int64)))
    records = pl.concat(frames, rechunk=False).with_columns(_uid=pl.int_range(pl.len(), dtype=pl.Int64))
    del frames
    counts = {"read": _counts(records)}

    violations = _in_slices(record_violations, records, background)
    image_ok = records["image"].is_in(existing.result().implode()).fill_null(False) if existing else None
    records = records.with_columns(missing_images(violations, records["image"], image_ok))
    del violations
    bad = records.filter(pl.col("reason").is_not_null())
    rejections = [_rejection_rows(bad, pl.col("reason"), pl.col("detail"))]
    counts["rejected"] = _counts(bad)
    by_reason = dict(bad.group_by("reason").len().sort("reason").iter_rows())
    del bad
    # Records are never copied from here on: each step narrows `keep`, and the export gathers the
    # kept rows batch by batch.
    records = records.with_columns(image=pl.when(pl.col("image") == "").then(None).otherwise("image"))
    log(f"mixture {recipe.name}: {records.height - sum(by_reason.values()):,} valid, "
        f"{sum(by_reason.values()):,} rejected by the contract")
    keep = pl.col("reason").is_null()

    dups = _duplicates(records, keep)
    counts["duplicates"] = _counts(dups)
    if recipe.duplicates == "drop":
        rejections.append(_rejection_rows(records.join(dups, on="_uid", how="inner"), pl.lit("duplicate"),
                                          pl.format("same image and conversations as {}", "_first")))
        keep = keep & ~pl.col("_uid").is_in(dups["_uid"].implode())

    hits, unhashed = _overlap(records, keep, recipe, hashes.result() if hashes else None)
    counts["overlap"] = _counts(hits)
    if recipe.overlap.policy == "drop":
        dropped = records.join(hits.drop("_component"), on="_uid", how="inner")
        rejections.append(_rejection_rows(dropped, pl.lit("overlap"), pl.format(
            "same image and first question as {} {}", pl.lit(recipe.overlap.reference), "_ref")))
        keep = keep & ~pl.col("_uid").is_in(hits["_uid"].implode())

    kept = records.select("_uid", "_component", "_row", "id", _keep=keep).filter("_keep").drop("_keep")
    kept, sampled_out = _sample(kept, recipe)
    kept, ids_assigned, ids_renamed = _unique_ids(kept)
    order = kept[np.random.Generator(np.random.PCG64(recipe.seed)).permutation(kept.height)].select("_uid", "id")
    counts["records"] = _counts(kept)
    log(f"mixture {recipe.name}: {order.height:,} records after dedup/overlap/sampling, shuffled (seed {recipe.seed})")

    rejected = pl.concat(rejections)
    # Everything is written into a hidden staging folder first and moved into place only once all
    # of it exists, manifest last: a killed run never leaves a new JSON beside an old manifest.
    stage = out / f".staging-{key[:16]}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        json_out, parquet_out = export(records, order, stage / f"{recipe.name}.json",
                                       stage / f"{recipe.name}.parquet")
        assert parquet_out is not None
        rejections_out = write_table(rejected, stage / "rejections.parquet", tables.REJECTIONS)
        manifest = {
            "name": recipe.name,
            "recipe_version": recipe.version,
            "recipe": recipe.raw,
            "recipe_sha256": recipe.sha256,
            "engine_version": ENGINE_VERSION,
            "input_fingerprint": key,
            "inputs": inputs,
            "data_root": str(layout.data_root),
            "check_images": check_images,
            "seed": recipe.seed,
            "records": order.height,
            "content_hash": json_out["sha256"],
            "components": [_component_counts(c, recipe, counts, sampled_out[c.name]) for c in recipe.components],
            "rejections": by_reason,
            "duplicates": {"policy": recipe.duplicates, "found": dups.height},
            "overlap": {"policy": recipe.overlap.policy, "sources": list(recipe.overlap.sources),
                        "reference": recipe.overlap.reference, "found": hits.height, "unhashed_images": unhashed},
            "ids": {"assigned": ids_assigned, "renamed": ids_renamed},
            "outputs": {"json": json_out, "parquet": parquet_out, "rejections": rejections_out},
        }
        atomic.write_bytes(stage / "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        for name in (json_out["file"], parquet_out["file"], rejections_out["file"], "manifest.json"):
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"mixture {recipe.name}: wrote {out / json_out['file']} ({json_out['bytes']:,} B), "
        f"{parquet_out['file']}, {rejections_out['file']} and manifest.json")
    return MixtureReport(manifest, out, skipped=False)


def _component_counts(c: Component, recipe: Recipe, counts: dict[str, dict[str, int]],
                      sampled_out: int) -> dict[str, Any]:
    def n(stage: str) -> int:
        return counts[stage].get(c.name, 0)
    records = n("records")
    tol = recipe.tolerance_of(c)
    within = None if c.expected is None else abs(records - c.expected) <= tol * c.expected
    return {"name": c.name, "source": c.source, "table": c.table, "read": n("read"), "rejected": n("rejected"),
            "duplicates": n("duplicates"),
            "duplicates_dropped": n("duplicates") if recipe.duplicates == "drop" else 0,
            "overlap": n("overlap"), "overlap_dropped": n("overlap") if recipe.overlap.policy == "drop" else 0,
            "sampled_out": sampled_out, "records": records, "expected": c.expected, "tolerance": tol,
            "within_tolerance": within}


# ---------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Merge, validate and export a training mixture from a recipe.")
    p.add_argument("--recipe", default="recipes/spatial_llava.toml")
    p.add_argument("--data-root", default=None, help="LLaVA image folder (default: $SPATIALMIX_DATA_ROOT or playground/data)")
    p.add_argument("--tables-root", default=None)
    p.add_argument("--out", default=None, help="output folder (default: <data_root>/../mixtures/<name>)")
    p.add_argument("--no-image-check", action="store_true", help="skip the image-existence rule")
    p.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    args = p.parse_args(argv)
    report = build(load_recipe(args.recipe), Layout.at(args.data_root, args.tables_root),
                   Path(args.out) if args.out else None, check_images=not args.no_image_check,
                   force=args.force, log=print)
    m = report.manifest
    print(f"{m['records']:,} records -> {report.json_path}" + (" (unchanged)" if report.skipped else ""))
    for c in m["components"]:
        print(f"  {c['name']:<12} {c['records']:>9,}  expected {c['expected']}  rejected {c['rejected']:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
