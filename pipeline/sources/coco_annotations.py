"""COCO `instances_train2017.json` (inside annotations_trainval2017.zip, read in place) -> one
Parquet row per object: the regions the spatial QA generator starts from."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..atomic import write_table
from ..layout import Layout
from ..readers import open_zip
from ..step import Step
from .remote import RemoteFile

ARCHIVE = RemoteFile("http://images.cocodataset.org/annotations/annotations_trainval2017.zip")
MEMBER = "annotations/instances_train2017.json"
VERSION = "coco-instances-v1"

def instances_path(layout: Layout) -> Path:
    return layout.tables("coco") / "instances.parquet"


def build_instances(layout: Layout) -> dict[str, int]:
    """Write the instances table (unless it is current); return counts (images, objects, categories, skipped)."""
    import orjson
    import pyarrow as pa

    from ..tables import INSTANCES

    archive = layout.cache("coco") / ARCHIVE.filename
    out = instances_path(layout)
    step = Step(out.with_suffix(".json"), VERSION, [archive], {"member": MEMBER})
    if (done := step.current()) is not None:
        return done
    with open_zip(archive) as zf:
        data = orjson.loads(zf.read(MEMBER))
    images = {im["id"]: im for im in data["images"]}
    names = {c["id"]: c["name"] for c in data["categories"]}
    cols: dict[str, list] = {f.name: [] for f in INSTANCES}
    skipped = Counter()
    for ann in data["annotations"]:
        im = images.get(ann.get("image_id"))
        bbox = ann.get("bbox")
        if im is None or ann.get("category_id") not in names or not bbox or len(bbox) != 4:
            skipped["dangling_annotation"] += 1
            continue
        cols["image"].append(f"coco/train2017/{Path(im['file_name']).with_suffix('.jpg')}")
        cols["width"].append(im["width"])
        cols["height"].append(im["height"])
        cols["category"].append(names[ann["category_id"]])
        cols["bbox"].append([float(v) for v in bbox])
        cols["iscrowd"].append(bool(ann.get("iscrowd", 0)))
    counts = {"images": len(set(cols["image"])), "objects": len(cols["image"]),
              "categories": len(set(cols["category"])), "skipped": sum(skipped.values())}
    write_table(out, pa.table(cols, schema=INSTANCES))
    return step.finish(counts, [out])
