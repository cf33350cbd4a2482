"""The engine call behind the `evaluate` asset: eval table + checkpoint -> predictions, verdicts, scores.

    <out_root>/<benchmark>/<model key>/
        predictions/part-00000.parquet (+ .json marker) ...   greedy answers, one step per shard
        judged.parquet                                        one verdict per question (JUDGED)
        scores.json                                           the scoring step's marker: per-category scores

Both are steps of the step contract (pipeline/step.py). A shard is current while the table, the
checkpoint's files (or hub id@revision) and the generation settings are unchanged; the scores while the
table, the predictions and the judge's rule files are. So a re-run reads markers and rewrites nothing,
which is how the baseline is evaluated once and cached, and a changed judge rule re-judges without
re-running inference."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from evaluation.inference import predict, read_predictions
from evaluation.judge import judge, rule_files
from evaluation.presets import BASELINE, GenerationConfig
from evaluation.scores import Scores, readme_tables, score
from evaluation.table import TABLE, read_eval_table, truth_of
from pipeline.atomic import write_table
from pipeline.step import Step
from pipeline.tables import to_table

JUDGED = pa.schema([
    ("id", pa.string()), ("category", pa.string()), ("question", pa.string()), ("answer", pa.string()),
    ("prediction", pa.string()), ("correct", pa.bool_()), ("parsed", pa.float64()), ("error", pa.float64()),
    ("unparseable", pa.bool_()), ("hit_limit", pa.bool_()),
])
SCORES_VERSION = "scores-v2"


@dataclass
class EvalReport:
    benchmark: str
    checkpoint: str
    folder: Path
    scores: Scores
    reused: bool  # nothing was answered or judged: every step was current


def model_key(checkpoint: str, revision: str | None) -> str:
    """A readable, unique folder name for a checkpoint: 'llava-1.5-7b-hf-3f2a9c1d'."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(checkpoint.rstrip("/")).name or "model")
    digest = hashlib.sha256(f"{Path(checkpoint).resolve() if Path(checkpoint).is_dir() else checkpoint}@{revision}"
                            .encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def evaluate_checkpoint(table_dir: Path, checkpoint: str, out_root: Path,
                        config: GenerationConfig = GenerationConfig(),
                        log: Callable[[str], None] = print) -> EvalReport:
    """Answer, judge and score one benchmark's eval table with one checkpoint (cached, resumable)."""
    table = read_eval_table(table_dir)
    benchmark = (table.schema.metadata or {}).get(b"benchmark", Path(table_dir).name.encode()).decode()
    folder = Path(out_root) / benchmark / model_key(checkpoint, config.revision)
    parts, answered = predict(Path(table_dir), checkpoint, folder / "predictions", config, log)
    step = Step(folder / "scores.json", SCORES_VERSION, [Path(table_dir) / TABLE, *parts, *rule_files()],
                {"benchmark": benchmark, "checkpoint": checkpoint})
    if (done := step.current()) is not None:
        if not answered:
            log(f"{benchmark}: {checkpoint} already evaluated on this table; reusing {folder / 'scores.json'}")
        return EvalReport(benchmark, checkpoint, folder, Scores.from_json(done["scores"]), not answered)
    answers = {r["id"]: r for r in read_predictions(parts).to_pylist()}
    judged, rows = [], []
    for row in table.to_pylist():
        answer = answers[row["id"]]
        verdict = judge(row["category"], truth_of(row), answer["prediction"], row["question"])
        judged.append((row["id"], row["category"], verdict))
        rows.append({"id": row["id"], "category": row["category"], "question": row["question"],
                     "answer": row["answer"], "prediction": answer["prediction"], "correct": verdict.correct,
                     "parsed": verdict.parsed, "error": verdict.error, "unparseable": verdict.unparseable,
                     "hit_limit": answer["hit_limit"]})
    write_table(folder / "judged.parquet", to_table(rows, JUDGED))
    scores = score(judged)
    step.finish({"benchmark": benchmark, "checkpoint": checkpoint, "scores": scores.to_json()},
                [folder / "judged.parquet"])
    return EvalReport(benchmark, checkpoint, folder, scores, False)


def _label(checkpoint: str) -> str:
    """'sample-26d5d1d944fe/final' for a finetune's final folder (its run names it), else the folder name."""
    path = Path(checkpoint)
    return f"{path.parent.name}/{path.name}" if path.name == "final" else path.name


def evaluate_against_baseline(table_dir: Path, checkpoint: str, out_root: Path, baseline: str = BASELINE,
                              config: GenerationConfig = GenerationConfig(), baseline_revision: str | None = None,
                              log: Callable[[str], None] = print) -> tuple[EvalReport, EvalReport, str]:
    """The finetuned checkpoint and the baseline on one table, and the README tables of both."""
    report = evaluate_checkpoint(table_dir, checkpoint, out_root, config, log)
    base_config = GenerationConfig(**{**config.key(), "revision": baseline_revision})
    base = evaluate_checkpoint(table_dir, baseline, out_root, base_config, log)
    markdown = readme_tables([(f"finetuned ({_label(checkpoint)})", report.scores),
                              (f"baseline ({baseline})", base.scores)])
    return report, base, markdown
