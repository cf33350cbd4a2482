"""The whole code location built from settings: every area's assets, checks and jobs, and the shared
`workspace` resource. `assets.definitions` builds it from the instance's settings file; the CLI builds it
from the settings it resolved, so both describe the same graph."""
import dagster as dg

from .catalog import with_code_references
from .evaluation import evaluation_assets
from .mixture import mixture_asset, reference_check
from .mixture_checks import mixture_checks
from .resources import Workspace
from .settings import Settings
from .source_checks import source_checks
from .sources import ingest_jobs, source_assets
from .spatialqa import spatialqa_asset, spatialqa_checks
from .training import finetune, train, train_on_new_mixture


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = [*source_assets(), spatialqa_asset(settings.spatialqa_shards), mixture_asset(), finetune,
              *evaluation_assets()]
    return dg.Definitions(
        assets=with_code_references(assets, settings.repository),
        asset_checks=[*source_checks(), *spatialqa_checks(settings.spatialqa_shards), *mixture_checks(),
                      reference_check()],
        jobs=[*ingest_jobs(), train],
        sensors=[train_on_new_mixture],
        resources={"workspace": Workspace.from_settings(settings)},
    )
