"""The whole code location built from settings: every area's assets, checks and jobs, and the shared
`workspace` resource, and the executor of the deployment. `assets.definitions` builds it from the
instance's settings file; the CLI builds it from the settings it resolved, so both describe the same graph."""
import dagster as dg

from .catalog import with_code_references
from .cluster import RayPlacement, ray_executor
from .evaluation import evaluation_assets
from .mixture import mixture_asset, reference_check
from .mixture_checks import mixture_checks
from .resources import Workspace
from .settings import Settings
from .source_checks import source_checks
from .sources import ingest_jobs, source_assets
from .spatialqa import generate_spatialqa, spatialqa_asset, spatialqa_checks
from .training import finetune_asset, train, train_on_new_mixture


def build_definitions(settings: Settings) -> dg.Definitions:
    ray = RayPlacement.of(settings)
    assets = [*source_assets(ray), spatialqa_asset(settings.spatialqa_shards, ray), mixture_asset(),
              finetune_asset(ray), *evaluation_assets()]
    return dg.Definitions(
        assets=with_code_references(assets, settings.repository),
        asset_checks=[*source_checks(), *spatialqa_checks(settings.spatialqa_shards), *mixture_checks(),
                      reference_check()],
        jobs=[*ingest_jobs(), generate_spatialqa, train],
        sensors=[train_on_new_mixture],
        resources={"workspace": Workspace.from_settings(settings)},
        # Dagster's default (in-process or multiprocess) unless the deployment runs steps on Ray.
        executor=ray_executor(settings) if settings.deployment == "ray" else None,
    )
