"""`HuggingFaceM4/the_cauldron` configs: one row = `images` (list of {bytes, path}) + `texts` (list of
{user, assistant, source}), each text one question/answer exchange about the row's image(s)."""
from __future__ import annotations

from typing import Any

from ..records import Rejection, image_first
from .hub_source import HubDataset

REPO_ID = "HuggingFaceM4/the_cauldron"
# The cauldron has no release tags; "main" is resolved to its commit at the first download and locked
# in the cache (files.json). Put a 40-hex commit here to pin a fresh install as well.
REVISION = "main"


def cauldron_turns(row: dict[str, Any]) -> list[dict[str, str]] | Rejection:
    """Every (user, assistant) pair in order -> alternating human/gpt turns, `<image>` first."""
    texts = row.get("texts")
    if not texts:
        return Rejection("no_messages", "texts is null or empty")
    turns: list[dict[str, str]] = []
    for pair in texts:
        if not isinstance(pair, dict):
            return Rejection("bad_turn", f"texts entry is {type(pair).__name__}")
        turns.append({"from": "human", "value": (pair.get("user") or "").strip()})
        turns.append({"from": "gpt", "value": (pair.get("assistant") or "").strip()})
    return image_first(turns)


def cauldron_config(name: str, rows: int, overlaps: str | None = None) -> HubDataset:
    """One the_cauldron config as a source: `<name>/train-*` Parquet files, `rows` upstream rows."""
    return HubDataset(name, REPO_ID, REVISION, {"train": f"{name}/train-*"}, "texts", cauldron_turns,
                      {"train": rows}, overlaps=overlaps)
