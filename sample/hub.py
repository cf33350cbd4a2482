"""The embedded sample of the hub-hosted sources: folders shaped exactly like the hub repos.

`HuggingFaceM4/the_cauldron` (configs visualmrc, textcaps, clevr, vqav2: `<config>/train-0000i-of-0000n-
<hash>.parquet`) and `remyxai/OpenSpaces` (`data/train-*.parquet`, `data/test-*.parquet`), each with the
README `configs:` block the hub uses (so `datasets.load_dataset(folder, config)` reads them offline)
and the `datasets` feature metadata in the Parquet schema. Images are stored as bytes, as on the hub.
For HTTP mirrors, which cannot be globbed, the hub's tree-API answer for each folder is written too.

Overlaps with the 665K sample are real: some vqav2 and textcaps rows carry the exact bytes of COCO
and TextVQA sample images that the 665K sample references (read back from the sample's zip archives,
so `write_sample_mirror` writes them first). `HUB_BAD_INPUTS` lists the deliberate
defects and the outcome the pipeline must produce."""
from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from pipeline.atomic import write_bytes, write_text
from sample.media import PHOTOS, encode, mirror_file, photo
from pipeline.sources.cauldron import REPO_ID as CAULDRON_REPO, REVISION as CAULDRON_REVISION
from pipeline.sources.hub_files import HUB, tree_api_url
from pipeline.sources.openspaces import OPENSPACES
from pipeline.sources.registry import COCO, TEXTVQA

TEXT = datasets.Value("string")
CAULDRON_FEATURES = datasets.Features({
    "images": datasets.List(datasets.Image()),
    "texts": datasets.List({"user": TEXT, "assistant": TEXT, "source": TEXT})})
OPENSPACES_FEATURES = datasets.Features({
    "images": datasets.List(datasets.Image()),
    "messages": datasets.List({"content": datasets.List({"index": datasets.Value("int64"), "text": TEXT,
                                                         "type": TEXT}), "role": TEXT})})
ROW_GROUP = 2  # tiny row groups, so the sample exercises streaming across row groups

# The 665K sample asks "What is shown in this picture?" about every COCO image (sample_mirror._llava_665k).
OVERLAP_QUESTION = "What is shown in this picture?"
OVERLAP_COCO = ("train2017/000000000036.jpg", "train2017/000000000042.jpg")  # plain JPEGs: byte-copied
OVERLAP_TEXTVQA_INDEX = 1  # the second TextVQA member (the first is the GIF)

# <source>:<split>:<file #>:<row> -> what the pipeline must make of it
HUB_BAD_INPUTS = {
    "visualmrc:train:0:0": "reencoded (PNG)",
    "visualmrc:train:0:2": "rejected: empty_turn (empty answer)",
    "clevr:train:0:0": "reencoded (CMYK JPEG)",
    "clevr:train:0:2": "rejected: several_images",
    "textcaps:train:0:1": "rejected: image_undecodable (truncated JPEG)",
    "vqav2:train:0:2": "rejected: no_messages (texts null)",
    "vqav2:train:1:0": "rejected: no_image (images empty)",
    "openspaces:train:0:1": "rejected: no_messages (messages null)",
    "openspaces:train:0:2": "reencoded (RGBA PNG)",
    "openspaces:train:1:1": "rejected: image_token (placeholder in a later message)",
    "openspaces:train:1:2": "rejected: image_undecodable (not an image)",
    "openspaces:test:0:2": "rejected: empty_turn (empty question)",
}
DUPLICATED_CLEVR_SHARD = "clevr/train-00000-of-00001-d244df5ec45319a1.parquet"
# <source>:<split>:<file #>:<row> -> how it overlaps the 665K sample
HUB_OVERLAPS = {
    "vqav2:train:0:0": "same image and same first question",
    "vqav2:train:0:1": "same image, other question",
    "textcaps:train:0:0": "same image, other question",
}


def _img(data: bytes) -> dict[str, Any]:
    return {"bytes": data, "path": None}


def _photo_jpeg(rng: random.Random, size: tuple[int, int] = (480, 360)) -> bytes:
    return encode(photo(rng.choice(PHOTOS), size, rng))


def _qa(user: str, assistant: str, source: str) -> dict[str, str]:
    return {"user": user, "assistant": assistant, "source": source}


def _write_parquet(rows: list[dict], features: datasets.Features) -> bytes:
    table = pa.Table.from_pylist(rows, schema=features.arrow_schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=ROW_GROUP)
    return buf.getvalue()


def write_repo(root: Path, repo_id: str, revision: str, files: dict[str, bytes], readme: str) -> None:
    """Write the repo's files, its README and, per folder, the tree-API listing an HTTP mirror serves."""
    repo = mirror_file(root, f"{HUB}/datasets/{repo_id}")
    write_text(repo / "README.md", readme)
    folders: dict[str, list[dict]] = {}
    for path, data in files.items():
        write_bytes(repo / path, data)
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        entry = {"type": "file", "path": path, "size": len(data)}
        if path.endswith((".parquet", ".zip", ".json")):  # what the hub stores in LFS carries its sha256
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 132}
        folders.setdefault(folder, []).append(entry)
    for folder, entries in folders.items():
        write_text(mirror_file(root, tree_api_url(repo_id, revision, folder)), json.dumps(entries, indent=1))


def _shard_files(prefix: str, shards: list[list[dict]], features: datasets.Features, hashed: bool) -> dict[str, bytes]:
    """`<prefix>-0000i-of-0000n[-<hash>].parquet`: the cauldron's names carry a content hash, OpenSpaces' do not."""
    out = {}
    for i, rows in enumerate(shards):
        data = _write_parquet(rows, features)
        tag = f"-{hashlib.sha256(data).hexdigest()[:16]}" if hashed else ""
        out[f"{prefix}-{i:05d}-of-{len(shards):05d}{tag}.parquet"] = data
    return out


def _zip_member(root: Path, url: str, member: str | int) -> bytes:
    path = mirror_file(root, url)
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: write_sample_mirror writes it before the hub samples")
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[member] if isinstance(member, int) else member
        return zf.read(name)


def _cauldron(root: Path, rng: random.Random) -> None:
    coco = [_zip_member(root, COCO.archives[0].url, m) for m in OVERLAP_COCO]
    textvqa = _zip_member(root, TEXTVQA.archives[0].url, OVERLAP_TEXTVQA_INDEX)
    jpeg = lambda: _photo_jpeg(rng)  # noqa: E731
    truncated = jpeg()
    brief = "\nGive a very brief answer."
    configs = {
        "visualmrc": [[
            {"images": [_img(encode(photo("page.png", (600, 800), rng), "PNG"))],
             "texts": [_qa("What is the title of this page?", "Sample Page.", "visualmrc"),
                       _qa("Who is the page for?", "For readers of the sample.", "visualmrc")]},
            {"images": [_img(jpeg())], "texts": [_qa("What does the sign say?", "Open.", "visualmrc")]},
            {"images": [_img(jpeg())], "texts": [_qa("What is written at the top?", "", "visualmrc")]},
        ]],
        "clevr": [[
            {"images": [_img(encode(photo("astronaut.png", (480, 320), rng).convert("CMYK")))],
             "texts": [_qa("How many cylinders are there?" + brief, "2", "clevr")]},
            {"images": [_img(jpeg())], "texts": [_qa("Is the cube left of the sphere?" + brief, "yes", "clevr")]},
            {"images": [_img(jpeg()), _img(jpeg())],
             "texts": [_qa("Are the two scenes the same?" + brief, "no", "clevr")]},
        ]],
        "textcaps": [[
            {"images": [_img(textvqa)],
             "texts": [_qa("Write a caption for the image.", "A photo with some text in it.", "textcaps")]},
            {"images": [_img(truncated[: len(truncated) // 2])],
             "texts": [_qa("Write a caption for the image.", "A sign by the road.", "textcaps")]},
            {"images": [_img(jpeg())], "texts": [_qa("Write a caption for the image.", "A cat on a mat.", "textcaps")]},
        ]],
        "vqav2": [[
            {"images": [_img(coco[0])], "texts": [_qa(OVERLAP_QUESTION + brief, "A photograph.", "vqav2"),
                                                  _qa("Is it daytime?" + brief, "yes", "vqav2")]},
            {"images": [_img(coco[1])], "texts": [_qa("How many cats are there?" + brief, "1", "vqav2")]},
            {"images": [_img(jpeg())], "texts": None},
            {"images": [_img(jpeg())], "texts": [_qa("What color is the cup?" + brief, "white", "vqav2"),
                                                 _qa("Is there a person?" + brief, "no", "vqav2")]},
        ], [
            {"images": [], "texts": [_qa("What is on the table?" + brief, "cup", "vqav2")]},
            {"images": [_img(jpeg())], "texts": [_qa("What sport is this?" + brief, "tennis", "vqav2")]},
            {"images": [_img(jpeg())], "texts": [_qa("Is the road wet?" + brief, "no", "vqav2")]},
        ]],
    }
    files: dict[str, bytes] = {}
    for config, shards in configs.items():
        files |= _shard_files(f"{config}/train", shards, CAULDRON_FEATURES, hashed=True)
    # clevr's first shard uploaded twice under two names, byte for byte (the upstream held two copies
    # of shards 00000 and 00001 until April 2024): the copy is dropped, counted, not ingested twice.
    (first,) = [p for p in files if p.startswith("clevr/train-00000-")]
    files[DUPLICATED_CLEVR_SHARD] = files[first]
    yaml = "\n".join(f"- config_name: {c}\n  data_files:\n  - split: train\n    path: {c}/train-*" for c in configs)
    readme = (f"---\nconfigs:\n{yaml}\n---\n\n# the_cauldron (sample)\n\nA miniature of {CAULDRON_REPO}: "
              "the same layout and schema, generated by spatialmix.\n")
    write_repo(root, CAULDRON_REPO, CAULDRON_REVISION, files, readme)


def _message(role: str, text: str | None, image: bool = False) -> dict[str, Any]:
    content = [{"index": 0, "text": None, "type": "image"}] if image else []
    if text is not None:
        content.append({"index": None, "text": text, "type": "text"})
    return {"role": role, "content": content}


def _chat(*pairs: tuple[str, str], image_at: int = 0) -> list[dict[str, Any]]:
    messages = []
    for i, (q, a) in enumerate(pairs):
        messages += [_message("user", q, image=i == image_at), _message("assistant", a)]
    return messages


def _openspaces(root: Path, rng: random.Random) -> None:
    jpeg = lambda: _photo_jpeg(rng, (640, 480))  # noqa: E731
    rgba = photo("coffee.png", (400, 300), rng).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 128))
    long_chat = _chat(("How far is the cup from the plate?", "The cup is about 30 centimeters from the plate."),
                      ("Is the cup to the left of the plate?", "Yes, the cup is to the left of the plate."),
                      ("How tall is the cup?", "The cup is roughly 12 cm tall."))
    train = [[
        {"images": [_img(jpeg())], "messages": long_chat},
        {"images": [_img(jpeg())], "messages": None},
        {"images": [_img(encode(rgba, "PNG"))], "messages": _chat(("Which is wider, the cup or the saucer?",
                                                                     "The saucer is wider."))},
    ], [
        {"images": [_img(jpeg())], "messages": _chat(("Is the chair behind the table?", "No, it is in front."))},
        {"images": [_img(jpeg())], "messages": _chat(("What is here?", "A room."), ("How big is it?", "Large."),
                                                     image_at=1)},
        {"images": [_img(b"<html>502 Bad Gateway</html>")],
         "messages": _chat(("How far apart are the lamps?", "About 2 meters."))},
    ]]
    test = [[
        {"images": [_img(jpeg())], "messages": _chat(("Is the lamp above the desk?", "Yes."))},
        {"images": [_img(jpeg())], "messages": _chat(("How wide is the sofa?", "About 2.1 meters wide."))},
        {"images": [_img(jpeg())], "messages": _chat(("", "Nothing to answer."))},
    ]]
    files = (_shard_files("data/train", train, OPENSPACES_FEATURES, hashed=False)
             | _shard_files("data/test", test, OPENSPACES_FEATURES, hashed=False))
    readme = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
              "  - split: test\n    path: data/test-*\n---\n\n# OpenSpaces (sample)\n\nA miniature of "
              f"{OPENSPACES.repo_id}: the same layout and schema, generated by spatialmix.\n")
    write_repo(root, OPENSPACES.repo_id, OPENSPACES.revision, files, readme)


def write_hub_samples(root: Path, seed: int = 0) -> None:
    """Write the hub-shaped sample folders under the mirror `root` (same seed, same bytes)."""
    root = root.resolve()
    rng = random.Random(f"hub-{seed}")
    _cauldron(root, rng)
    _openspaces(root, rng)
