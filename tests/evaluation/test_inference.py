"""Inference and the engine call on the tiny random Llava: prompt, batching, resume, cache, scores."""
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from evaluation.inference import GenerationConfig, generate, load_model, prompt_text
from evaluation.regions import mark_regions
from evaluation.rendered import BENCHMARK, rendered_benchmark
from evaluation.run import evaluate_against_baseline, evaluate_checkpoint
from evaluation.scores import QUALITATIVE_COLUMNS, QUANTITATIVE_COLUMNS
from evaluation.table import write_eval_table
from pipeline.step import read_marker
from trainer.conversation import SYSTEM, build_prompt


def test_prompt_is_the_trainers_vicuna_v1() -> None:
    text = prompt_text("Is A left of B?", "</s>")
    assert text == f"{SYSTEM} USER: <image>\nIs A left of B? ASSISTANT:"
    trained = build_prompt([{"from": "human", "value": "<image>\nIs A left of B?"}, {"from": "gpt", "value": "Yes."}],
                           "</s>").text
    assert trained.startswith(text)  # generation continues exactly where training supervised


def test_batched_left_padded_greedy_equals_one_by_one(tiny_checkpoint: Path) -> None:
    loaded = load_model(str(tiny_checkpoint), GenerationConfig())
    assert loaded.tokenizer.padding_side == "left"
    images = [Image.new("RGB", (80, 40), (200, 20, 20)), Image.new("RGB", (30, 60), (20, 20, 200))]
    questions = ["Is the red crate to the left of the blue barrel?", "How tall?"]
    batched = generate(loaded, questions, images, 12)
    single = [generate(loaded, [q], [im], 12)[0] for q, im in zip(questions, images)]
    assert batched == single
    assert all(0 < n <= 12 for _, n, _ in batched)


def test_region_marks_are_drawn_inside_the_image() -> None:
    image = Image.new("RGB", (200, 100), (128, 128, 128))
    marked = mark_regions(image, [{"label": "Region [0]", "box": [10, 10, 60, 50]},
                                  {"label": "Region [1]", "box": [150, 40, 260, 120]}])  # clipped at the border
    assert marked.size == image.size and image.getpixel((35, 49)) == (128, 128, 128)
    assert marked.getpixel((35, 49)) != (128, 128, 128)  # bottom edge of box 0
    assert marked.getpixel((199, 99)) != (128, 128, 128)  # box 1 clipped to the corner
    assert mark_regions(image, []) is image


@pytest.fixture
def rendered_table(tmp_path: Path) -> Path:
    write_eval_table(tmp_path / "table", BENCHMARK, rendered_benchmark(1), [])
    return tmp_path / "table"


def test_evaluate_checkpoint_resumes_and_caches(rendered_table: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    config = GenerationConfig(batch_size=4, max_new_tokens=6, shard_size=5)
    out = tmp_path / "eval"
    report = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), out, config, log=lambda _m: None)
    rows = pq.read_table(rendered_table / "eval.parquet").num_rows
    judged = pq.read_table(report.folder / "judged.parquet").to_pylist()
    assert len(judged) == rows and not report.reused
    assert sum(s.asked for s in report.scores.categories.values()) == rows
    assert sum(s.unparseable for s in report.scores.categories.values()) == len(report.scores.unparseable_ids)
    assert all(r["correct"] is False for r in judged if r["unparseable"])
    parts = sorted((report.folder / "predictions").glob("part-*.parquet"))
    assert len(parts) == -(-rows // 5) >= 2

    again = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), out, config, log=lambda _m: None)
    assert again.reused and again.scores.to_json() == report.scores.to_json()

    (report.folder / "scores.json").unlink()  # killed before scoring, and one shard lost
    parts[1].unlink()
    kept = {p: p.stat().st_mtime_ns for p in parts if p.exists()}
    logged: list[str] = []
    resumed = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), out, config, log=logged.append)
    assert [m.split(":")[0] for m in logged] == [parts[1].name]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert resumed.scores.to_json() == report.scores.to_json()  # greedy: the same answers

    other = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), out,
                                GenerationConfig(batch_size=4, max_new_tokens=3, shard_size=5), log=lambda _m: None)
    assert not other.reused and other.folder == report.folder


def test_a_changed_judge_rule_rejudges_without_answering_again(rendered_table: Path, tiny_checkpoint: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = tmp_path / "rule.py"
    rule.write_text("rules v1\n")
    monkeypatch.setattr("evaluation.run.rule_files", lambda: [rule])
    config = GenerationConfig(batch_size=8, max_new_tokens=4, shard_size=64)
    first = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), tmp_path / "eval", config, log=lambda _m: None)
    marker = read_marker(first.folder / "predictions" / "part-00000.json")
    assert marker is not None and marker["step"]["outputs"].keys() == {"part-00000.parquet"}
    rule.write_text("rules v2\n")
    logged: list[str] = []
    again = evaluate_checkpoint(rendered_table, str(tiny_checkpoint), tmp_path / "eval", config, log=logged.append)
    assert not again.reused and logged == []  # judged again, nothing answered again
    assert again.scores.to_json() == first.scores.to_json()


def test_report_against_a_baseline_has_both_readme_tables(rendered_table: Path, tiny_checkpoint: Path,
                                                          tmp_path: Path) -> None:
    config = GenerationConfig(batch_size=8, max_new_tokens=4, shard_size=64)
    report, base, markdown = evaluate_against_baseline(rendered_table, str(tiny_checkpoint), tmp_path / "eval",
                                                       baseline=str(tiny_checkpoint), config=config,
                                                       log=lambda _m: None)
    assert base.reused  # the same checkpoint and settings: evaluated once
    for _, title in QUALITATIVE_COLUMNS + QUANTITATIVE_COLUMNS:
        assert title in markdown
    assert markdown.count("| finetuned (tiny) |") == 2 and markdown.count("| baseline (") == 2
