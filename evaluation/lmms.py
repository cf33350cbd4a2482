"""The ten academic benchmarks of Spatial-LLaVA's README through lmms-eval (PyPI), on a llava-hf checkpoint.

lmms-eval runs in its own environment: lmms-eval 0.7.3 pins wandb 0.25.0, which needs protobuf < 7,
while the project's Dagster stack (grpcio-health-checking 1.85) needs protobuf >= 7.35; its llava_hf
model also imports decord, which it does not declare. `scripts/lmms_venv.sh` builds that
environment on top of the project's (docs/evaluation.md). This module only builds the command
line and a one-item local task; it never imports lmms_eval."""
from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.atomic import write_bytes, write_text

LMMS_EVAL_VERSION = "0.7.3"
# README column -> lmms-eval task. Scored offline from the task's own answers unless listed in
# SUBMISSION (answers are written for the benchmark's server) or JUDGED_BY_GPT (needs an OpenAI key).
ACADEMIC_TASKS = {"VQAv2": "vqav2_test", "GQA": "gqa", "VizWiz": "vizwiz_vqa_test", "SQA": "scienceqa_img",
                  "TextVQA": "textvqa_val", "POPE": "pope", "MME": "mme", "MM-Bench": "mmbench_en_dev",
                  "MM-Bench-cn": "mmbench_cn_dev", "MM-Vet": "mmvet"}
SUBMISSION = ("vqav2_test", "vizwiz_vqa_test")
JUDGED_BY_GPT = ("mmvet",)
SMOKE_TASK = "spatialmix_smoke"
_HOOKS = Path(__file__).with_name("lmms_smoke") / "utils.py"
_YAML = """task: {task}
dataset_path: parquet
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: {max_new_tokens}
  temperature: 0
  num_beams: 1
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  - version: 0.0
"""


def lmms_command(python: str, checkpoint: str, tasks: list[str], output_dir: Path, device: str = "cuda",
                 dtype: str = "bfloat16", batch_size: int = 1, include_path: Path | None = None,
                 limit: int | None = None) -> list[str]:
    """`python -m lmms_eval` on a llava-hf checkpoint (folder or hub id) through its llava_hf model class.

    `--force_simple` picks the class that prompts with the tokenizer's chat template, or with
    lmms-eval's vicuna_v1 template when there is none (the finetune's checkpoints carry none): the
    prompt the model was trained with. The chat class needs a processor chat template instead.
    `device_map` is explicit because transformers 5 refuses lmms-eval's default empty one."""
    command = [python, "-m", "lmms_eval", "--model", "llava_hf", "--force_simple",
               "--model_args", f"pretrained={checkpoint},device={device},device_map={device},dtype={dtype}",
               "--tasks", ",".join(tasks), "--batch_size", str(batch_size),
               "--output_path", str(output_dir), "--log_samples"]
    if include_path is not None:
        command += ["--include_path", str(include_path)]
    if limit is not None:
        command += ["--limit", str(limit)]
    return command


def write_smoke_task(folder: Path, image: Image.Image, question: str, answer: str, max_new_tokens: int = 8) -> str:
    """A one-item local task (a `datasets` Parquet file, its YAML and hooks) in `folder`; returns its name."""
    features = datasets.Features({"image": datasets.Image(), "question": datasets.Value("string"),
                                  "answer": datasets.Value("string")})
    png = io.BytesIO()
    image.save(png, "PNG")
    table = pa.Table.from_pylist([{"image": {"bytes": png.getvalue(), "path": None}, "question": question,
                                   "answer": answer}], schema=features.arrow_schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    data = folder / "data" / "test.parquet"
    write_bytes(data, buf.getvalue())
    write_bytes(folder / "utils.py", _HOOKS.read_bytes())
    write_text(folder / f"{SMOKE_TASK}.yaml", _YAML.format(task=SMOKE_TASK, data=data.resolve(),
                                                          max_new_tokens=max_new_tokens))
    return SMOKE_TASK


def read_results(output_dir: Path) -> tuple[dict, list[dict]]:
    """The newest run's aggregated results and its logged samples. lmms-eval exits 0 even when a task
    fails, so a run is only trusted when it wrote its results file."""
    found = sorted(Path(output_dir).rglob("*_results.json"), key=lambda p: p.name)
    if not found:
        raise RuntimeError(f"lmms-eval wrote no results under {output_dir}; it exits 0 on failure, see its log")
    results = json.loads(found[-1].read_text())
    stamp = found[-1].name.removesuffix("_results.json")
    samples = [json.loads(line) for p in found[-1].parent.glob(f"{stamp}_samples_*.jsonl")
               for line in p.read_text().splitlines() if line.strip()]
    return results, samples


def lmms_python(project_root: Path) -> str | None:
    """The interpreter of the lmms-eval environment `scripts/lmms_venv.sh` builds, if present."""
    python = project_root / ".venv-lmms" / "bin" / "python"
    return str(python) if python.is_file() else None
