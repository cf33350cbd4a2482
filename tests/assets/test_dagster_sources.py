"""The Dagster layer: definitions load, and source assets materialize with checks (partitioned like their
asset, the file-reading ones separate) and standard metadata (paths, row count, columns, tables of counts,
a contact sheet, a data version from the step fingerprints)."""
import subprocess
from pathlib import Path
import sys

import dagster as dg
import pytest

from assets.definitions import defs
from assets.resources import Workspace
from assets.source_checks import source_checks
from assets.sources import source_assets
from pipeline.sources.registry import IMAGE_SOURCES, SOURCES


def test_every_definition_loads(dagster_home):
    out = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "assets.definitions"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    graph = defs.resolve_asset_graph()
    names = {k.path[-1] for k in graph.get_all_asset_keys()}
    for source in IMAGE_SOURCES:
        assert {f"{source.name}_download", f"{source.name}_images"} <= names
        pdef = graph.get(dg.AssetKey(f"{source.name}_images")).partitions_def
        assert len(pdef.get_partition_keys()) == source.shards
    assert {"coco_annotations", "llava_665k_download", "llava_665k_conversations"} <= names
    for job in ("ingest_coco", "ingest_gqa", "ingest_ocr_vqa", "ingest_textvqa", "ingest_vg"):
        assert defs.resolve_job_def(job).partitions_def is not None


def test_loading_the_definitions_imports_no_heavy_library():
    """The UI, the daemon and every run process load the definitions: the engines' heavy libraries are
    imported inside the steps that use them."""
    heavy = ("torch", "open3d", "polars", "pyarrow", "datasets", "transformers", "deepspeed", "ray", "psycopg2")
    code = f"import sys, assets.definitions; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_source_assets_materialize_with_checks(dagster_home, mirror_server, layout):
    instance = dg.DagsterInstance.get()
    workspace = Workspace(data_root=str(layout.data_root), mirror=mirror_server.url, workers=1)
    assets = [*source_assets(), *source_checks()]
    res = dg.materialize(assets, instance=instance, resources={"workspace": workspace},
                         selection=["vg_download", "llava_665k_download"])
    assert res.success
    vg = SOURCES["vg"]
    totals = {"images": 0, "quarantined": 0}
    for key in dg.StaticPartitionsDefinition([f"{i:03d}" for i in range(vg.shards)]).get_partition_keys():
        res = dg.materialize(assets, instance=instance, resources={"workspace": workspace},
                             selection=["vg_images"], partition_key=key)
        assert res.success
        (event,) = res.get_asset_materialization_events()
        meta = event.materialization.metadata
        totals["images"] += meta["images"].value
        totals["quarantined"] += meta["quarantined"].value
        checks = res.get_asset_check_evaluations()
        assert {c.check_name for c in checks} == {"manifest_covers_upstream", "images_decode"}
        assert all(c.passed for c in checks) and {c.partition for c in checks} == {key}
        assert meta["dagster/row_count"].value == meta["images"].value  # one manifest row per image
        assert "sha256" in {c.name for c in meta["dagster/column_schema"].schema.columns}
        assert isinstance(meta["manifest"], dg.PathMetadataValue)
        if meta["quarantined"].value:
            reasons = {r.data["reason"]: r.data["count"] for r in meta["quarantine_reasons"].records}
            assert sum(reasons.values()) == meta["quarantined"].value
        if meta["images"].value:
            assert meta["contact_sheet"].value.startswith("![sample images](data:image/jpeg;base64,")
            assert event.materialization.tags["dagster/data_version"]
    assert totals == {"images": 11, "quarantined": 2}
    res = dg.materialize(assets, instance=instance, resources={"workspace": workspace},
                         selection=["llava_665k_conversations"])
    (event,) = res.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["rows_read"].value == 59 + 14  # LLAVA_CASES + BAD_RECORDS
    assert "image_missing" in {r.data["reason"] for r in meta["rejections"].records}
    assert meta["dagster/row_count"].value == meta["records_written"].value  # only vg images exist here
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks == {"records_valid": True, "rows_accounted": True}
    # the runs are in the instance, so `dagster dev` on the same DAGSTER_HOME shows them
    assert len(instance.get_runs()) == 1 + vg.shards + 1  # downloads together, one run per shard, 665K


def test_images_decode_check_executes_alone_and_fails_on_a_corrupted_file(dagster_home, mirror_server, layout):
    instance = dg.DagsterInstance.get()
    workspace = Workspace(data_root=str(layout.data_root), mirror=mirror_server.url, workers=1)
    assets = [*source_assets(), *source_checks()]
    dg.materialize(assets, instance=instance, resources={"workspace": workspace}, selection=["textvqa_download"])
    versions = {}
    for key in ("000", "001", "002", "003"):
        res = dg.materialize(assets, instance=instance, resources={"workspace": workspace},
                             selection=["textvqa_images"], partition_key=key)
        event = res.get_asset_materialization_events()[0].materialization
        versions[key] = event.tags["dagster/data_version"]
        if event.metadata["images"].value:
            break
    # a re-run over the finished shard reuses it and keeps its data version
    again = dg.materialize(assets, instance=instance, resources={"workspace": workspace},
                           selection=["textvqa_images"], partition_key=key)
    assert again.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == versions[key]
    victim = next((layout.data_root / "textvqa").rglob("*.jpg"))
    victim.write_bytes(victim.read_bytes()[:200])
    check = dg.AssetCheckKey(dg.AssetKey("textvqa_images"), "images_decode")
    alone = dg.define_asset_job("check_alone", selection=dg.AssetSelection.checks(check))
    defs = dg.Definitions(assets=source_assets(), asset_checks=source_checks(), jobs=[alone],
                          resources={"workspace": workspace})
    # (as the UI's *Execute* launches it: a run of the check alone tagged with the partition; in-process
    # execution refuses `partition_key` for a selection without assets)
    res = defs.resolve_job_def("check_alone").execute_in_process(tags={"dagster/partition": key}, instance=instance,
                                                                raise_on_error=False)
    assert not res.get_asset_materialization_events()  # the check alone, against what is on disk now
    [decode] = res.get_asset_check_evaluations()
    assert not decode.passed and decode.partition == key and decode.metadata["problems"].value == 1


@pytest.mark.slow
def test_documented_backfill_queues_one_run_per_shard(dagster_home):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml",
                          "-j", "ingest_textvqa", "--all", "true", "--noprompt"],
                         cwd=root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    runs = dg.DagsterInstance.get().get_runs()
    assert len(runs) == SOURCES["textvqa"].shards
    assert {r.status for r in runs} == {dg.DagsterRunStatus.QUEUED}
    assert sorted(r.tags["dagster/partition"] for r in runs) == ["000", "001", "002", "003"]


def test_hub_token_never_reaches_logs_or_metadata(dagster_home, mirror_server, layout, monkeypatch):
    canary = "hf_canary_9f3b2c1d"
    monkeypatch.setenv("HF_TOKEN", canary)
    instance = dg.DagsterInstance.get()
    workspace = Workspace(data_root=str(layout.data_root), mirror=mirror_server.url, workers=1)
    res = dg.materialize(source_assets(), instance=instance, resources={"workspace": workspace},
                         selection=["llava_665k_download"])
    assert res.success
    records = instance.all_logs(res.run_id)
    assert records and not any(canary in str(r) for r in records)
    assert canary not in str(instance.get_run_by_id(res.run_id))


def test_a_wrong_archive_layout_fails_the_asset_with_one_clear_message(dagster_home, tmp_path, layout, monkeypatch):
    """Issue 11's guard as a user meets it: a clean dg.Failure naming what was found, nothing written."""
    import io
    import zipfile

    from PIL import Image

    from assets.graph import build_definitions
    from assets.settings import Settings
    from pipeline.sources import registry
    from pipeline.sources.remote import RemoteFile
    from pipeline.sources.zip_images import ZipImageSource

    folder = tmp_path / "mirror" / "pics.example.org"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "pics.zip", "w") as zf:
        for i in range(3):
            buf = io.BytesIO()
            Image.new("RGB", (32, 32), (i, 0, 0)).save(buf, "JPEG")
            zf.writestr(f"images/{i}.jpg", buf.getvalue())  # not under the expected pics/
    source = ZipImageSource("pics", (RemoteFile("https://pics.example.org/pics.zip"),), ("pics/",), 1, 3)
    monkeypatch.setitem(registry.SOURCES, "pics", source)
    defs = build_definitions(Settings(data_root=str(layout.data_root), mirror=str(tmp_path / "mirror"), workers=1))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(asset_selection=[dg.AssetKey("pics_download")]).success
    res = job.execute_in_process(asset_selection=[dg.AssetKey("pics_images")], partition_key="000",
                                 raise_on_error=False)
    [failure] = [e for e in res.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "none under pics/" in message and "found them under images/" in message
    assert not (layout.data_root / "pics").exists()
    assert not (layout.tables("pics") / "images" / "000.parquet").exists()
