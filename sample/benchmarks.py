"""Small copies of the benchmarks' upstream shapes, placed in the sample mirror at their hub paths.

Rows are made from held-out rendered scenes in SpatialRGPT-Bench's own phrasing ("Region [i]",
"Incorrect, Region [0] is not ...", "<mask>" in the conversation, qa_info categories such as
left_predicate / tall_choice / distance_data), so their truths are exact. Each repo is shaped like the
hub's:

- SpatialRGPT-Bench: SpatialRGPT-Bench_v1.json + images/<file_path>, and data/val-*.parquet with the
  picture embedded and nested fields as structs;
- Spatial-Relation-Eval: default/train/0000.parquet (the hub's Parquet conversion) with the picture
  embedded and nested fields as JSON / Python-literal strings (the tolerant reader's other path).

SAMPLE_BAD_ROWS lists the deliberate defects and the rejection each must produce."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation.benchmarks import region_text
from evaluation.rendered import HELDOUT_SEED, askable, heldout_scene
from evaluation.sources import SPATIAL_RELATION_EVAL, SPATIALRGPT_BENCH
from pipeline.sources.hub_files import HUB
from sample.hub import write_repo
from sample.media import mirror_file
from spatialqa_gen.definitions import clock_hour, measure

SAMPLE_SEED = HELDOUT_SEED + 500_000  # inside the held-out range: never training data
PHRASE = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below",
          "behind": "behind", "front": "in front of", "big": "bigger than", "small": "smaller than",
          "tall": "taller than", "short": "shorter than", "wide": "wider than", "thin": "thinner than"}
WHICH = {"left": "more to the left", "right": "more to the right", "above": "higher", "below": "lower",
         "behind": "farther from the viewer", "front": "closer to the viewer", "big": "bigger",
         "small": "smaller", "tall": "taller", "short": "shorter", "wide": "wider", "thin": "thinner"}
# word -> (our category, does the word mean "more" of its quantity)
WORD = {"left": ("left_right", True), "right": ("left_right", False), "above": ("above_below", True),
        "below": ("above_below", False), "behind": ("behind_front", True), "front": ("behind_front", False),
        "big": ("big_small", True), "small": ("big_small", False), "tall": ("tall_short", True),
        "short": ("tall_short", False), "wide": ("wide_thin", True), "thin": ("wide_thin", False)}
QUANTITATIVE = {
    "distance_data": ("direct_distance", "How far apart are <mask> and <mask>?", "{A} and {B} are {v} apart."),
    "horizontal_distance_data": ("horizontal_distance", "How far apart are <mask> and <mask> horizontally?",
                                 "They are {v} apart horizontally."),
    "vertical_distance_data": ("vertical_distance", "What is the vertical distance between <mask> and <mask>?",
                               "The vertical distance between {A} and {B} is {v}."),
    "width_data": ("width", "Measure the width of <mask>.", "The width of {A} is {v}."),
    "height_data": ("height", "What is the height of <mask>?", "{A} is {v} tall."),
    "direction": ("direction", "If you are at <mask>, where will you find <mask>?",
                  "{A} will find {B} around the {v} o'clock direction."),
}
# "<file>:<row id>" -> the rejection reading it must give
SAMPLE_BAD_ROWS = {"unknown_category": "count_data is no category of the benchmark",
                   "answer_unreadable": "the reference answer states no yes/no",
                   "image_missing": "image_info.file_path names no file in the repo"}


def _spoken(metres: float, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{metres / 0.3048:.2f} feet" if metres >= 1 else f"{metres / 0.0254:.1f} inches"
    return f"{metres:.2f} meters" if metres >= 1 else f"{metres * 100:.2f} centimeters"


def _records(scenes: int, rng: random.Random) -> tuple[list[dict], dict[str, bytes]]:
    """SpatialRGPT-Bench records and their pictures (file_path -> JPEG bytes)."""
    records, images = [], {}
    for s in range(scenes):
        scene, facts = heldout_scene(SAMPLE_SEED + s)
        buf = io.BytesIO()
        Image.fromarray(scene.rgb).save(buf, "JPEG", quality=90)
        file_path = f"rendered/{scene.scene_id}.jpg"
        images[file_path] = buf.getvalue()
        boxes = {r.key: [round(v, 1) for v in r.box] for r in scene.regions}
        keys = list(boxes)
        if len(keys) < 2:  # a harness scene may show a single boxed object: nothing to compare
            continue
        info = {"file_path": file_path, "height": scene.rgb.shape[0], "width": scene.rgb.shape[1]}
        for i, (word, (category, more)) in enumerate(WORD.items()):
            a, b = (facts[k] for k in rng.sample(keys, 2))
            if not askable(category, a, b):
                continue
            holds = (measure(category, a, b) > 0) == more
            if (i + s) % 2 == 0:
                q = f"Is <mask> {PHRASE[word]} <mask>?"
                gt = (f"Yes, Region [0] is {PHRASE[word]} Region [1]." if holds
                      else f"Incorrect, Region [0] is not {PHRASE[word]} Region [1].")
                kind = f"{word}_predicate"
            else:
                q = f"Which is {WHICH[word]}, <mask> or <mask>?"
                gt = f"Region [{0 if holds else 1}] is {WHICH[word]}."
                kind = f"{word}_choice"
            records.append(_record(f"qualitative_{scene.scene_id}_{kind}", q, gt, "qualitative", kind, info,
                                   [boxes[a.key], boxes[b.key]]))
        for kind, (category, q, gt) in QUANTITATIVE.items():
            single = category in ("width", "height")
            a, b = (facts[k] for k in rng.sample(keys, 2))
            if not askable(category, a, None if single else b):
                continue
            fact = measure(category, a, None if single else b)
            v = str(clock_hour(fact)) if category == "direction" else _spoken(fact, rng)
            answer = gt.format(A="Region [0]", B="Region [1]", v=v)
            records.append(_record(f"quantitative_{scene.scene_id}_{kind}", q, answer, "quantitative", kind, info,
                                   [boxes[a.key]] if single else [boxes[a.key], boxes[b.key]]))
    predicate = next(r for r in records if r["qa_info"]["category"].endswith("_predicate"))
    return records + [
        {**predicate, "id": "unknown_category", "qa_info": {"type": "quantitative", "category": "count_data"}},
        {**predicate, "id": "answer_unreadable",
         "conversations": [predicate["conversations"][0], {"from": "gpt", "value": "I am not sure."}]},
        {**predicate, "id": "image_missing",
         "image_info": {**predicate["image_info"], "file_path": "rendered/missing.jpg"}},
    ], images


def _record(record_id: str, question: str, answer: str, qa_type: str, category: str, info: dict,
            bbox: list[list[float]]) -> dict:
    return {"id": record_id, "image_info": info, "text_q": region_text(question),
            "conversations": [{"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": answer}],
            "qa_info": {"type": qa_type, "category": category}, "bbox": bbox}


def _parquet(rows: list[dict], features: datasets.Features) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=features.arrow_schema), buf, row_group_size=8)
    return buf.getvalue()


TEXT = datasets.Value("string")
SRGPT_FEATURES = datasets.Features({
    "id": TEXT, "image": datasets.Image(),
    "image_info": {"file_path": TEXT, "height": datasets.Value("int64"), "width": datasets.Value("int64")},
    "text_q": TEXT, "conversations": datasets.List({"from": TEXT, "value": TEXT}),
    "qa_info": {"type": TEXT, "category": TEXT}, "bbox": datasets.List(datasets.List(datasets.Value("float64")))})
CONVERTED_FEATURES = datasets.Features({"id": TEXT, "image": datasets.Image(), "text_q": TEXT, "conversations": TEXT,
                                        "qa_info": TEXT, "bbox": TEXT})


def spatialrgpt_bench_files(seed: int = 0, scenes: int = 3) -> dict[str, bytes]:
    """The SpatialRGPT-Bench repo's files (same seed, same bytes): the JSON with images/<file_path>, and
    data/val-*.parquet with the picture embedded and nested fields as structs."""
    records, images = _records(scenes, random.Random(seed))
    rows = [{**r, "image": {"bytes": images.get(r["image_info"]["file_path"]), "path": r["image_info"]["file_path"]}}
            for r in records]
    return {"SpatialRGPT-Bench_v1.json": json.dumps(records, indent=1).encode(),
            **{f"images/{path}": data for path, data in images.items()},
            "data/val-00000-of-00001.parquet": _parquet(rows, SRGPT_FEATURES)}


def spatial_relation_eval_files(seed: int = 1, scenes: int = 3) -> dict[str, bytes]:
    """rogerxi/Spatial-Relation-Eval's Parquet conversion (refs/convert/parquet): default/train/0000.parquet
    with the picture embedded and nested fields as JSON / Python-literal strings."""
    records, images = _records(scenes, random.Random(seed))
    rows = [{"id": r["id"], "image": {"bytes": images.get(r["image_info"]["file_path"]),
                                      "path": r["image_info"]["file_path"]},
             "text_q": r["text_q"], "conversations": json.dumps(r["conversations"]), "qa_info": repr(r["qa_info"]),
             "bbox": json.dumps(r["bbox"])} for r in records]
    return {"default/train/0000.parquet": _parquet(rows, CONVERTED_FEATURES)}


def write_benchmark_samples(root: Path, seed: int = 0) -> dict[str, Path]:
    """Both benchmarks in the mirror `root` at their hub paths (`<root>/huggingface.co/datasets/<repo>/`),
    with the tree-API listings an HTTP mirror serves, so the benchmark sources ingest them through the
    same code as the real hub. Only what the sources read goes there (SpatialRGPT-Bench's `data/`: the
    JSON form, a root-level file whose tree listing would collide with the folders' in a mirror folder,
    is read by the tests from `spatialrgpt_bench_files`). Returns each source's repo folder."""
    readme = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: {split}\n    path: {glob}\n---\n" \
             "Sample of {repo} (rendered held-out scenes in its shape; see sample/benchmarks.py).\n"
    folders = {}
    srgpt = {path: data for path, data in spatialrgpt_bench_files(seed).items() if path.startswith("data/")}
    for source, files in ((SPATIALRGPT_BENCH, srgpt),
                          (SPATIAL_RELATION_EVAL, spatial_relation_eval_files(seed + 1))):
        split, glob = next(iter(source.splits.items()))
        write_repo(root, source.repo_id, source.revision, files,
                   readme.format(split=split, glob=glob, repo=source.repo_id))
        folders[source.name] = mirror_file(root, f"{HUB}/datasets/{source.repo_id}")
    return folders
