"""Compare two mixtures (`spatialmix mixture diff A B`, and the `matches_reference` asset check).

A mixture is a mixture folder (its `manifest.json` names the Parquet twin), a mixture `.parquet`, or
a LLaVA `.json`. Records are matched by image path + normalised first question (`overlap.question_key`;
repeated keys are paired in order), so ids and order do not matter. Reported: records per image
folder on each side, records only in A and only in B (counts per folder and examples), and records
present in both whose conversations differ (count and examples, with the first differing turn)."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .overlap import question_key

TURNS = pl.List(pl.Struct({"from": pl.String, "value": pl.String}))


def read_mixture(path: Path) -> pl.DataFrame:
    """image, conversations of a mixture folder, Parquet or LLaVA JSON."""
    path = Path(path)
    if path.is_dir():
        manifest = json.loads((path / "manifest.json").read_bytes())
        path = path / manifest["outputs"]["parquet"]["file"]
    if path.suffix == ".parquet":
        return pl.read_parquet(path, columns=["image", "conversations"]).with_columns(pl.col("conversations").cast(TURNS))
    import orjson

    records = orjson.loads(path.read_bytes())
    if not isinstance(records, list):
        raise ValueError(f"{path}: not a LLaVA JSON list")
    return pl.DataFrame({"image": [r.get("image") for r in records],
                         "conversations": [[{"from": t.get("from"), "value": t.get("value")} for t in r.get("conversations") or []]
                                           for r in records]}, schema={"image": pl.String, "conversations": TURNS})


def _keyed(df: pl.DataFrame) -> pl.DataFrame:
    first = pl.col("conversations").list.first().struct.field("value")
    return (df.with_columns(image=pl.col("image").fill_null(""),
                            _q=first.map_elements(question_key, return_dtype=pl.String, skip_nulls=True).fill_null(""))
            .with_columns(_n=pl.int_range(pl.len()).over("image", "_q"),
                          folder=pl.when(pl.col("image") == "").then(pl.lit("text-only"))
                          .otherwise(pl.col("image").str.split("/").list.first())))


def _first_difference(a: list[dict], b: list[dict]) -> dict[str, Any]:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return {"turn": i, "a": x, "b": y}
    return {"turn": min(len(a), len(b)), "a_turns": len(a), "b_turns": len(b)}


@dataclass
class MixtureDiff:
    records: dict[str, int]                       # {"a": n, "b": n}
    by_folder: dict[str, dict[str, int]]          # folder -> {"a", "b", "only_a", "only_b", "differ"}
    only_a: int
    only_b: int
    shared: int
    differ: int
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def folders_off(self, tolerance: float) -> dict[str, dict[str, int]]:
        """Folders both mixtures hold whose record counts differ by more than `tolerance` (of B's)."""
        return {f: c for f, c in self.by_folder.items()
                if c["a"] and c["b"] and abs(c["a"] - c["b"]) > tolerance * c["b"]}

    def markdown(self) -> str:
        lines = ["| folder | A | B | only A | only B | conversations differ |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {f} | {c['a']:,} | {c['b']:,} | {c['only_a']:,} | {c['only_b']:,} | {c['differ']:,} |"
                  for f, c in self.by_folder.items()]
        return "\n".join(lines)


def diff(a: Path, b: Path, examples: int = 5) -> MixtureDiff:
    left, right = _keyed(read_mixture(a)), _keyed(read_mixture(b))
    key = ["image", "_q", "_n"]
    only_a = left.join(right, on=key, how="anti")
    only_b = right.join(left, on=key, how="anti")
    both = left.join(right.select(*key, conversations_b="conversations"), on=key, how="inner")
    differ = both.filter(pl.col("conversations") != pl.col("conversations_b"))
    folders: dict[str, dict[str, int]] = {}
    for name, frame in (("a", left), ("b", right), ("only_a", only_a), ("only_b", only_b), ("differ", differ)):
        for folder, n in frame.group_by("folder").len().iter_rows():
            folders.setdefault(folder, dict.fromkeys(("a", "b", "only_a", "only_b", "differ"), 0))[name] = n
    show = lambda f: f.head(examples).select("image", "conversations").to_dicts()  # noqa: E731
    return MixtureDiff(
        records={"a": left.height, "b": right.height}, by_folder=dict(sorted(folders.items())),
        only_a=only_a.height, only_b=only_b.height, shared=both.height, differ=differ.height,
        examples={"only_a": show(only_a), "only_b": show(only_b),
                  "differ": [{"image": r["image"], **_first_difference(r["conversations"], r["conversations_b"])}
                             for r in differ.head(examples).iter_rows(named=True)]})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="spatialmix mixture diff", description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="mixture folder, .parquet or LLaVA .json")
    p.add_argument("b", type=Path)
    p.add_argument("--examples", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the whole diff as JSON")
    args = p.parse_args(argv)
    d = diff(args.a, args.b, args.examples)
    if args.json:
        print(json.dumps(d.as_dict(), indent=1, ensure_ascii=False))
        return 0
    print(f"A: {args.a} ({d.records['a']:,} records)\nB: {args.b} ({d.records['b']:,} records)\n")
    print(d.markdown())
    print(f"\nonly in A: {d.only_a:,}   only in B: {d.only_b:,}   in both: {d.shared:,} "
          f"(conversations differ: {d.differ:,})")
    for kind, rows in d.examples.items():
        for r in rows:
            print(f"  {kind}: {json.dumps(r, ensure_ascii=False)[:300]}")
    return 0
