"""Evaluation fixtures: the benchmarks' sample shapes and a tiny random Llava (both built once)."""
from pathlib import Path

import pytest

from pipeline.atomic import write_bytes
from sample.benchmarks import spatial_relation_eval_files, spatialrgpt_bench_files
from trainer.model import build_tiny


@pytest.fixture(scope="session")
def bench_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file of the benchmarks' sample repos (the JSON form of SpatialRGPT-Bench included)."""
    root = tmp_path_factory.mktemp("bench_samples")
    for name, files in (("srgpt", spatialrgpt_bench_files()), ("sre", spatial_relation_eval_files())):
        for path, data in files.items():
            write_bytes(root / name / path, data)
    return {"srgpt": root / "srgpt", "sre": root / "sre"}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny")
