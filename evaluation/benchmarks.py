"""Readers: rows of SpatialRGPT-Bench and Spatial-Relation-Eval (JSON list, JSONL or Parquet) -> eval items.

Confirmed (docs/evaluation.md): SpatialRGPT-Bench_v1.json is a list of records {id, image_info
{file_path, ...}, text_q ("... Region [0] ..."), conversations (human "<image>\\n... <mask> ...", gpt
answer), qa_info {type, category: left_predicate, right_choice, ..., distance_data, direction}, bbox
[[x0, y0, x1, y1], ...], rle?}; Spatial-LLaVA's eval reads Spatial-Relation-Eval with the same keys.
Assumed: the hub Parquet forms carry the same columns, nested ones possibly as JSON / Python-literal
strings, the picture as a `datasets` Image ({bytes, path}), raw bytes or a path. Flat rows
(question, answer, category) are read too. Anything else fails naming the columns found.

The truth of a row is read from its reference answer with the judge's own parsers, so the judge
and the truth can never disagree on phrasing; rows whose answer cannot be read are rejected."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow.parquet as pq

from evaluation.judge import DIRECTION, KINDS, Truth
from evaluation.quantities import clock_hours, length_metres
from evaluation.questions import is_which_question, question_options
from evaluation.relations import choice, yes_no
from evaluation.table import EvalItem, Rejected, image_suffix
from pipeline.sources.base import SourceError
from spatialqa_gen.qa import CATEGORIES, QUALITATIVE


@dataclass(frozen=True)
class BenchmarkSource:
    """A benchmark on the hub. `revision` "main" is resolved once and locked at download (the commits
    seen when this was written are in `observed`); `files` are globs over the repo at that revision."""

    name: str
    repo_id: str
    revision: str
    files: tuple[str, ...]
    observed: str


SPATIALRGPT_BENCH = BenchmarkSource(
    "spatialrgpt_bench", "a8cheng/SpatialRGPT-Bench", "main", ("SpatialRGPT-Bench_v1.json",),
    "main 01b38d2 (data/ Parquet + images/ uploaded); 59fdd6a (Oct 7 2024, SpatialRGPT-Bench_v1.json)")
SPATIAL_RELATION_EVAL = BenchmarkSource(
    "spatial_relation_eval", "rogerxi/Spatial-Relation-Eval", "refs/convert/parquet",
    ("default/train/*.parquet",), "refs/convert/parquet 37301d1: default/train/0000..0002.parquet, 897 MB")
BENCHMARKS = {b.name: b for b in (SPATIALRGPT_BENCH, SPATIAL_RELATION_EVAL)}

# Upstream category names (qa_info.category) -> ours. Qualitative ones come as <word>_predicate
# (a yes/no question) or <word>_choice (which of the two).
_WORDS = {"left": "left_right", "right": "left_right", "above": "above_below", "below": "above_below",
          "behind": "behind_front", "front": "behind_front", "big": "big_small", "small": "big_small",
          "tall": "tall_short", "short": "tall_short", "wide": "wide_thin", "thin": "wide_thin"}
_QUANTITATIVE = {"distance_data": "direct_distance", "direct_distance_data": "direct_distance",
                 "horizontal_distance_data": "horizontal_distance", "vertical_distance_data": "vertical_distance",
                 "width_data": "width", "height_data": "height", "direction": DIRECTION, "direction_data": DIRECTION}

# Candidate columns per field, in order of preference.
_QUESTION = ("text_q", "question", "prompt", "query")
_ANSWER = ("answer", "gt", "gt_answer", "ground_truth")
_CATEGORY = ("category", "qa_category", "sub_task", "task")
_IMAGE = ("image", "images", "image_path", "image_file", "file_name", "img")
_BOXES = ("bbox", "bboxes", "boxes")
_ID = ("id", "question_id", "idx", "index", "sample_id")


def decode(value: Any) -> Any:
    """Nested fields may arrive as JSON or Python-literal strings (hub Parquet conversions)."""
    if isinstance(value, str) and value[:1] in "[{":
        for parse in (json.loads, ast.literal_eval):
            try:
                return parse(value)
            except (ValueError, SyntaxError):
                continue
    return value


def rows_of(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a benchmark file: a JSON list, JSON lines, or Parquet (one row group at a time)."""
    path = Path(path)
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            yield from batch.to_pylist()
    elif path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            yield from (json.loads(line) for line in f if line.strip())
    elif path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
        yield from data
    else:
        raise ValueError(f"{path}: a benchmark file is .json, .jsonl or .parquet")


def _first(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    return next((row[n] for n in names if row.get(n) not in (None, "", [])), None)


def _turns(row: dict[str, Any]) -> list[dict[str, str]]:
    """conversations [{from, value}] or messages [{role, content}] as [{from, value}]."""
    turns = decode(row.get("conversations") or row.get("messages") or [])
    out = []
    for t in turns if isinstance(turns, list) else []:
        if isinstance(t, dict):
            content = t.get("value", t.get("content"))
            if isinstance(content, list):  # [{type, text}, ...] chat content
                content = " ".join(c.get("text") or "" for c in content if isinstance(c, dict))
            out.append({"from": t.get("from", t.get("role", "")), "value": content or ""})
    return out


def region_text(question: str) -> str:
    """'<image>\\nIs <mask> <depth> left of <mask>?' -> 'Is Region [0] left of Region [1]?'"""
    question = re.sub(r"<image>\s*", "", question).replace("<depth>", "")
    count = iter(range(1000))
    return re.sub(r"\s+", " ", re.sub(r"<mask>", lambda _m: f"Region [{next(count)}]", question)).strip()


@dataclass(frozen=True)
class Fields:
    """Where one row's fields are (resolved once from the first row's columns)."""

    question: Callable[[dict], str | None]
    answer: Callable[[dict], str | None]
    category: Callable[[dict], str | None]


class BenchmarkShapeError(SourceError):
    """Rows of no benchmark shape the reader knows; the message names the columns found."""


def resolve_fields(columns: list[str]) -> Fields:
    cols = set(columns)
    has_turns = bool(cols & {"conversations", "messages"})
    if not (cols & set(_QUESTION) or has_turns) or not (cols & set(_ANSWER) or has_turns) \
            or not (cols & set(_CATEGORY) or "qa_info" in cols) or not cols & {*_IMAGE, "image_info"}:
        raise BenchmarkShapeError(
            f"no known benchmark shape fits the columns {sorted(cols)}; expected SpatialRGPT-Bench's "
            f"(text_q | conversations, qa_info, image_info | image, bbox) or flat rows (question, answer, "
            f"category, image)")

    def question(row: dict) -> str | None:
        text = _first(row, _QUESTION)
        turns = _turns(row)
        return region_text(text or (turns[0]["value"] if turns else ""))

    def answer(row: dict) -> str | None:
        turns = _turns(row)
        return _first(row, _ANSWER) or (turns[1]["value"] if len(turns) > 1 else None)

    def category(row: dict) -> str | None:
        info = decode(row.get("qa_info"))
        return (info.get("category") if isinstance(info, dict) else None) or _first(row, _CATEGORY)

    return Fields(question, answer, category)


def our_category(source: str, question: str) -> tuple[str, str] | None:
    """(category, truth kind) of an upstream category name; None when unknown."""
    name = source.strip().lower()
    if name in _QUANTITATIVE:
        category = _QUANTITATIVE[name]
        return category, KINDS[category][0]
    if name in CATEGORIES:
        category = name
    else:
        word, _, form = name.partition("_")
        if word not in _WORDS or form not in ("predicate", "choice"):
            return None
        category = _WORDS[word]
        if category in QUALITATIVE:
            return category, "yes_no" if form == "predicate" else "choice"
    if category in QUALITATIVE:
        return category, "choice" if is_which_question(question) else "yes_no"
    return category, KINDS[category][0]


def read_truth(category: str, kind: str, question: str, answer: str, options: tuple[str, ...]) -> Truth | None:
    """The truth a reference answer states, with the judge's parsers; None when it is unreadable."""
    if kind == "yes_no":
        said = yes_no(answer, category, question, options)
        return None if said is None else Truth(kind, float(said), options)
    if kind == "choice":
        picked = choice(answer, category, question, options)
        return None if picked is None else Truth(kind, float(picked), options)
    value = clock_hours(answer) if kind == "clock" else length_metres(answer, category)
    return None if value is None else Truth(kind, value)


def _image(row: dict[str, Any], read_image: Callable[[str], bytes] | None) -> tuple[bytes | None, str]:
    """(bytes, upstream name) of the row's picture; bytes None when it is only referenced and unreadable."""
    value = decode(_first(row, _IMAGE))
    if isinstance(value, list):
        value = value[0] if value else None
    info = decode(row.get("image_info"))
    if value is None and isinstance(info, dict):
        value = info.get("file_path")
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"]), value.get("path") or ""
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), ""
    if not value or read_image is None:
        return None, str(value or "")
    try:
        return read_image(str(value)), str(value)
    except (OSError, KeyError):
        return None, str(value)


def _regions(row: dict[str, Any]) -> list[dict]:
    boxes = decode(_first(row, _BOXES)) or []
    return [{"label": f"Region [{i}]", "box": [float(v) for v in box[:4]]} for i, box in enumerate(boxes)
            if isinstance(box, (list, tuple)) and len(box) >= 4]


def read_benchmark(rows: Iterable[dict[str, Any]], benchmark: str,
                   read_image: Callable[[str], bytes] | None = None) -> tuple[list[EvalItem], list[Rejected]]:
    """Upstream rows -> eval items, and the rows rejected with their reason. `read_image` reads a
    picture the row only references (a path inside the repo or an image root)."""
    items: list[EvalItem] = []
    rejected: list[Rejected] = []
    fields: Fields | None = None
    seen: set[str] = set()
    for n, row in enumerate(rows):
        fields = fields or resolve_fields(list(row))
        source_id = str(_first(row, _ID) if _first(row, _ID) is not None else n)

        def reject(reason: str, detail: str) -> None:
            rejected.append(Rejected(source_id, reason, detail))

        question, answer, source_category = fields.question(row), fields.answer(row), fields.category(row) or ""
        if not question or not answer:
            reject("no_question_or_answer", f"question {question!r}, answer {answer!r}")
            continue
        kinds = our_category(source_category, question)
        if kinds is None:
            reject("unknown_category", source_category)
            continue
        category, kind = kinds
        options = question_options(question, category)
        if category in QUALITATIVE and len(options) != 2:
            reject("not_two_objects", f"{question!r} names {list(options)}")
            continue
        truth = read_truth(category, kind, question, answer, options if category in QUALITATIVE else ())
        if truth is None:
            reject("answer_unreadable", f"{kind} truth not found in {answer!r}")
            continue
        data, name = _image(row, read_image)
        if data is None:
            reject("image_missing", name or "no image column value")
            continue
        try:
            suffix = image_suffix(data)
        except OSError as exc:
            reject("image_undecodable", f"{name}: {exc}")
            continue
        item_id = f"{benchmark}-{re.sub(r'[^A-Za-z0-9_.-]', '_', source_id)}"
        if item_id in seen:
            reject("duplicate_id", item_id)
            continue
        seen.add(item_id)
        items.append(EvalItem(item_id, question, category, truth, answer, f"images/{item_id}{suffix}", data,
                              _regions(row), source_category, source_id))
        if len(_turns(row)) > 2:  # SpatialRGPT-Bench has one QA pair per record; more would be a new shape
            reject("extra_turns", f"kept the first QA pair of {len(_turns(row)) // 2}")
    return items, rejected
