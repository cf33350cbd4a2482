"""Which images an image source could not provide, from its own manifests: the 665K's expectation is
derived from these (records whose image the upstream did not serve are not expected in the mixture)."""
from __future__ import annotations

from pathlib import Path

from ..layout import Layout


def quarantined(layout: Layout, source: str) -> dict[str, str]:
    """upstream name (the manifest's `original`) -> quarantine reason, over every shard manifest."""
    import pyarrow.parquet as pq

    out: dict[str, str] = {}
    for manifest in sorted(Path(layout.tables(source), "images").glob("*.parquet")):
        t = pq.read_table(manifest, columns=["original", "action", "reason"]).to_pydict()
        out.update({o: r or "" for o, a, r in zip(t["original"], t["action"], t["reason"]) if a == "quarantined"})
    return out
