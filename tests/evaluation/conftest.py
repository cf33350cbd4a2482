"""Evaluation fixtures: the benchmarks' sample shapes and a tiny random Llava (both built once)."""
from pathlib import Path

import pytest

from evaluation.samples import write_spatial_relation_eval_sample, write_spatialrgpt_bench_sample
from trainer.model import build_tiny


@pytest.fixture(scope="session")
def bench_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench_samples")
    write_spatialrgpt_bench_sample(root / "srgpt")
    write_spatial_relation_eval_sample(root / "sre")
    return {"srgpt": root / "srgpt", "sre": root / "sre"}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny")
