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

from pipeline.atomic import write_bytes, write_text
from pipeline.digests import sha256_file
from pipeline.verify import INDEX_NAME
from sample.benchmarks import write_benchmark_samples
from sample.hub import write_hub_samples
from sample.published import REFERENCE_IMAGES, write_published_samples
from sample.media import GREY_PHOTOS, PHOTOS, encode, mirror_file, photo
from pipeline.sources.coco_annotations import ARCHIVE as COCO_ANNOTATIONS, MEMBER as COCO_INSTANCES
from pipeline.sources.llava_665k import ANNOTATIONS as LLAVA_665K
from pipeline.sources.ocr_vqa import MIRROR_DATASET_JSON
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
    "textvqa/train_images/0a0bc91825468c45.jpg": "reencoded (GIF content named .jpg, under train_val_images/)",
    "vg/VG_100K/10.jpg": "quarantined: empty",
    "vg/VG_100K_2/2.jpg": "quarantined: not_an_image",
    "ocr_vqa/images/0000000002.jpg": "reencoded (PNG, URL ends .png)",
    "ocr_vqa/images/0000000003.jpg": "reencoded (PNG content, URL ends .jpg)",
    "ocr_vqa/images/0000000004.jpg": "reencoded (GIF, URL ends .gif)",
    "ocr_vqa/images/0000000005.jpg": "quarantined: download_failed (dead URL)",
    "ocr_vqa/images/0000000006.jpg": "quarantined: download_failed (dead URL)",
    "ocr_vqa/images/0000000007.jpg": "quarantined: too_small (1x1 placeholder GIF, URL ends .gif)",
    "ocr_vqa/images/452255260.jpg": "copied (9-digit book id)",
    "ocr_vqa/images/080442957X.jpg": "copied (X-suffixed book id)",
    # adversarial members (`_adversarial_members`)
    "gqa/images/bomb.jpg": "quarantined: too_large (80 MiB of zeros, deflated to 80 KB)",
    "gqa/images/col0.jpg": "copied (first of two members landing on col0.jpg)",
    "gqa/images/col0.png": "quarantined: duplicate_target (lands on col0.jpg too)",
    "gqa/images//2354800.jpg": "copied (name normalized to gqa/images/2354800.jpg)",
}
# Adversarial 665K records (`_adversarial_records`): upstream id -> the rejection each must get. Two
# records carry text that is not valid UTF-8 (a lone surrogate escape, a raw 0xFF byte) and one has a
# null id: those are rejected as `bad_text` (twice) and `bad_id`, by position.
BAD_RECORDS = {
    "string-turn": "bad_turn", "int-value": "not_text", "nul-image": "bad_image_path",
    "long-component": "bad_image_path", "absolute-image": "bad_image_path", "dotdot-image": "bad_image_path",
    "only-token": "no_question", "zero-width-answer": "empty_turn", "huge-question": "turn_too_long",
    "bomb-image": "image_unavailable_upstream",
}
# What `write_upstream_change` does to the mirror, and what a re-ingest must make of it.
UPSTREAM_CHANGE = {
    "gqa/images/2354788.jpg": "truncated upstream: quarantined, the old file removed",
    "gqa/images/2354789.jpg": "dropped upstream: the old file removed",
}
# OCR-VQA books in dataset.json that the 665K sample does not reference: not fetched by default.
OCR_UNREFERENCED = ("0000000010",)
# The covers archive (mirror-only location, for the archive route): `ocr_vqa/images/<id>.jpg` for the
# referenced books except these, which the archive lacks.
OCR_ARCHIVE = "ocr_vqa/covers.zip"
OCR_ARCHIVE_LACKS = ("0000000003",)
TEXTVQA_PREFIX = "train_val_images/"  # the sample's TextVQA zip wraps train_images/ in one more folder


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
    members = {TEXTVQA_PREFIX + n: _jpeg(rng) for n in names}
    members[TEXTVQA_PREFIX + names[0]] = _gif(rng)
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


OCR_BOOKS = ("0000000001", "0000000002", "0000000003", "0000000004", "0000000005", "0000000006",
             "0000000007", "452255260", "080442957X", "0000000010")


def _ocr_vqa(root: Path, rng: random.Random) -> list[str]:
    """dataset.json (at the mirror's own location), covers behind Amazon-style URLs with .jpg, .png and
    .gif suffixes, two dead URLs, a placeholder GIF, and the covers archive of the archive route (the
    original covers, dead URLs included, as community archives hold them; one book missing)."""
    books, written, archive = {}, [], {}
    for i, book in enumerate(OCR_BOOKS, start=1):
        suffix = {2: ".png", 4: ".gif", 7: ".gif"}.get(i, ".jpg")
        url = f"{OCR_HOST}{rng.getrandbits(40):010x}{suffix}"
        books[book] = {"imageURL": url, "title": f"Sample Book {i}", "authorName": "A. Author",
                       "genre": "Reference", "split": 1 if i < 9 else 3,
                       "questions": ["Who wrote this book?", "What is the title of this book?",
                                     "What is the genre of this book?"],
                       "answers": ["A. Author", f"Sample Book {i}", "Reference"]}
        data = {2: encode(photo("logo.png", (300, 450), rng), "PNG"), 3: encode(photo("logo.png", (300, 450), rng), "PNG"),
                4: (files("skimage.data") / "no_time_for_that_tiny.gif").read_bytes()}.get(i) \
            or encode(photo("page.png", (300, 450), rng))
        if book not in OCR_UNREFERENCED and book not in OCR_ARCHIVE_LACKS:
            archive[f"ocr_vqa/images/{book}{suffix}"] = data
        if i in (5, 6):
            continue  # dead URL: nothing served
        if i == 7:
            data = encode(Image.new("P", (1, 1)), "GIF")  # what a dead image host answers today
        write_bytes(mirror_file(root, url), data)
        if i != 7 and book not in OCR_UNREFERENCED:
            written.append(f"ocr_vqa/images/{book}.jpg")
    write_bytes(root / MIRROR_DATASET_JSON, json.dumps(books, indent=1).encode())
    _write_zip(root / OCR_ARCHIVE, {**archive, "ocr_vqa/README.txt": b"covers the LLaVA-1.5 665K uses"})
    return written


def _turns(*values: str) -> list[dict[str, str]]:
    """Alternating turns, human first."""
    return [{"from": ("human", "gpt")[i % 2], "value": v} for i, v in enumerate(values)]


# 665K sample records that need one of LLaVA's repairs (kept) or break what LLaVA can train on
# (rejected), by id -> the outcome the pipeline must produce.
LLAVA_CASES = {
    "token-at-end": "kept: image_token_normalized",
    "two-tokens": "kept: image_token_normalized (LLaVA keeps one)",
    "leading-gpt": "kept: leading_gpt_turn_dropped",
    "unanswered-last": "kept: unanswered_last_turn_dropped",
    "token-in-later-turn": "kept: image_token_moved_to_first_turn",
    "malformed": "rejected: turns_not_alternating",
    "tokens-in-two-turns": "rejected: image_token",
    "empty-turn": "rejected: empty_turn",
    "eos-in-answer": "rejected: llava_masking (a literal </s> in the answer)",
    "role-marker": "rejected: llava_masking (' ASSISTANT: ' inside a turn)",
    "missing-image": "rejected: image_unavailable_upstream",
    "dead-cover": "rejected: image_unavailable_upstream",
    "placeholder-cover": "rejected: image_unavailable_upstream",
    "gone-image": "rejected: image_missing",
}


def _llava_665k(root: Path, images: list[str], rng: random.Random) -> None:
    """A 665K-shaped file: records over every sample image, text-only records, and `LLAVA_CASES`."""
    records = []
    for i, image in enumerate(images):
        records.append({"id": Path(image).stem, "image": image, "conversations": _turns(
            "<image>\nWhat is shown in this picture?", f"A sample photograph number {i}.",
            "Describe it in one word.", "Photograph.")})
    for i in range(3):
        records.append({"id": f"text-{i}", "conversations": _turns(f"Give me a word that rhymes with cat ({i}).", "Hat.")})
    cases = {
        "token-at-end": (images[11], _turns("What is in the image?\n<image>", "A picture.")),
        "two-tokens": (images[12], _turns("<image>\n<image>\nCompare.", "Same.")),
        "leading-gpt": (images[13], [{"from": "gpt", "value": "Here is a picture."},
                                    *_turns("<image>\nWhat is it?", "A photo.")]),
        "unanswered-last": (images[14], _turns("<image>\nWhat is it?", "A photo.", "And what else?")),
        "token-in-later-turn": (images[15], _turns("Look carefully.", "I will.", "<image>\nWhat colour dominates?", "Grey.")),
        "malformed": (images[16], [{"from": "gpt", "value": "I speak first."}, {"from": "gpt", "value": "<image>\nTwice."},
                                  {"from": "human", "value": "That is wrong."}]),
        "tokens-in-two-turns": (images[26], _turns("<image>\nFirst look.", "Ok.", "<image>\nSecond look.", "Ok.")),
        "empty-turn": (images[27], _turns("<image>\nAnything?", "  ")),
        "eos-in-answer": (images[28], _turns("<image>\nFinish the sentence.", "It ends here.</s> Or not.")),
        "role-marker": (images[29], _turns("<image>\nRepeat after me: USER: hi ASSISTANT: hello", "USER: hi")),
        "missing-image": ("ocr_vqa/images/0000000005.jpg", _turns("<image>\nWho wrote this book?", "A. Author")),
        "dead-cover": ("ocr_vqa/images/0000000006.jpg", _turns("<image>\nWho wrote this book?", "A. Author")),
        "placeholder-cover": ("ocr_vqa/images/0000000007.jpg", _turns("<image>\nWhat is the genre of this book?",
                                                                      "Reference")),
        "gone-image": ("coco/train2017/000000999999.jpg", _turns("<image>\nWhat is here?", "Nothing.")),
    }
    assert set(cases) == set(LLAVA_CASES)
    records += [{"id": rid, "image": image, "conversations": turns} for rid, (image, turns) in cases.items()]
    records.append(dict(records[4]))  # a repeated upstream id (COCO 000000000042): kept, renamed
    rng.shuffle(records)
    write_bytes(mirror_file(root, LLAVA_665K.mirror_location()), json.dumps(records, indent=1).encode())


def _adversarial_members(root: Path, rng: random.Random) -> None:
    """Members appended to the GQA archive: a deflate bomb (its declared size gives it away), two
    names that land on one file, and a name with `//` that normalizes to a new one."""
    path = mirror_file(root, GQA.archives[0].url)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("images/bomb.jpg", ZIP_TIME), bytes(80 * 2**20), zipfile.ZIP_DEFLATED, 9)
        png = encode(photo("coffee.png", (320, 240), rng), "PNG")
        for name, data in (("images/col0.jpg", _jpeg(rng)), ("images/col0.png", png), ("images//2354800.jpg", _jpeg(rng))):
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_STORED)


def _adversarial_records(root: Path) -> None:
    """Malformed records of every kind, appended to the 665K file (see BAD_RECORDS), plus one valid
    record on the kept half of the colliding pair."""
    path = mirror_file(root, LLAVA_665K.mirror_location())
    ask = {"from": "human", "value": "<image>\nWhat is shown in this picture?"}
    answer = {"from": "gpt", "value": "A photograph."}
    image = "coco/train2017/000000000036.jpg"
    bad = [
        {"id": "string-turn", "image": image, "conversations": ["<image>\nA turn that is a plain string.", answer]},
        {"id": "int-value", "image": image, "conversations": [ask, {"from": "gpt", "value": 42}]},
        {"id": "nul-image", "image": "coco/train2017/000000000036\x00.jpg", "conversations": [ask, answer]},
        {"id": "long-component", "image": "gqa/images/" + "x" * 300 + ".jpg", "conversations": [ask, answer]},
        {"id": "absolute-image", "image": "/" + image, "conversations": [ask, answer]},
        {"id": "dotdot-image", "image": "coco/../" + image, "conversations": [ask, answer]},
        {"id": "only-token", "image": image, "conversations": [{"from": "human", "value": "<image>\n"}, answer]},
        {"id": "zero-width-answer", "image": image, "conversations": [ask, {"from": "gpt", "value": "\u200b"}]},
        {"id": "huge-question", "image": image,
         "conversations": [{"from": "human", "value": "<image>\n" + "Why? " * 60_000}, answer]},
        {"id": "bomb-image", "image": "gqa/images/bomb.jpg", "conversations": [ask, answer]},
        {"id": None, "image": image, "conversations": [ask, answer]},
        {"id": "lone-surrogate", "image": image, "conversations": [ask, {"from": "gpt", "value": "SURROGATE"}]},
        {"id": "invalid-utf8", "image": image, "conversations": [ask, {"from": "gpt", "value": "INVALID"}]},
        {"id": "col0", "image": "gqa/images/col0.jpg", "conversations": [ask, answer]},
    ]
    body = json.loads(path.read_bytes()) + bad
    raw = json.dumps(body, indent=1).encode()
    raw = raw.replace(b'"SURROGATE"', b'"\\ud800 alone"').replace(b'"INVALID"', b'"bad \xff byte"')
    write_bytes(path, raw)


def write_upstream_change(root: Path) -> None:
    """Change the mirror as an upstream release would (UPSTREAM_CHANGE): one GQA image truncated, one
    dropped. The checksum index follows, so a re-download sees the new archive."""
    path = mirror_file(root, GQA.archives[0].url)
    with zipfile.ZipFile(path) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, data in members:
            if info.filename == "images/2354789.jpg":
                continue
            zf.writestr(info, data[: len(data) // 2] if info.filename == "images/2354788.jpg" else data)
    write_bytes(path, buf.getvalue())
    write_checksums(root)


def write_checksums(root: Path) -> None:
    """The mirror's checksum index (`pipeline.verify`): the sample's files are miniatures of the
    upstream ones, so the mirror declares what its copies are."""
    hosts = [d for d in root.iterdir() if d.is_dir() and "." in d.name]  # <host>/<path>, as mirror_url lays out
    files = sorted(p for d in hosts for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
    write_text(root / INDEX_NAME, "".join(f"{sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in files))


def write_sample_mirror(root: Path, seed: int = 0) -> Path:
    """Write the whole sample mirror under `root` (idempotent: same seed, same bytes)."""
    root = root.resolve()
    rng = random.Random(seed)
    images = _coco(root, rng) + _gqa(root, rng) + _textvqa(root, rng) + _vg(root, rng) + _ocr_vqa(root, rng)
    _llava_665k(root, images, rng)
    _adversarial_members(root, rng)
    write_hub_samples(root, seed)  # after the zips: some hub rows reuse their exact image bytes
    write_published_samples(root, seed)  # after both: the 850K-shaped annotation reuses their records
    write_benchmark_samples(root, seed)
    _adversarial_records(root)  # after the published sample, which is built from the valid 665K records
    write_checksums(root)  # last: the mirror's own checksums cover every file above
    return root


def sample_source_options(root: Path) -> dict[str, dict]:
    """Per-source settings for the sample (what `spatialmix run-sample` writes into the settings file):
    the archives' exact image counts, so the count guard is enforced on the sample too, and the seed's
    own hub images for the reference's mapping by content."""
    counts = {"coco": 12, "gqa": 12, "textvqa": 7, "vg": 11}  # gqa: 8 images + 4 adversarial members
    return {**{name: {"upstream_images": n} for name, n in counts.items()},
            "spatial_llava_850k": {"reference_images": str(Path(root).resolve() / REFERENCE_IMAGES)}}
