"""Benchmark readers on every sample shape, their rejections, and the eval table they write."""
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from evaluation.benchmarks import decode, our_category, read_benchmark, rows_of
from evaluation.judge import Truth, judge
from sample.benchmarks import SAMPLE_BAD_ROWS
from evaluation.table import EvalItem, read_eval_table, truth_of, write_eval_table


def _read(path: Path, repo: Path | None = None):
    reader = (lambda p: (repo / "images" / p).read_bytes()) if repo else None
    return read_benchmark(rows_of(path), "bench", reader)


def test_every_sample_shape_reads_and_rejects_exactly_the_bad_rows(bench_samples: dict[str, Path]) -> None:
    srgpt, sre = bench_samples["srgpt"], bench_samples["sre"]
    shapes = {"json": _read(srgpt / "SpatialRGPT-Bench_v1.json", srgpt),
              "parquet": _read(srgpt / "data" / "val-00000-of-00001.parquet"),
              "converted": _read(sre / "default" / "train" / "0000.parquet")}
    for name, (items, rejected) in shapes.items():
        assert {(r.source_id, r.reason) for r in rejected} == {(k, k) for k in SAMPLE_BAD_ROWS}, name
        assert len(items) >= 20 and len({i.category for i in items}) >= 10, name
        for item in items:  # the reference answer is read back as its own truth
            assert judge(item.category, item.truth, item.answer, item.question).correct, (name, item.id)
            assert "<mask>" not in item.question and "<image>" not in item.question
            assert Image.open(io.BytesIO(item.image_bytes)).size == (640, 480)
    json_items, parquet_items = shapes["json"][0], shapes["parquet"][0]
    assert [(i.id, i.question, i.truth, i.regions) for i in json_items] == \
           [(i.id, i.question, i.truth, i.regions) for i in parquet_items]


def test_region_references_become_text_and_marks(bench_samples: dict[str, Path]) -> None:
    items, _ = _read(bench_samples["srgpt"] / "data" / "val-00000-of-00001.parquet")
    pair = next(i for i in items if i.category == "left_right")
    assert pair.truth.options == ("Region [0]", "Region [1]")
    assert "Region [0]" in pair.question and "Region [1]" in pair.question
    assert [r["label"] for r in pair.regions] == ["Region [0]", "Region [1]"]
    single = next(i for i in items if i.category == "height")
    assert [r["label"] for r in single.regions] == ["Region [0]"] and single.truth.kind == "metres"


def test_unknown_shape_names_the_columns_found() -> None:
    with pytest.raises(ValueError, match=r"\['caption', 'pixels'\]"):
        read_benchmark([{"pixels": b"", "caption": "a cat"}], "bench")


def test_flat_rows_with_stringified_fields(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(buf, "PNG")
    rows = [{"question_id": 7, "question": "Is Region [0] above Region [1]?", "answer": "No, it is below.",
             "category": "above_predicate", "image": buf.getvalue(), "bbox": "[[0, 0, 10, 10], [5, 5, 20, 20]]"},
            {"question_id": 8, "question": "How tall is Region [0]?", "answer": "About 3 feet.", "category": "height",
             "image": {"bytes": buf.getvalue(), "path": "x.png"}, "bbox": json.dumps([[0, 0, 4, 4]])}]
    items, rejected = read_benchmark(rows, "flat")
    assert not rejected
    assert items[0].truth == Truth("yes_no", 0.0, ("Region [0]", "Region [1]"))
    assert items[0].image.endswith(".png") and items[0].regions[1]["box"] == [5.0, 5.0, 20.0, 20.0]
    assert items[1].truth.kind == "metres" and items[1].truth.value == pytest.approx(0.9144)


def test_category_names() -> None:
    assert our_category("left_choice", "Which is more to the left?") == ("left_right", "choice")
    assert our_category("short_predicate", "Is it shorter?") == ("tall_short", "yes_no")
    assert our_category("distance_data", "How far?") == ("direct_distance", "metres")
    assert our_category("direction", "Where?") == ("direction", "clock")
    assert our_category("wide_thin", "Between A and B, which is wider?") == ("wide_thin", "choice")
    assert our_category("count_data", "How many?") is None
    assert decode("{'type': 'qualitative'}") == {"type": "qualitative"} and decode("[1, 2]") == [1, 2]


def test_eval_table_round_trip_is_idempotent(tmp_path: Path, bench_samples: dict[str, Path]) -> None:
    items, rejected = _read(bench_samples["sre"] / "default" / "train" / "0000.parquet")
    outputs = write_eval_table(tmp_path, "sre", items, rejected)
    table = read_eval_table(tmp_path)
    assert table.num_rows == len(items) and all((tmp_path / r).is_file() for r in table.column("image").to_pylist())
    assert [truth_of(r) for r in table.to_pylist()] == [i.truth for i in items]
    assert pq.read_table(tmp_path / "rejections.parquet").num_rows == len(SAMPLE_BAD_ROWS)
    assert set(outputs) == {tmp_path / "eval.parquet", tmp_path / "rejections.parquet",
                            *(tmp_path / i.image for i in items)}
    (tmp_path / "images" / "stale.jpg").write_bytes(b"from an earlier table")
    assert write_eval_table(tmp_path, "sre", items, rejected) == outputs  # same bytes
    assert not (tmp_path / "images" / "stale.jpg").exists()
    with pytest.raises(ValueError, match="duplicate"):
        write_eval_table(tmp_path / "dupes", "sre", [items[0], EvalItem(**{**items[0].__dict__})], [])


def test_further_qa_pairs_of_a_record_are_recorded_not_dropped(bench_samples: dict[str, Path]) -> None:
    rows = list(rows_of(bench_samples["srgpt"] / "data" / "val-00000-of-00001.parquet"))[:1]
    rows[0]["conversations"] = rows[0]["conversations"] * 2
    items, rejected = read_benchmark(rows, "bench")
    assert len(items) == 1
    assert [(r.reason, r.detail) for r in rejected] == [("extra_turns", "kept the first QA pair of 2")]
