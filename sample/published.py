"""The embedded sample of Spatial-LLaVA's published artifacts, written after the other samples (it
reuses their bytes):

- `rogerxi/SpatialQA` in the `llava_json` shape: `SpatialQA.json` (LLaVA records naming
  `spatialqa/images/<name>.jpg`) and `images.zip` holding `spatialqa/images/*.jpg`;
- `rogerxi/LLaVA-Spatial-Instruct-850K`: one JSON annotation shaped like the published mixture: the
  665K sample's records verbatim, one record per kept hub row under the seed's own image names
  (`vqav2/images/vqav2_000003.jpg`), the SpatialQA records, and the cases in `REFERENCE_CASES`;
- the seed's own images of the hub rows (`spatial_llava/reference_images.zip`, a mirror-only
  location: the seed never published them) for the reconciliation's mapping by content.
`SPATIALQA_CASES` and `REFERENCE_CASES` list what the pipeline must make of the deliberate quirks."""
from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.atomic import write_bytes
from pipeline.sources.cauldron import REPO_ID as CAULDRON_REPO, cauldron_turns
from pipeline.sources.hub_files import HUB
from pipeline.sources.llava_665k import ANNOTATIONS as LLAVA_665K
from pipeline.sources.openspaces import OPENSPACES, openspaces_turns
from pipeline.sources.reference_850k import REPO_ID as REFERENCE_REPO, REVISION as REFERENCE_REVISION
from pipeline.sources.spatialqa_hub import REPO_ID as SPATIALQA_REPO, REVISION as SPATIALQA_REVISION
from sample.hub import DUPLICATED_CLEVR_SHARD, HUB_BAD_INPUTS, write_repo
from sample.media import PHOTOS, encode, mirror_file, photo

REFERENCE_IMAGES = "spatial_llava/reference_images.zip"   # relative to the mirror root
REFERENCE_FILE = "llava_v1_5_spatial_mix850k.json"         # the sample's name; the real one is unverified
SPATIALQA_CASES = {
    "sqa-3": "kept (PNG content named .jpg: re-encoded)",
    "sqa-4": "rejected: image_missing (an empty member, quarantined)",
    "sqa-5": "rejected: image_missing (not in images.zip)",
}
REFERENCE_CASES = {
    "ref-answer-differs": "in both mixtures, conversations differ (another answer to the same question)",
    "ref-unpublished-image": "rejected: image_missing (the seed's image is nowhere)",
}
HUB_ROWS = (("visualmrc", "train", "HuggingFaceM4/the_cauldron", "visualmrc/train-"),
            ("textcaps", "train", CAULDRON_REPO, "textcaps/train-"), ("clevr", "train", CAULDRON_REPO, "clevr/train-"),
            ("vqav2", "train", CAULDRON_REPO, "vqav2/train-"), ("openspaces", "train", OPENSPACES.repo_id, "data/train-"))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def _spatialqa(root: Path, rng: random.Random) -> list[dict]:
    """rogerxi/SpatialQA: 6 records; sqa-3 is a PNG named .jpg, sqa-4 an empty file, sqa-5 not in the zip."""
    records, images = [], {}
    for i in range(6):
        name = f"spatialqa/images/sqa_{i:06d}.jpg"
        images[name] = encode(photo(rng.choice(PHOTOS), (480, 360), rng), "PNG" if i == 3 else "JPEG")
        records.append({"id": f"sqa-{i}", "image": name, "conversations": [
            {"from": "human", "value": "<image>\nHow far apart are the two largest objects?"},
            {"from": "gpt", "value": f"They are about {1.2 + i / 10:.1f} meters apart."},
            {"from": "human", "value": "Which one is on the left?"},
            {"from": "gpt", "value": "The larger one is on the left."}]})
    images["spatialqa/images/sqa_000004.jpg"] = b""
    del images["spatialqa/images/sqa_000005.jpg"]
    files = {"SpatialQA.json": json.dumps(records, indent=1).encode(), "images.zip": _zip(images)}
    readme = "# SpatialQA (sample)\n\nSpatial relation QA with its images, shaped like rogerxi/SpatialQA's README layout.\n"
    write_repo(root, SPATIALQA_REPO, SPATIALQA_REVISION, files, readme)
    return records


def _hub_rows(root: Path) -> list[tuple[str, str, bytes, list]]:
    """(source, seed image name, image bytes, turns) of every hub sample row the pipeline keeps."""
    rows = []
    for source, split, repo, prefix in HUB_ROWS:
        folder = mirror_file(root, f"{HUB}/datasets/{repo}")
        files = sorted(p for p in folder.rglob("*.parquet") if p.relative_to(folder).as_posix().startswith(prefix)
                       and p.name != Path(DUPLICATED_CLEVR_SHARD).name)
        convert = openspaces_turns if source == "openspaces" else cauldron_turns
        for file_no, path in enumerate(files):
            for row_no, row in enumerate(pq.read_table(path).to_pylist()):
                outcome = HUB_BAD_INPUTS.get(f"{source}:{split}:{file_no}:{row_no}", "")
                if outcome.startswith("rejected"):
                    continue
                rows.append((source, f"{source}/images/{source}_{len(rows):06d}.jpg", row["images"][0]["bytes"],
                             convert(row)))
    return rows


def write_published_samples(root: Path, seed: int = 0) -> None:
    """Write SpatialQA, the 850K-shaped annotation and the seed's hub images (after the other samples)."""
    root = root.resolve()
    rng = random.Random(f"published-{seed}")
    spatialqa = _spatialqa(root, rng)
    llava = json.loads(mirror_file(root, LLAVA_665K.mirror_location()).read_bytes())
    hub = _hub_rows(root)
    records = list(llava)
    records += [{"id": f"{source}-{i}", "image": name, "conversations": turns} for i, (source, name, _, turns) in enumerate(hub)]
    records += spatialqa
    vqav2 = next(r for r in records if r.get("image", "").startswith("vqav2/") and len(r["conversations"]) == 2)
    records.append({"id": "ref-answer-differs", "image": vqav2["image"],
                    "conversations": [vqav2["conversations"][0], {"from": "gpt", "value": "Something else entirely."}]})
    records.remove(vqav2)
    records.append({"id": "ref-unpublished-image", "image": "openspaces/images/openspaces_999999.jpg",
                    "conversations": [{"from": "human", "value": "<image>\nHow tall is it?"},
                                      {"from": "gpt", "value": "About 2 meters."}]})
    rng.shuffle(records)
    readme = "# LLaVA-Spatial-Instruct-850K (sample)\n\nThe final mixture's annotation, shaped like the published one.\n"
    write_repo(root, REFERENCE_REPO, REFERENCE_REVISION, {REFERENCE_FILE: json.dumps(records, indent=1).encode()}, readme)
    write_bytes(root / REFERENCE_IMAGES, _zip({name: data for _, name, data, _ in hub}))
