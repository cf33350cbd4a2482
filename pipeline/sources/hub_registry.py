"""The hub-hosted sources (Parquet on the Hugging Face hub), by source name."""
from __future__ import annotations

from .cauldron import CLEVR, TEXTCAPS, VISUALMRC, VQAV2
from .hub_parquet import HubDataset
from .openspaces import OPENSPACES

HUB_SOURCES: dict[str, HubDataset] = {s.name: s for s in (VISUALMRC, TEXTCAPS, CLEVR, VQAV2, OPENSPACES)}
