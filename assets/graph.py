"""The whole code location built from settings: every area's assets, checks and jobs, and the shared
`workspace` resource. `assets.definitions` builds it from the instance's settings file; the CLI builds it
from the settings it resolved, so both describe the same graph."""
import dagster as dg

from .evaluation import evaluation_assets
from .mixture import mixture_asset, reference_check
from .resources import Workspace
from .settings import Settings
from .sources import ingest_jobs, source_assets
from .spatialqa import spatialqa_asset
from .training import finetune, train, train_on_new_mixture


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*source_assets(), spatialqa_asset(settings.spatialqa_shards), mixture_asset(),
                finetune, *evaluation_assets()],
        asset_checks=[reference_check()],
        jobs=[*ingest_jobs(), train],
        sensors=[train_on_new_mixture],
        resources={"workspace": Workspace.from_settings(settings)},
    )
