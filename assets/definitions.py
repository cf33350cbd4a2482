"""The code location `dagster dev` and `dagster job backfill` load: the graph built from the settings
file of the instance in $DAGSTER_HOME (defaults where there is none)."""
from .graph import build_definitions
from .settings import load_settings

defs = build_definitions(load_settings())
