"""Content hashes of what a run produced: every file under the data root (bytes), every Parquet table
under the tables root (rows and schema, not the key/value metadata that carries fingerprints and
timings), and each mixture's LLaVA JSON (bytes) and Parquet copy (rows). A refactor that must not
change behaviour is proven by the same hashes before and after:

    python scripts/hash_outputs.py playground/data > before.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.mixture.commit import VERSION_PREFIX


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table_sha(path: Path) -> str:
    table = pq.read_table(path)
    body = json.dumps({"schema": [f"{f.name}:{f.type}" for f in table.schema], "rows": table.to_pylist()},
                      default=str, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def output_hashes(data_root: Path) -> dict[str, dict[str, str]]:
    root = data_root.resolve()
    tables, mixtures = root.parent / "tables", root.parent / "mixtures"
    images = {str(p.relative_to(root)): _file_sha(p) for p in sorted(root.rglob("*")) if p.is_file()}
    parquet = {str(p.relative_to(tables)): _table_sha(p) for p in sorted(tables.rglob("*.parquet")) if p.is_file()}
    mixture = {}
    for p in sorted(mixtures.rglob("*")):
        if p.parent.name.startswith(VERSION_PREFIX):
            continue  # a version folder: its outputs are hashed under their stable names
        if p.suffix == ".json" and p.name != "manifest.json":
            mixture[str(p.relative_to(mixtures))] = _file_sha(p)
        elif p.suffix == ".parquet":
            mixture[str(p.relative_to(mixtures))] = _table_sha(p)
    return {"data_root": images, "tables": parquet, "mixtures": mixture}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root", type=Path)
    args = parser.parse_args(argv)
    hashes = output_hashes(args.data_root)
    total = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
    json.dump({"total": total, **{k: len(v) for k, v in hashes.items()}, "files": hashes}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
