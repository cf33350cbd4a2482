"""The code location: every area's definitions merged, with the shared `workspace` resource bound."""
from __future__ import annotations

import dagster as dg

from . import hub_sources, mixture, sources, spatialqa, training
from .resources import Workspace

defs = dg.Definitions.merge(
    sources.defs,
    hub_sources.defs,
    spatialqa.defs,
    mixture.defs,
    training.defs,
    dg.Definitions(resources={"workspace": Workspace()}),
)
