"""Shared fixtures: the sample mirror (written once per session), a loopback server over it, and
isolated roots and Dagster instances per test."""
import shutil
from pathlib import Path

import pytest

from pipeline.layout import Layout
from sample.server import MirrorServer
from sample.mirror import write_sample_mirror

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests run only where CUDA is available (selected with `-m gpu` on a GPU machine)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_mirror(tmp_path_factory.mktemp("mirror"))


@pytest.fixture(scope="session")
def mirror_server(sample_mirror: Path):
    with MirrorServer(sample_mirror) as server:
        yield server


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.at(tmp_path / "playground" / "data")


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
