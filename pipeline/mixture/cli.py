"""Command line: `python -m pipeline.mixture --recipe recipes/sample.toml`."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.layout import Layout
from pipeline.mixture.merge import build
from pipeline.recipe import check_sources, load as load_recipe
from pipeline.sources.registry import component_tables


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.mixture",
                                description="Merge, validate and export a training mixture from a recipe.")
    p.add_argument("--recipe", default="recipes/spatial_llava.toml")
    p.add_argument("--data-root", default=None,
                   help="LLaVA image folder (default: playground/data)")
    p.add_argument("--tables-root", default=None)
    p.add_argument("--out", default=None, help="output folder (default: <data_root>/../mixtures/<name>)")
    p.add_argument("--no-image-check", action="store_true", help="skip the image-existence rule")
    p.add_argument("--force", action="store_true", help="rebuild even if the inputs are unchanged")
    p.add_argument("--allow-out-of-tolerance", action="store_true",
                   help="exit 0 even when a component's record count is outside the recipe's tolerance")
    args = p.parse_args(argv)
    report = build(check_sources(load_recipe(args.recipe), component_tables()), Layout.at(args.data_root, args.tables_root),
                   Path(args.out) if args.out else None, check_images=not args.no_image_check,
                   force=args.force, log=print)
    m = report.manifest
    print(f"{m['records']:,} records -> {report.json_path}" + (" (unchanged)" if report.skipped else ""))
    for c in m["components"]:
        flag = "  OUT OF TOLERANCE" if c["within_tolerance"] is False else ""
        print(f"  {c['name']:<12} {c['records']:>9,}  expected {c['expected']}  rejected {c['rejected']:,}{flag}")
    off = [c["name"] for c in m["components"] if c["within_tolerance"] is False]
    if off and not args.allow_out_of_tolerance:
        print(f"components outside their tolerance: {', '.join(off)} (--allow-out-of-tolerance to accept)")
        return 1
    return 0
