"""A folder of rendered scenes the generator can run on without any model.

Layout (documented in docs/spatialqa.md):

    <pool>/images/scene-000123.jpg    the RGB picture (JPEG, quality 92)
    <pool>/scenes/scene-000123.npz    depth: float32 (H, W) metres along the optical axis, 0 = no surface
                                      labels: uint8 (H, W), 0 = background, k = objects[k - 1]
    <pool>/scenes.parquet             one row per scene (SCENES below): intrinsics, regions (the
                                      annotated objects: label, name, box), camera pose, true boxes

Every file is written atomically; `scenes.parquet` last, so a pool with that file is complete."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.atomic import write_bytes, write_table
from spatialqa_gen.scene import RenderedScene
from spatialqa_gen.scene_gen import render_scene
from spatialqa_gen.types import Intrinsics, Perception, Region

REGION = pa.struct([("label", pa.int32()), ("name", pa.string()), ("box", pa.list_(pa.float64()))])  # x0 y0 x1 y1
TRUE_OBJECT = pa.struct([("label", pa.int32()), ("name", pa.string()), ("kind", pa.string()),
                         ("box_min", pa.list_(pa.float64())), ("box_max", pa.list_(pa.float64()))])
SCENES = pa.schema([
    ("scene_id", pa.string()), ("image", pa.string()), ("arrays", pa.string()),  # paths relative to the pool
    ("width", pa.int32()), ("height", pa.int32()),
    ("fx", pa.float64()), ("fy", pa.float64()), ("cx", pa.float64()), ("cy", pa.float64()),
    ("regions", pa.list_(REGION)),
    ("objects", pa.list_(TRUE_OBJECT)),               # every object, in the world = canonical frame
    ("camera_to_world", pa.list_(pa.float64())),      # 4x4 row-major, OpenCV camera axes
])


def _row(scene: RenderedScene) -> dict:
    k = scene.intrinsics
    return {
        "scene_id": scene.scene_id, "image": f"images/{scene.scene_id}.jpg", "arrays": f"scenes/{scene.scene_id}.npz",
        "width": scene.rgb.shape[1], "height": scene.rgb.shape[0], "fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy,
        "regions": [{"label": r.key, "name": r.name, "box": list(r.box)} for r in scene.regions],
        "objects": [{"label": i, "name": o.name, "kind": o.kind, "box_min": o.box_min.tolist(),
                     "box_max": o.box_max.tolist()} for i, o in enumerate(scene.objects, start=1)],
        "camera_to_world": scene.camera_to_world.reshape(-1).tolist(),
    }


def scene_pool_index(folder: Path) -> Path:
    """The pool's index, written last: its content identifies the whole pool."""
    return Path(folder) / "scenes.parquet"


def write_scene_pool(folder: Path, n: int, seed: int) -> None:
    """Render scenes seed .. seed + n - 1 into `folder` (idempotent: a complete pool is left alone)."""
    folder = Path(folder)
    index = scene_pool_index(folder)
    if index.exists() and pq.read_metadata(index).num_rows == n:
        return
    rows = []
    for i in range(n):
        scene = render_scene(seed + i)
        buf = io.BytesIO()
        Image.fromarray(scene.rgb).save(buf, "JPEG", quality=92)
        write_bytes(folder / "images" / f"{scene.scene_id}.jpg", buf.getvalue())
        arrays = io.BytesIO()
        np.savez_compressed(arrays, depth=scene.depth, labels=scene.labels)
        write_bytes(folder / "scenes" / f"{scene.scene_id}.npz", arrays.getvalue())
        rows.append(_row(scene))
    write_table(index, pa.Table.from_pylist(rows, schema=SCENES))


@dataclass(frozen=True)
class PoolScene:
    """One row of a pool, enough to run the generator on exact inputs."""

    folder: Path
    row: dict

    @property
    def scene_id(self) -> str:
        return self.row["scene_id"]

    @property
    def image_path(self) -> Path:
        return self.folder / self.row["image"]

    def regions(self) -> list[Region]:
        return [Region(r["name"], tuple(r["box"]), r["name"], r["label"]) for r in self.row["regions"]]

    def perception(self, regions: list[Region]) -> Perception:
        with np.load(self.folder / self.row["arrays"]) as arrays:
            depth, labels = arrays["depth"], arrays["labels"]
        r = self.row
        masks = np.stack([labels == reg.key for reg in regions]) if regions else np.zeros((0, *labels.shape), bool)
        return Perception(depth, Intrinsics(r["fx"], r["fy"], r["cx"], r["cy"]), regions, masks)


def read_scene_pool(folder: Path) -> list[PoolScene]:
    folder = Path(folder)
    index = scene_pool_index(folder)
    if not index.exists():
        raise FileNotFoundError(f"{index} missing: not a scene pool (write one with write_scene_pool)")
    return [PoolScene(folder, row) for row in pq.read_table(index).to_pylist()]
