"""Evaluation fixtures: the benchmarks' sample shapes and a tiny random Llava (both built once)."""
from pathlib import Path

import pytest

from sample.benchmarks import write_benchmark_samples
from trainer.model import build_tiny


@pytest.fixture(scope="session")
def bench_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The benchmarks' repo folders as the sample mirror holds them."""
    repos = write_benchmark_samples(tmp_path_factory.mktemp("bench_mirror"))
    return {"srgpt": repos["spatialrgpt_bench"], "sre": repos["spatial_relation_eval"]}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny")
