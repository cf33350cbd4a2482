"""The one resource every asset shares: where the data lives, where upstream files come from, and the
run-wide choices (scene pool, recipe, finetune preset, launcher). Its defaults come from the instance's
settings file (`assets/settings.py`), read once when the definitions load; run config may override a
field for one run. Engines receive these values as arguments, never from the environment."""

import json
import os
from typing import Any

from dagster import ConfigurableResource, InitResourceContext

from pipeline.layout import Layout
from pipeline.sources.base import IngestContext
from pipeline.progress import Log

from .settings import Settings


class Workspace(ConfigurableResource):
    data_root: str
    tables_root: str = ""
    cache_root: str = ""
    mirror: str = ""            # a folder, file:// or http:// root laid out as <host>/<path>; empty: real upstream
    workers: int = 0            # processes for image work; 0: all cores
    scene_pool: str = ""        # rendered scenes with exact depth and masks instead of COCO + models
    recipe: str = ""            # the mixture recipe file
    finetune_preset: str = "llava-1.5-7b"
    launcher: str = "deepspeed"
    eval_baseline: str = ""     # the baseline `evaluate` scores next to the finetuned checkpoint
    deployment: str = "embedded"  # "ray": the finetune may train through Ray Train at ray_address
    ray_address: str = ""
    source_options: str = "{}"  # JSON: {source: {option: value}} (e.g. ocr_vqa.dataset_json)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Workspace":
        return cls(data_root=settings.data_root, tables_root=settings.tables_root, cache_root=settings.cache_root,
                   mirror=settings.mirror, workers=settings.workers, scene_pool=settings.scene_pool,
                   recipe=settings.recipe, finetune_preset=settings.finetune_preset, launcher=settings.launcher,
                   eval_baseline=settings.eval_baseline, deployment=settings.deployment,
                   ray_address=settings.ray_address, source_options=json.dumps(settings.sources, sort_keys=True))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Tag the run with its data root, whatever launched it (UI, backfill, sensor, CLI), so the runs
        of one root can be told apart and filtered."""
        from .catalog import DATA_ROOT_TAG

        if context.instance is not None and context.run is not None:
            context.instance.add_run_tags(context.run.run_id, {DATA_ROOT_TAG: str(self.layout().data_root)})

    def layout(self) -> Layout:
        return Layout.at(self.data_root, self.tables_root or None, self.cache_root or None)

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def ingest_context(self, log: Log, workers: int | None = None) -> IngestContext:
        """`workers`: the step's own count (a Ray step: the CPUs it holds) instead of the workspace's."""
        options: dict[str, Any] = json.loads(self.source_options or "{}")
        return IngestContext(self.layout(), self.mirror or None, workers or self.worker_count(), log, options)
