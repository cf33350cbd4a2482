"""Honest staleness: data versions come from the step fingerprints, so re-materializing an upstream asset
whose content did not change leaves everything downstream fresh, and a real upstream change marks it
stale (the same resolver the UI's "Stale" badge uses)."""
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus

from assets.graph import build_definitions
from assets.runner import materialize_keys
from assets.settings import Settings
from sample.mirror import write_checksums

ZIP = Path("dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip")
DOWNLOAD, IMAGES = dg.AssetKey("textvqa_download"), dg.AssetKey("textvqa_images")


def _statuses(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, StaleStatus]:
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance, graph, view)
    shards = defs.resolve_asset_graph().get(IMAGES).partitions_def.get_partition_keys()
    return {shard: resolver.get_status(IMAGES, shard) for shard in shards}


def test_a_no_op_rerun_marks_nothing_stale_and_a_real_change_does(dagster_home, sample_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / ZIP).parent.mkdir(parents=True)
    shutil.copyfile(sample_mirror / ZIP, mirror / ZIP)
    write_checksums(mirror)  # the copy is a miniature: the mirror declares what it serves
    defs = build_definitions(Settings(data_root=str(tmp_path / "data"), mirror=str(mirror), workers=1))
    instance = dg.DagsterInstance.get()

    materialize_keys(defs, instance, [DOWNLOAD, IMAGES], {}, log=lambda _: None)
    assert set(_statuses(defs, instance).values()) == {StaleStatus.FRESH}

    materialize_keys(defs, instance, [DOWNLOAD], {}, log=lambda _: None)  # nothing fetched, same content
    assert set(_statuses(defs, instance).values()) == {StaleStatus.FRESH}
    materialize_keys(defs, instance, [DOWNLOAD, IMAGES], {}, log=lambda _: None)  # every shard reused
    assert set(_statuses(defs, instance).values()) == {StaleStatus.FRESH}

    # upstream really changed: a new archive (one more member) is fetched; every shard is now stale
    with zipfile.ZipFile(mirror / ZIP, "a") as zf:
        zf.writestr("README.txt", "a new upstream release")
    write_checksums(mirror)
    for cached in (tmp_path / "cache" / "textvqa").iterdir():
        cached.unlink()
    materialize_keys(defs, instance, [DOWNLOAD], {}, log=lambda _: None)
    assert set(_statuses(defs, instance).values()) == {StaleStatus.STALE}
