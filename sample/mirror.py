"""The embedded sample: miniature copies of every upstream source in its exact upstream shape.

Laid out under one mirror root by the same `<host>/<path>` rule as `fetch.mirror_url`, so the
pipeline reaches it through the same code as the real URLs (a loopback HTTP server or file://).
Pictures are real photographs shipped in scikit-image's wheel, cropped and resized to photo-like
sizes; the deliberate bad inputs are listed in `BAD_INPUTS` and asserted by the tests."""
from __future__ import annotations

import io
import json
import random
import zipfile
from importlib.resources import files
from pathlib import Path

from PIL import Image

from pipeline.atomic import write_bytes
from sample.benchmarks import write_benchmark_samples
from sample.hub import write_hub_samples
from sample.media import GREY_PHOTOS, PHOTOS, encode, mirror_file, photo
from pipeline.sources.coco_annotations import ARCHIVE as COCO_ANNOTATIONS, MEMBER as COCO_INSTANCES
from pipeline.sources.llava_665k import ANNOTATIONS as LLAVA_665K
from pipeline.sources.ocr_vqa import DATASET_JSON_URL
from pipeline.sources.registry import COCO, GQA, TEXTVQA, VG

ZIP_TIME = (2017, 1, 1, 0, 0, 0)
OCR_HOST = "http://ecx.images-amazon.com/images/I/"

# What the sample deliberately breaks, and the outcome the pipeline must produce.
BAD_INPUTS = {
    "coco/train2017/000000000009.jpg": "reencoded (CMYK JPEG)",
    "coco/train2017/000000000025.jpg": "copied (grayscale JPEG)",
    "coco/train2017/000000000030.jpg": "reencoded (EXIF orientation 6)",
    "coco/train2017/000000000034.jpg": "quarantined: truncated",
    "gqa/images/2354787.jpg": "reencoded (PNG content named .jpg)",
    "gqa/../../escape.jpg": "quarantined: unsafe_path",
    "textvqa/train_images/0a0bc91825468c45.jpg": "reencoded (GIF content named .jpg)",
    "vg/VG_100K/10.jpg": "quarantined: empty",
    "vg/VG_100K_2/2.jpg": "quarantined: not_an_image",
    "ocr_vqa/images/0000000003.jpg": "reencoded (PNG content, URL ends .jpg)",
    "ocr_vqa/images/0000000004.jpg": "reencoded (real GIF)",
    "ocr_vqa/images/0000000005.jpg": "quarantined: download_failed (dead URL)",
    "ocr_vqa/images/0000000006.jpg": "quarantined: download_failed (dead URL)",
    "ocr_vqa/images/0000000007.jpg": "quarantined: too_small (1x1 placeholder GIF)",
}


def _jpeg(rng: random.Random, grey: bool = False) -> bytes:
    size = rng.choice([(640, 480), (640, 427), (500, 375), (480, 640), (612, 612)])
    return encode(photo(rng.choice(GREY_PHOTOS if grey else PHOTOS), size, rng))


def _exif_rotated(rng: random.Random) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo("chelsea.png", (640, 480), rng), exif=exif.tobytes())


def _gif(rng: random.Random) -> bytes:
    return encode(photo("coffee.png", (400, 300), rng).convert("P", palette=Image.Palette.ADAPTIVE), "GIF")


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data)
    write_bytes(path, buf.getvalue())


def _coco(root: Path, rng: random.Random) -> list[str]:
    names = [f"train2017/{i:012d}.jpg" for i in (9, 25, 30, 34, 36, 42, 49, 61, 64, 71, 72, 73)]
    members = {n: _jpeg(rng) for n in names}
    members[names[0]] = encode(photo("astronaut.png", (640, 480), rng).convert("CMYK"))
    members[names[1]] = _jpeg(rng, grey=True)
    members[names[2]] = _exif_rotated(rng)
    members[names[3]] = members[names[3]][: len(members[names[3]]) // 2]
    _write_zip(mirror_file(root, COCO.archives[0].url), members)
    images = [{"id": i, "file_name": n.split("/")[1], "width": 640, "height": 480}
              for i, n in enumerate(names)]
    cats = [{"id": 1, "name": "person"}, {"id": 2, "name": "cat"}, {"id": 3, "name": "cup"}]
    anns = [{"id": 10 * i + k, "image_id": i, "category_id": 1 + k, "iscrowd": 0,
             "bbox": [20.0 + 90 * k, 40.0, 80.0, 120.0 + 10 * k]} for i in range(len(names)) for k in range(3)]
    anns.append({"id": 9999, "image_id": 12345, "category_id": 1, "bbox": [0, 0, 1, 1]})  # dangling
    instances = json.dumps({"images": images, "categories": cats, "annotations": anns}).encode()
    _write_zip(mirror_file(root, COCO_ANNOTATIONS.url), {COCO_INSTANCES: instances})
    return [f"coco/{n}" for n in names if n != names[3]]


def _gqa(root: Path, rng: random.Random) -> list[str]:
    names = [f"images/{2354786 + i}.jpg" for i in range(8)]
    members = {n: _jpeg(rng) for n in names}
    members[names[1]] = encode(photo("color.png", (500, 333), rng), "PNG")
    members["../../escape.jpg"] = _jpeg(rng)
    _write_zip(mirror_file(root, GQA.archives[0].url), members)
    return [f"gqa/{n}" for n in names]


def _textvqa(root: Path, rng: random.Random) -> list[str]:
    names = ["train_images/0a0bc91825468c45.jpg"] + [f"train_images/{rng.getrandbits(64):016x}.jpg" for _ in range(6)]
    members = {n: _jpeg(rng) for n in names}
    members[names[0]] = _gif(rng)
    _write_zip(mirror_file(root, TEXTVQA.archives[0].url), members)
    return [f"textvqa/{n}" for n in names]


def _vg(root: Path, rng: random.Random) -> list[str]:
    part1 = {f"VG_100K/{i}.jpg": _jpeg(rng) for i in range(10, 16)}
    part1["VG_100K/10.jpg"] = b""
    part2 = {f"VG_100K_2/{i}.jpg": _jpeg(rng) for i in range(1, 6)}
    part2["VG_100K_2/2.jpg"] = b"<html>404 Not Found</html>"
    _write_zip(mirror_file(root, VG.archives[0].url), part1)
    _write_zip(mirror_file(root, VG.archives[1].url), part2)
    return [f"vg/{n}" for n in list(part1) + list(part2) if n not in ("VG_100K/10.jpg", "VG_100K_2/2.jpg")]


def _ocr_vqa(root: Path, rng: random.Random) -> list[str]:
    books, written = {}, []
    for i in range(1, 11):
        book = f"{i:010d}"
        key = f"{rng.getrandbits(40):010x}"
        url = f"{OCR_HOST}{key}.jpg"
        books[book] = {"imageURL": url, "title": f"Sample Book {i}", "authorName": "A. Author",
                       "genre": "Reference", "split": 1 if i < 9 else 3,
                       "questions": ["Who wrote this book?", "What is the title of this book?",
                                     "What is the genre of this book?"],
                       "answers": ["A. Author", f"Sample Book {i}", "Reference"]}
        if i in (5, 6):
            continue  # dead URL: nothing served
        data = {3: encode(photo("logo.png", (300, 450), rng), "PNG"),
                4: (files("skimage.data") / "no_time_for_that_tiny.gif").read_bytes(),
                7: encode(Image.new("P", (1, 1)), "GIF")}.get(i) or encode(photo("page.png", (300, 450), rng))
        write_bytes(mirror_file(root, url), data)
        if i != 7:
            written.append(f"ocr_vqa/images/{book}.jpg")
    write_bytes(mirror_file(root, DATASET_JSON_URL), json.dumps(books, indent=1).encode())
    return written


def _llava_665k(root: Path, images: list[str], rng: random.Random) -> None:
    """A 665K-shaped file: records over every sample image, text-only records, and the bad cases."""
    records = []
    for i, image in enumerate(images):
        turns = [{"from": "human", "value": "<image>\nWhat is shown in this picture?"},
                 {"from": "gpt", "value": f"A sample photograph number {i}."},
                 {"from": "human", "value": "Describe it in one word."},
                 {"from": "gpt", "value": "Photograph."}]
        records.append({"id": Path(image).stem, "image": image, "conversations": turns})
    records[1]["conversations"][0]["value"] = "What is in the image?\n<image>"  # token at the end: fixed
    for i in range(3):
        records.append({"id": f"text-{i}", "conversations": [
            {"from": "human", "value": f"Give me a word that rhymes with cat ({i})."},
            {"from": "gpt", "value": "Hat."}]})
    records.append({"id": "missing-image", "image": "ocr_vqa/images/0000000005.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWho wrote this book?"}, {"from": "gpt", "value": "A. Author"}]})
    records.append({"id": "malformed", "image": images[0], "conversations": [
        {"from": "gpt", "value": "<image>\nI speak first."}, {"from": "human", "value": "That is wrong."}]})
    records.append({"id": "empty-turn", "image": images[2], "conversations": [
        {"from": "human", "value": "<image>\nAnything?"}, {"from": "gpt", "value": "  "}]})
    records.append({"id": "two-tokens", "image": images[3], "conversations": [
        {"from": "human", "value": "<image>\n<image>\nCompare."}, {"from": "gpt", "value": "Same."}]})
    records.append(dict(records[4]))  # a repeated upstream id: kept, renamed
    rng.shuffle(records)
    write_bytes(mirror_file(root, LLAVA_665K.mirror_location()), json.dumps(records, indent=1).encode())


def write_sample_mirror(root: Path, seed: int = 0) -> Path:
    """Write the whole sample mirror under `root` (idempotent: same seed, same bytes)."""
    root = root.resolve()
    rng = random.Random(seed)
    images = _coco(root, rng) + _gqa(root, rng) + _textvqa(root, rng) + _vg(root, rng) + _ocr_vqa(root, rng)
    _llava_665k(root, images, rng)
    write_hub_samples(root, seed)  # after the zips: some hub rows reuse their exact image bytes
    write_benchmark_samples(root, seed)
    return root
