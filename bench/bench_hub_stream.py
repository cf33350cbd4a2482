"""Benchmark: stream a hub-sized Parquet shard with the hub reader vs loading it whole with pandas.

    .venv/bin/python bench/bench_hub_stream.py [--mb 400] [--rows-per-group 100] [--workdir DIR]

Generates one shard shaped like a the_cauldron file (`images`: list of {bytes, path}, `texts`: list of
{user, assistant, source}, with the `datasets` feature metadata; incompressible ~150 KB "image"
payloads so the file is as large as its data), written in row groups of `--rows-per-group` rows as
`datasets` writes image data. Then, each in its own subprocess so peak RSS is honest:
  stream    pipeline.sources.hub_parquet.iter_batches over [images, texts] in the engine's batch size,
            converting every row with the cauldron converter and touching every image's bytes;
  baseline  pandas.read_parquet of the whole shard, then the same per-row work over the DataFrame.
Prints rows/s and peak RSS of both, and the ratios; exits non-zero if the stream's peak RSS is not
well under (< 1/2 of) the shard size. The stream's bound is one row group plus one batch: a shard
written as a single huge row group would need that whole group in memory (see docs/hub_sources.md)."""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMAGE_BYTES = 150_000


def generate(path: Path, mb: int, rows_per_group: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sample.hub import CAULDRON_FEATURES

    schema = CAULDRON_FEATURES.arrow_schema
    rng = random.Random(0)
    rows = mb * 1_000_000 // IMAGE_BYTES
    with pq.ParquetWriter(path, schema) as writer:  # one row group at a time: the generator stays small too
        for start in range(0, rows, rows_per_group):
            n = min(rows_per_group, rows - start)
            batch = [{"images": [{"bytes": rng.randbytes(IMAGE_BYTES), "path": None}],
                      "texts": [{"user": f"Question {start + i}?\nGive a very brief answer.", "assistant": "yes",
                                 "source": "vqav2"}] * 3} for i in range(n)]
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return rows


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB on most systems


def run_stream(path: Path) -> dict:
    from pipeline.sources.cauldron import cauldron_turns
    from pipeline.sources.hub_ingest import BATCH_ROWS
    from pipeline.sources.hub_parquet import iter_batches

    base = _peak_mb()
    t0 = time.perf_counter()
    rows = payload = 0
    for batch in iter_batches(path, ["images", "texts"], BATCH_ROWS):
        for row in batch:
            cauldron_turns(row)
            payload += len(row["images"][0]["bytes"])
            rows += 1
    return {"rows": rows, "payload": payload, "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(),
            "import_mb": base}


def run_pandas(path: Path) -> dict:
    import pandas as pd

    from pipeline.sources.cauldron import cauldron_turns

    base = _peak_mb()
    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    rows = payload = 0
    for images, texts in zip(df["images"], df["texts"]):
        cauldron_turns({"texts": list(texts)})
        payload += len(images[0]["bytes"])
        rows += 1
    return {"rows": rows, "payload": payload, "seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(),
            "import_mb": base}


def _child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--shard", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=400, help="shard size to generate, MB")
    parser.add_argument("--rows-per-group", type=int, default=100, help="rows per Parquet row group")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=["stream", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_stream(args.shard) if args.child == "stream" else run_pandas(args.shard)))
        return 0

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        shard = Path(tmp) / "train-00000-of-00001.parquet"
        t0 = time.perf_counter()
        rows = generate(shard, args.mb, args.rows_per_group)
        size_mb = shard.stat().st_size / 2**20
        print(f"shard: {rows:,} rows, {size_mb:,.0f} MiB, {args.rows_per_group} rows per row group "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        results = {mode: _child(mode, shard) for mode in ("stream", "pandas")}
    for mode, r in results.items():
        assert r["rows"] == rows and r["payload"] == rows * IMAGE_BYTES, (mode, r)
        print(f"{mode:8s} {r['rows'] / r['seconds']:>10,.0f} rows/s  {r['seconds']:6.2f} s  "
              f"peak RSS {r['peak_mb']:7,.0f} MiB (after imports {r['import_mb']:,.0f} MiB, "
              f"growth {r['peak_mb'] - r['import_mb']:,.0f} MiB)")
    s, p = results["stream"], results["pandas"]
    print(f"stream vs pandas: {p['seconds'] / s['seconds']:.2f}x the throughput, "
          f"{s['peak_mb'] / p['peak_mb']:.2f}x the peak RSS; stream peak = {s['peak_mb'] / size_mb:.2f}x the shard size")
    return 0 if s["peak_mb"] < size_mb / 2 else 1


if __name__ == "__main__":
    sys.exit(main())
