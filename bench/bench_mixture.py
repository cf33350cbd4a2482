"""Benchmark: build an ~850K-record mixture with the engine vs the naive baseline, in one run.

    .venv/bin/python bench/bench_mixture.py [--workdir DIR] [--scale 1.0]

Generates synthetic component tables shaped like the real Spatial-LLaVA mixture (LLaVA-1.5 665K with
its image prefixes, multi-turn VQA and long-answer conversations and text-only records; the four
the_cauldron subsets; OpenSpaces; SpatialQA), each as CONVERSATIONS parquet (the engine's input) and
as LLaVA JSON (the baseline's input), plus an empty placeholder file for every referenced image and
the image manifests the overlap detection reads. A few hundred records are broken (every contract
reason, missing images), some cauldron VQAv2/TextCaps rows repeat 665K samples, and a few are exact
duplicates.

Then, each in its own subprocess so peak RSS is honest:
  engine    pipeline.mixture.build: fingerprint (sha256 of every input table), read, validate every
            record including the image-existence rule against the placeholders, dedup, overlap,
            unique ids, shuffle, and write JSON + parquet + rejections + manifest (force=True).
  baseline  json.load every component JSON, concatenate the lists, json.dump the result. It checks
            nothing, so it is a lower bound on what a Python-loop pipeline costs.
Prints seconds, peak RSS and the ratios (goals: >= 3x faster, <= half the peak memory).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# records per component, as in the real mixture (the 665K split by image prefix as upstream)
LLAVA_PREFIXES = {"coco": 364_100, "vg": 86_417, "gqa": 72_140, "ocr_vqa": 80_000, "textvqa": 21_953,
                  None: 40_688}
LLAVA_IMAGES = {"coco": ("coco/train2017/{:012d}.jpg", 118_287), "vg": ("vg/VG_100K/{}.jpg", 108_077),
                "gqa": ("gqa/images/n{}.jpg", 72_140), "ocr_vqa": ("ocr_vqa/images/{}.jpg", 80_000),
                "textvqa": ("textvqa/train_images/{:016x}.jpg", 21_953)}
OTHERS = {"visualmrc": 3_027, "textcaps": 21_953, "clevr": 70_000, "vqav2": 82_772, "openspaces": 9_255,
          "spatialqa": 4_500}
OVERLAP_SHARE = 0.05   # of cauldron vqav2/textcaps rows that repeat a 665K image + question
BROKEN_SHARE = 0.0005  # records breaking the contract, per component
MISSING_IMAGES = 355   # 665K records whose image was never fetched (OCR-VQA)


class Text:
    """Pools of pseudo-words so generation is fast but lengths look like the real data."""

    def __init__(self, rng: random.Random) -> None:
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.rng = rng
        self.words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(5000)]
        self.questions = [self.sentence(5, 14) + "?" for _ in range(20_000)]
        self.short = [self.sentence(1, 3) for _ in range(5_000)]
        self.long = [" ".join(self.sentence(8, 20) + "." for _ in range(rng.randint(4, 12))) for _ in range(5_000)]

    def sentence(self, lo: int, hi: int) -> str:
        return " ".join(self.rng.choices(self.words, k=self.rng.randint(lo, hi))).capitalize()


def conversation(t: Text, image: bool, long_answers: bool, max_pairs: int) -> list[dict[str, str]]:
    rng = t.rng
    turns = []
    for i in range(rng.randint(1, max_pairs)):
        q = rng.choice(t.questions)
        if not long_answers:
            q += "\nAnswer the question using a single word or phrase."
        turns.append({"from": "human", "value": f"<image>\n{q}" if image and i == 0 else q})
        turns.append({"from": "gpt", "value": rng.choice(t.long if long_answers else t.short)})
    return turns


def break_record(rec: dict[str, Any], rng: random.Random) -> None:
    """Turn a valid record into one of the contract's rejection reasons."""
    conv = rec["conversations"]
    kind = rng.randrange(6)
    if kind == 0:
        rec["conversations"] = []
    elif kind == 1:
        conv[0]["from"] = "user"
    elif kind == 2:
        conv[0], conv[1] = conv[1], conv[0]
    elif kind == 3:
        conv[-1]["value"] = "  "
    elif kind == 4:
        conv.append({"from": "human", "value": "and?"})
    else:
        conv[0]["value"] = conv[0]["value"].replace("<image>\n", "") + " <image>" if rec.get("image") \
            else "<image>\n" + conv[0]["value"]


def llava_records(t: Text) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    rng = t.rng
    records, first_questions = [], []
    for prefix, n in LLAVA_PREFIXES.items():
        for i in range(n):
            rid = f"{prefix or 'sharegpt'}-{i}"
            if prefix is None:
                rec = {"id": rid, "conversations": conversation(t, False, True, 4)}
            else:
                pattern, pool = LLAVA_IMAGES[prefix]
                long_answers = prefix == "coco" and rng.random() < 0.45
                image = pattern.format(rng.randrange(pool))
                rec = {"id": rid, "image": image, "conversations": conversation(t, True, long_answers, 3 if long_answers else 10)}
                if prefix == "coco":
                    first_questions.append((image, rec["conversations"][0]["value"]))
            records.append(rec)
    for i in rng.sample(range(LLAVA_PREFIXES["coco"] + LLAVA_PREFIXES["vg"] + LLAVA_PREFIXES["gqa"],
                              LLAVA_PREFIXES["coco"] + LLAVA_PREFIXES["vg"] + LLAVA_PREFIXES["gqa"]
                              + LLAVA_PREFIXES["ocr_vqa"]), MISSING_IMAGES):
        records[i]["image"] = f"ocr_vqa/images/missing-{i}.jpg"
    return records, first_questions


def other_records(source: str, n: int, t: Text, coco_questions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    rng = t.rng
    records = []
    for i in range(n):
        image = f"{source}/images/{i:08d}.jpg"
        conv = conversation(t, True, source in ("openspaces", "spatialqa"), 6 if source == "openspaces" else 3)
        if source in ("vqav2", "textcaps") and rng.random() < OVERLAP_SHARE:
            image, question = rng.choice(coco_questions)  # the manifests give both files one sha256
            conv[0]["value"] = question
            image = f"{source}/images/dup-{image.rsplit('/', 1)[1]}"
        records.append({"id": f"{source}-{i}", "image": image, "conversations": conv})
    return records


def write_component(work: Path, source: str, table: str, records: list[dict[str, Any]], rng: random.Random) -> None:
    from pipeline import atomic, tables

    for i in rng.sample(range(len(records)), max(1, int(len(records) * BROKEN_SHARE))):
        break_record(records[i], rng)
    for i in rng.sample(range(len(records)), max(1, len(records) // 20_000)):
        records.append(dict(records[i], id=f"{records[i]['id']}-again"))  # exact duplicate, new id
    (work / "json").mkdir(parents=True, exist_ok=True)
    (work / "json" / f"{source}.json").write_bytes(orjson.dumps(records))
    rows = [{"id": r["id"], "image": r.get("image"), "conversations": r["conversations"], "source": source,
             "source_id": r["id"]} for r in records]
    atomic.write_table(work / "tables" / source / table, tables.to_table(rows, tables.CONVERSATIONS))


def write_images_and_manifests(work: Path) -> int:
    """Empty placeholder files for every referenced image, and image manifests giving each its sha256
    (an overlap copy shares its 665K original's hash, as re-ingested identical bytes would)."""
    import pyarrow as pa

    from pipeline import atomic, tables

    data = work / "data"
    by_source: dict[str, list[str]] = {}
    seen: set[str] = set()
    for f in sorted((work / "json").glob("*.json")):
        for rec in orjson.loads(f.read_bytes()):
            image = rec.get("image")
            if image and image not in seen and "/missing-" not in image:
                seen.add(image)
                by_source.setdefault(image.split("/", 1)[0], []).append(image)
    for source, paths in by_source.items():
        for folder in {p.rsplit("/", 1)[0] for p in paths}:
            (data / folder).mkdir(parents=True, exist_ok=True)
        for p in paths:
            open(data / p, "wb").close()
        original = [p.replace(f"{source}/images/dup-", "coco/train2017/") if "/dup-" in p else p for p in paths]
        sha = [hashlib.sha256(o.encode()).hexdigest() for o in original]
        n = len(paths)
        table = pa.table({"path": paths, "source": [source] * n, "original": original,
                          "original_format": ["JPEG"] * n, "width": pa.array([640] * n, pa.int32()),
                          "height": pa.array([480] * n, pa.int32()), "bytes": pa.array([0] * n, pa.int64()),
                          "sha256": sha, "action": ["copied"] * n, "reason": pa.array([None] * n, pa.string())},
                         schema=tables.MANIFEST)
        atomic.write_table(work / "tables" / source / "images" / "part-0.parquet", table)
    return len(seen)


RECIPE = """name = "bench"
seed = 1
tolerance = 0.02
duplicates = "drop"
[overlap]
policy = "keep"
sources = ["vqav2", "textcaps"]
reference = "llava_665k"
"""


def generate(work: Path, scale: float) -> None:
    marker = work / "generated.json"
    if marker.exists() and json.loads(marker.read_text()) == {"scale": scale}:
        return
    t0 = time.perf_counter()
    global LLAVA_PREFIXES, OTHERS, MISSING_IMAGES
    LLAVA_PREFIXES = {k: max(1, int(v * scale)) for k, v in LLAVA_PREFIXES.items()}
    OTHERS = {k: max(1, int(v * scale)) for k, v in OTHERS.items()}
    MISSING_IMAGES = max(1, int(MISSING_IMAGES * scale))
    rng = random.Random(1234)
    text = Text(rng)
    llava, coco_questions = llava_records(text)
    write_component(work, "llava_665k", "conversations.parquet", llava, rng)
    recipe = RECIPE + f'[[components]]\nsource = "llava_665k"\nexpected = {len(llava)}\n'
    del llava
    for source, n in OTHERS.items():
        table = "conversations-train.parquet" if source == "openspaces" else "conversations.parquet"
        write_component(work, source, table, other_records(source, n, text, coco_questions), rng)
        recipe += f'[[components]]\nsource = "{source}"\ntable = "{table}"\nexpected = {n}\n'
    images = write_images_and_manifests(work)
    (work / "recipe.toml").write_text(recipe)
    marker.write_text(json.dumps({"scale": scale}))
    print(f"generated inputs in {time.perf_counter() - t0:.1f} s ({images:,} placeholder images) under {work}")


def peak_rss() -> int:
    """High-water RSS of this process's own address space. (getrusage's ru_maxrss is not usable in a
    child: Linux carries the parent's high-water mark across fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: best effort


def child(mode: str, work: Path) -> None:
    """Runs in its own process; prints one JSON line with seconds, peak RSS and the record count."""
    t0 = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    if mode == "engine":
        from pipeline.layout import Layout
        from pipeline.mixture import build
        from pipeline.recipe import load
        t0 = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = usage.ru_utime + usage.ru_stime
        stamps: list[tuple[float, str]] = []  # the engine logs at the end of each phase
        report = build(load(work / "recipe.toml"), Layout.at(work / "data", work / "tables", work / "cache"),
                       work / "out-engine", check_images=True, force=True,
                       log=lambda m: stamps.append((time.perf_counter() - t0, m)))
        records = report.manifest["records"]
    else:
        merged: list[dict[str, Any]] = []
        for f in sorted((work / "json").glob("*.json")):
            with f.open() as fh:
                merged.extend(json.load(fh))
        (work / "out-baseline").mkdir(exist_ok=True)
        with (work / "out-baseline" / "bench.json").open("w") as fh:
            json.dump(merged, fh)
        records = len(merged)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "engine":
        print(engine_phases(stamps))
    print(json.dumps({"mode": mode, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu0,
                      "peak_rss": peak_rss(), "records": records}))


def engine_phases(stamps: list[tuple[float, str]]) -> str:
    """Seconds per phase, from the engine's log line that closes each phase (the image listing runs
    in a thread during the read, so it has no phase of its own)."""
    phases = [("fingerprint+read", " records from "), ("validate", " rejected by the contract"),
              ("dedup+overlap+sample+ids+shuffle", " shuffled (seed "), ("export", ": wrote ")]
    out, start = [], 0.0
    for name, marker in phases:
        end = max(t for t, m in stamps if marker in m)
        out.append(f"{name} {end - start:.2f} s")
        start = end
    return "  engine phases: " + ", ".join(out)


def measure(mode: str, work: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--workdir", str(work)],
                         check=True, capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(line)
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, default=None, help="reused between runs (default: a temp folder)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the real sizes to generate")
    p.add_argument("--child", choices=["engine", "baseline"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.workdir)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_mixture_"))
    work.mkdir(parents=True, exist_ok=True)
    generate(work, args.scale)
    inputs = sum(f.stat().st_size for f in (work / "json").glob("*.json"))
    print(f"inputs: {inputs / 2**20:,.0f} MiB of LLaVA JSON (baseline) / "
          f"{sum(f.stat().st_size for f in (work / 'tables').rglob('conversations*.parquet')) / 2**20:,.0f} MiB parquet (engine)")
    baseline = measure("baseline", work)
    engine = measure("engine", work)
    for r in (baseline, engine):
        print(f"{r['mode']:<9} {r['records']:>9,} records  {r['seconds']:7.2f} s wall  {r['cpu_seconds']:7.2f} s CPU  "
              f"peak RSS {r['peak_rss'] / 2**20:8,.0f} MiB")
    speed = baseline["seconds"] / engine["seconds"]
    memory = engine["peak_rss"] / baseline["peak_rss"]
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"CPU-time ratio {baseline['cpu_seconds'] / engine['cpu_seconds']:.2f}x")
    print(f"speedup {speed:.2f}x (goal >= 3x: {'met' if speed >= 3 else 'NOT met'}); "
          f"peak memory ratio {memory:.2f} (goal <= 0.5: {'met' if memory <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
