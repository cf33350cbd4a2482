"""The engine entry: plan the image pool, run one shard end to end, write its table parts.

Outputs (parts of a table folder, one file per shard, each written atomically):
    <tables_root>/spatialqa/conversations.parquet/shard-007.parquet   CONVERSATIONS schema
    <tables_root>/spatialqa/facts.parquet/shard-007.parquet           FACTS schema (one row per QA turn)
    <data_root>/spatialqa/images/<name>.jpg                             the images the records point at
    <tables_root>/spatialqa/shards/007.json                             the shard's marker and report
Each shard is a step of the step contract (`pipeline/step.py`): it is redone when its plan (the images
dealt to it), its config, its perception spec or its input pool/instances table change, and skipped
otherwise; the perception models are loaded only when a shard has work to do."""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.atomic import write_bytes, write_table
from pipeline.digests import digest
from pipeline.layout import Layout
from pipeline.progress import Log, Progress, default_log
from pipeline.records import IMAGE_TOKEN, check_record, exists_under
from pipeline.sharding import shard_keys
from pipeline.step import Step, report_dict
from pipeline.tables import CONVERSATIONS
from spatialqa_gen.analysis import AnalysisConfig, SceneFacts, analyse, select_turns
from spatialqa_gen.naming import name_regions
from spatialqa_gen.perception import PerceptionSpec, PerceptionStage, build_perception
from spatialqa_gen.qa import CATEGORIES, QATurn
from spatialqa_gen.scene_pool import PoolScene, read_scene_pool, scene_pool_index
from spatialqa_gen.types import Region

SOURCE = "spatialqa"
VERSION = "spatialqa-v2"  # bump when the generated records or facts change for the same inputs
FACTS = pa.schema([
    ("record_id", pa.string()), ("image", pa.string()), ("turn", pa.int32()),  # turn = index of the QA pair
    ("category", pa.string()), ("object_a", pa.string()), ("object_b", pa.string()),
    ("fact", pa.float64()),    # measured: quantity(A) - quantity(B) (log ratio for sizes), metres, or degrees
    ("said", pa.float64()),    # stated: +1/-1, metres, clock hour (no turn abstains)
    ("order", pa.int8()),      # +1 / -1: the answer also says A / B is the higher one; 0: no order stated
    ("unit", pa.string()), ("question", pa.string()), ("answer", pa.string()),
    ("frame", pa.string()), ("camera_height", pa.float64()),  # frame: "ransac" (a verified floor)
    ("definitions", pa.string()),  # "geometric" | "spatialrgpt" (definitions.py)
    # visibility of each object (visibility.py): share of its outline next to a nearer surface / on the border
    ("occluded_a", pa.float64()), ("truncated_a", pa.float64()),
    ("occluded_b", pa.float64()), ("truncated_b", pa.float64()),  # null for single-object categories
])


@dataclass(frozen=True)
class GenerateConfig:
    target_pairs: int = 14_000
    pairs_per_image: int = 4
    num_shards: int = 8
    min_objects: int = 2
    seed: int = 0
    batch_size: int = 8
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    # images planned per image the target needs: some are skipped (no verified floor, nothing askable) and
    # some give fewer turns; 0.94 turns per planned turn on the harness's photo-like scenes (docs)
    plan_headroom: float = 1.15

    @property
    def images_needed(self) -> int:
        return math.ceil(self.target_pairs / self.pairs_per_image * self.plan_headroom)


@dataclass(frozen=True)
class SceneTask:
    image_id: str             # stable key in the source (scene id, path relative to the data root)
    path: Path                # the JPEG to read and copy
    regions: list[Region]     # named, unambiguous
    scene: PoolScene | None = None  # exact depth/masks when the image comes from a scene pool

    @property
    def out_name(self) -> str:
        return self.image_id.rsplit(".", 1)[0].replace("/", "_") + ".jpg"


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


def plan(tasks: Iterable[SceneTask], config: GenerateConfig) -> dict[str, list[SceneTask]]:
    """Images with enough nameable objects, a deterministic pseudo-random choice of as many as the
    target needs, dealt to shards by a hash of their id (stable when the pool grows)."""
    eligible = [t for t in tasks if len(t.regions) >= config.min_objects]
    eligible.sort(key=lambda t: _hash(f"{config.seed}:{t.image_id}"))
    shards: dict[str, list[SceneTask]] = {k: [] for k in shard_keys(config.num_shards)}
    for t in eligible[:config.images_needed]:
        shards[f"{_hash(t.image_id) % config.num_shards:03d}"].append(t)
    return shards


def scene_pool_tasks(folder: Path) -> list[SceneTask]:
    return [SceneTask(s.scene_id + ".jpg", s.image_path, name_regions(s.regions()), s) for s in read_scene_pool(folder)]


def coco_tasks(instances: Path, data_root: Path, min_box_fraction: float = 0.005, max_objects: int = 8,
               only: Iterable[str] | None = None) -> list[SceneTask]:
    """COCO instances table (image, width, height, category, bbox [x, y, w, h], iscrowd): non-crowd boxes
    covering at least `min_box_fraction` of the image, the largest `max_objects` per image, then named.
    `only`: just these images (a preview of a few scenes need not read every row into Python)."""
    table = pq.read_table(instances, columns=["image", "width", "height", "category", "bbox", "iscrowd"])
    if only is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.is_in(table["image"], value_set=pa.array(sorted(only), pa.string())))
    per_image: dict[str, list[tuple[float, Region]]] = {}
    for i, row in enumerate(table.to_pylist()):
        x, y, w, h = row["bbox"]
        if row["iscrowd"] or w * h < min_box_fraction * row["width"] * row["height"]:
            continue
        per_image.setdefault(row["image"], []).append((w * h, Region(row["category"], (x, y, x + w, y + h), key=i)))
    tasks = []
    for image, regions in sorted(per_image.items()):
        biggest = [r for _, r in sorted(regions, key=lambda ar: -ar[0])[:max_objects]]
        tasks.append(SceneTask(image, data_root / image, name_regions(biggest)))
    return tasks


@dataclass
class GenerationReport:
    shard: str
    images_planned: int = 0
    records: int = 0
    pairs: int = 0
    per_category: Counter = field(default_factory=Counter)
    abstentions: Counter = field(default_factory=Counter)  # no turn abstains since issue 12: stays empty
    rejections: Counter = field(default_factory=Counter)   # images skipped, by reason (untrusted_frame, ...)
    skipped: bool = False  # finished by an earlier run
    preview: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GenerationReport":
        counters = {k: Counter(d[k]) for k in ("per_category", "abstentions", "rejections")}
        return cls(**{**d, **counters, "skipped": True, "preview": [tuple(qa) for qa in d["preview"]]})

    @property
    def frame_fallbacks(self) -> int:
        """Images without a verified floor (skipped, no labels); the name the asset's metadata still reads."""
        return int(self.rejections["untrusted_frame"])


def part_paths(layout: Layout, shard: str) -> tuple[Path, Path]:
    root = layout.tables(SOURCE)
    return root / "conversations.parquet" / f"shard-{shard}.parquet", root / "facts.parquet" / f"shard-{shard}.parquet"


def marker_path(layout: Layout, shard: str) -> Path:
    """The shard's marker: its report and its step fingerprint."""
    return layout.tables(SOURCE) / "shards" / f"{shard}.json"


def _record(task: SceneTask, turns: list[QATurn]) -> list[dict[str, str]]:
    conv = []
    for i, t in enumerate(turns):
        conv.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{t.question}" if i == 0 else t.question})
        conv.append({"from": "gpt", "value": t.answer})
    return conv


def shard_step(layout: Layout, shard: str, tasks: list[SceneTask], config: GenerateConfig,
               spec: PerceptionSpec, inputs: list[Path]) -> Step:
    """A shard's identity: the images dealt to it, the generation config, the perception spec, and the
    file its tasks were read from (the scene pool's index or the COCO instances table)."""
    generate = {k: v for k, v in asdict(config).items() if k != "batch_size"}
    return Step(marker_path(layout, shard), VERSION, inputs,
                {"shard": shard, "plan": digest(t.image_id for t in tasks), "generate": generate,
                 "perception": spec.identity()})


def _fact_row(record_id: str, image: str, turn: int, t: QATurn, scene: SceneFacts) -> dict:
    seen = {o.name: o.visibility for o in scene.objects}
    a, b = seen[t.object_a], seen.get(t.object_b)
    return {"record_id": record_id, "image": image, "turn": turn, "category": t.category,
            "object_a": t.object_a, "object_b": t.object_b, "fact": t.fact, "said": t.said, "order": t.order,
            "unit": t.unit, "question": t.question, "answer": t.answer,
            "frame": scene.frame.source, "camera_height": scene.frame.camera_height, "definitions": scene.definitions,
            "occluded_a": a.occluded, "truncated_a": a.truncated,
            "occluded_b": b.occluded if b else None, "truncated_b": b.truncated if b else None}


def run_shard(tasks: list[SceneTask], perception: Callable[[], PerceptionStage], layout: Layout, step: Step,
              config: GenerateConfig = GenerateConfig(), log: Log = default_log) -> GenerationReport:
    """Generate the shard's records and facts, unless its step is current. `perception` builds the
    stage (loading models) and is called only when there is work to do."""
    shard = step.config["shard"]
    if (done := step.current()) is not None:
        log(f"spatialqa shard {shard}: already finished, skipped")
        return GenerationReport.from_dict(done)
    conv_path, facts_path = part_paths(layout, shard)
    stage = perception()
    report = GenerationReport(shard, images_planned=len(tasks))
    exists = exists_under(layout.data_root)
    balance: Counter = Counter()
    records, facts = [], []
    progress = Progress(f"spatialqa shard {shard}", len(tasks), "images", log)
    for start in range(0, len(tasks), config.batch_size):
        batch = tasks[start:start + config.batch_size]
        images = []
        for t in batch:
            with Image.open(t.path) as im:
                images.append(im.convert("RGB"))
        for task, p in zip(batch, stage.perceive(batch, images)):
            seed = _hash(f"{config.seed}:{task.image_id}") % 2**32
            k = p.intrinsics
            if not (np.isfinite([k.fx, k.fy]).all() and k.fx > 0 and k.fy > 0 and (p.depth > 0).any()):
                report.rejections["invalid_depth_or_focal"] += 1  # e.g. a field of view the model got wrong
                continue
            scene = analyse(p, config.analysis, seed)
            if scene.skip_reason:
                report.rejections[scene.skip_reason] += 1  # no label is written from an unverified frame
                continue
            if len(scene.objects) < config.min_objects:
                report.rejections["too_few_objects_lifted"] += 1
                continue
            rng = np.random.default_rng(seed)
            turns = select_turns(scene, config.pairs_per_image, rng, balance, config.analysis.qa)
            if not turns:
                report.rejections["no_askable_question"] += 1
                continue
            rel_image = f"{SOURCE}/images/{task.out_name}"
            dest = layout.data_root / rel_image
            if not dest.exists():
                write_bytes(dest, task.path.read_bytes())  # already a normalized JPEG: byte copy
            record_id = f"{SOURCE}-{task.out_name[:-4]}"
            conversation = _record(task, turns)
            rejection = check_record(rel_image, conversation, exists)
            if rejection is not None:
                report.rejections[rejection.reason] += 1
                continue
            records.append({"id": record_id, "image": rel_image, "conversations": conversation,
                            "source": SOURCE, "source_id": task.image_id})
            for i, t in enumerate(turns):
                facts.append(_fact_row(record_id, rel_image, i, t, scene))
                report.per_category[t.category] += 1
            report.records += 1
            report.pairs += len(turns)
        progress.advance(len(batch))
    progress.close()
    write_table(facts_path, pa.Table.from_pylist(facts, schema=FACTS))
    write_table(conv_path, pa.Table.from_pylist(records, schema=CONVERSATIONS))
    report.preview = [(f["question"], f["answer"]) for f in facts[:6]]
    step.finish(report_dict(report), [facts_path, conv_path])
    return report


def generate_shard(layout: Layout, shard: str, spec: PerceptionSpec, config: GenerateConfig,
                   scene_pool: Path | None = None, instances: Path | None = None,
                   log: Log = default_log) -> GenerationReport:
    """One shard end to end: the image pool (a rendered scene pool with exact inputs, or COCO images with
    their instance boxes), the plan, and the shard's step."""
    if scene_pool is not None:
        tasks, source_file, spec = scene_pool_tasks(scene_pool), scene_pool_index(scene_pool), PerceptionSpec(exact=True)
    elif instances is not None:
        if not instances.exists():
            raise FileNotFoundError(f"{instances} missing: build the COCO instances table first, or use a scene pool")
        tasks, source_file = coco_tasks(instances, layout.data_root), instances
    else:
        raise ValueError("spatialqa needs a scene pool or a COCO instances table")
    spec.check()
    mine = plan(tasks, config)[shard]
    step = shard_step(layout, shard, mine, config, spec, [source_file])
    return run_shard(mine, lambda: build_perception(spec), layout, step, config, log)


def all_categories(report: GenerationReport) -> dict[str, int]:
    return {c: int(report.per_category.get(c, 0)) for c in CATEGORIES}
