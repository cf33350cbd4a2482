"""`spatialmix`: write or serve the sample mirror, ingest sources through Dagster, run the main job."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

from evaluation.cli import add_judge_parser
from sample.server import MirrorServer
from sample.mirror import write_sample_mirror
from spatialqa_gen.scene_pool import write_scene_pool

from .runner import PROJECT_ROOT, StepResult, ensure_dagster_home, materialize_keys


SAMPLE_SCENES = 24
SAMPLE_RECIPE = "recipes/sample.toml"


def write_sample(root: Path) -> Path:
    """The whole embedded sample: upstream-shaped mirror plus the rendered scene pool that stands in
    for the spatial generator's image pool (exact depth and masks; no model weights needed)."""
    root = write_sample_mirror(root)
    write_scene_pool(root / "spatialqa_scenes", SAMPLE_SCENES, seed=0)
    return root


def _workspace_config(args: argparse.Namespace, mirror: str | None) -> dict:
    """Run config for the `workspace` resource (also exported, for code that reads the environment)."""
    config = {}
    if args.data_root:
        config["data_root"] = os.environ["SPATIALMIX_DATA_ROOT"] = str(Path(args.data_root).resolve())
    if mirror:
        config["mirror"] = os.environ["SPATIALMIX_MIRROR"] = mirror
    if args.workers:
        config["workers"] = args.workers
    return {"resources": {"workspace": {"config": config}}}


def _source_keys(defs, sources: list[str]):
    graph = defs.resolve_asset_graph()
    source_keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "sources"]
    chosen = []
    for source in sources:
        mine = [k for k in source_keys if k.path[-1].startswith(f"{source}_")]
        if not mine:
            names = sorted({k.path[-1].rsplit("_", 1)[0] for k in source_keys})
            raise SystemExit(f"unknown source {source!r}; known: {', '.join(names)}")
        chosen += mine
    return chosen


def print_summary(steps: list[StepResult]) -> None:
    print("\nasset                              runs  summary")
    by_key: dict[str, list[StepResult]] = {}
    for s in steps:
        by_key.setdefault(s.key, []).append(s)
    for key, runs in by_key.items():
        numbers = {}
        for r in runs:
            for k, v in r.metadata.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    numbers[k] = numbers.get(k, 0) + v
        shown = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v:.4g}" for k, v in list(numbers.items())[:6])
        failed = {c for r in runs for c in r.failed_checks}
        print(f"{key:34s} {len(runs):4d}  {shown}" + (f"  FAILED CHECKS: {sorted(failed)}" if failed else ""))


def cmd_ingest(args: argparse.Namespace) -> int:
    ensure_dagster_home()
    config = _workspace_config(args, args.mirror)
    from .definitions import defs

    steps = materialize_keys(defs, _source_keys(defs, args.sources), config)
    print_summary(steps)
    print(f"\nruns recorded in DAGSTER_HOME={os.environ['DAGSTER_HOME']} (see them with `spatialmix ui`)")
    return 1 if any(s.failed_checks for s in steps) else 0


def cmd_run_sample(args: argparse.Namespace) -> int:
    """The main job: write the sample mirror, serve it on loopback HTTP, materialize every asset."""
    ensure_dagster_home()
    args.data_root = args.data_root or "playground/data"
    root = write_sample(Path(args.mirror_dir))
    os.environ["SPATIALMIX_SCENE_POOL"] = str(root / "spatialqa_scenes")
    mixture_json = Path(args.data_root).resolve().parent / "mixtures" / "sample" / "sample.json"
    per_asset = {"mixture": {"recipe": str(PROJECT_ROOT / SAMPLE_RECIPE)},
                 "finetune": {"preset": "tiny", "mixture": str(mixture_json)}}
    with MirrorServer(root) as server:
        config = _workspace_config(args, server.url)
        from .definitions import defs

        keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[-1] not in args.skip]
        steps = materialize_keys(defs, keys, config, asset_config=per_asset)
    print_summary(steps)
    print(f"\ndata root:  {os.environ['SPATIALMIX_DATA_ROOT']}\nmirror:     {root} (served at {server.url})")
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}: open the UI with `make ui` (or `.venv/bin/spatialmix ui`)")
    return 1 if any(s.failed_checks for s in steps) else 0


def cmd_sample_mirror(args: argparse.Namespace) -> int:
    root = write_sample(Path(args.dir))
    print(f"sample mirror written to {root}")
    return 0


def cmd_serve_mirror(args: argparse.Namespace) -> int:
    with MirrorServer(Path(args.dir), port=args.port) as server:
        print(f"serving {args.dir} at {server.url} (Ctrl-C to stop)", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    ensure_dagster_home()
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    return subprocess.call([sys.executable, "-m", "dagster", "dev", "-w", workspace, *args.rest])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spatialmix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample-mirror", help="write the embedded sample mirror into DIR")
    p.add_argument("dir")
    p.set_defaults(func=cmd_sample_mirror)

    p = sub.add_parser("serve-mirror", help="serve a mirror folder over loopback HTTP")
    p.add_argument("dir")
    p.add_argument("--port", type=int, default=8765)
    p.set_defaults(func=cmd_serve_mirror)

    p = sub.add_parser("ingest", help="materialize the assets of one or more sources (all shards)")
    p.add_argument("sources", nargs="+")
    p.add_argument("--mirror", help="mirror root (folder, file:// or http:// URL); default: real upstream")
    p.add_argument("--data-root", help="LLaVA data root (default ./playground/data)")
    p.add_argument("--workers", type=int, default=0, help="image worker processes (default: all cores)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("run-sample", help="the main job on the embedded sample (no network)")
    p.add_argument("--mirror-dir", default="playground/sample_mirror")
    p.add_argument("--data-root", help="LLaVA data root (default ./playground/data)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--skip", nargs="*", default=[], help="asset names not to materialize")
    p.set_defaults(func=cmd_run_sample)

    add_judge_parser(sub)

    p = sub.add_parser("ui", help="open `dagster dev` on the project's instance")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ui)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
