"""The engine call behind the `evaluate` asset: eval table + checkpoint -> predictions, verdicts, scores.

    <out_root>/<benchmark>/<model key>/<table fingerprint[:12]>/
        predictions/part-00000.parquet ...   greedy answers per shard (resumable)
        judged.parquet                       one verdict per question (JUDGED)
        scores.json                          per-category scores + the key they were made under

A finished folder whose key matches (same table, same checkpoint files or hub revision, same
generation settings) is reused as is: that is how the baseline is evaluated once and cached."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from evaluation.inference import GenerationConfig, predict, read_predictions
from evaluation.judge import judge
from evaluation.scores import Scores, readme_tables, score
from evaluation.table import read_eval_table, truth_of
from pipeline.atomic import write_table, write_text
from pipeline.tables import to_table

JUDGED = pa.schema([
    ("id", pa.string()), ("category", pa.string()), ("question", pa.string()), ("answer", pa.string()),
    ("prediction", pa.string()), ("correct", pa.bool_()), ("parsed", pa.float64()), ("error", pa.float64()),
    ("unparseable", pa.bool_()), ("hit_limit", pa.bool_()),
])
BASELINE = "llava-hf/llava-1.5-7b-hf"


@dataclass
class EvalReport:
    benchmark: str
    checkpoint: str
    folder: Path
    scores: Scores
    reused: bool  # the scores were already there for this exact table, checkpoint and settings


def checkpoint_identity(checkpoint: str, revision: str | None) -> str:
    """A local folder is identified by its files (names, sizes, mtimes), a hub id by id@revision."""
    path = Path(checkpoint)
    if not path.is_dir():
        return f"{checkpoint}@{revision or 'main'}"
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return f"{path.resolve()}#{h.hexdigest()[:16]}"


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
    table, fingerprint = read_eval_table(table_dir)
    benchmark = (table.schema.metadata or {}).get(b"benchmark", b"benchmark").decode()
    folder = Path(out_root) / benchmark / model_key(checkpoint, config.revision) / fingerprint[:12]
    key = hashlib.sha256(json.dumps([fingerprint, checkpoint_identity(checkpoint, config.revision),
                                     config.key()], sort_keys=True).encode()).hexdigest()
    scores_path = folder / "scores.json"
    if scores_path.is_file():
        saved = json.loads(scores_path.read_text())
        if saved.get("key") == key:
            log(f"{benchmark}: {checkpoint} already evaluated on this table; reusing {scores_path}")
            return EvalReport(benchmark, checkpoint, folder, Scores.from_json(saved["scores"]), True)
    parts = predict(table, Path(table_dir), fingerprint, checkpoint, folder / "predictions", config, log)
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
    write_text(scores_path, json.dumps({"key": key, "benchmark": benchmark, "checkpoint": checkpoint,
                                        "scores": scores.to_json()}, indent=1))
    return EvalReport(benchmark, checkpoint, folder, scores, False)


def evaluate_against_baseline(table_dir: Path, checkpoint: str, out_root: Path, baseline: str = BASELINE,
                              config: GenerationConfig = GenerationConfig(), baseline_revision: str | None = None,
                              log: Callable[[str], None] = print) -> tuple[EvalReport, EvalReport, str]:
    """The finetuned checkpoint and the baseline on one table, and the README tables of both."""
    report = evaluate_checkpoint(table_dir, checkpoint, out_root, config, log)
    base_config = GenerationConfig(**{**config.key(), "revision": baseline_revision})
    base = evaluate_checkpoint(table_dir, baseline, out_root, base_config, log)
    markdown = readme_tables([(f"finetuned ({Path(checkpoint).name})", report.scores),
                              (f"baseline ({baseline})", base.scores)])
    return report, base, markdown
