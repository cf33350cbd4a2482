"""`spatialmix`: write or serve the sample mirror, ingest sources through Dagster, run the main job,
show or change the instance's settings, open the UI.

Settings are resolved once here (the instance's `spatialmix.toml`, then the command's flags) and passed
down as the graph's `workspace` resource and as run config; nothing is handed over through the
environment except DAGSTER_HOME to the `dagster dev` child process. Arguments are checked as they are
parsed (`assets/cli_args.py`); a failed run ends the command with one line (asset, run id, reason, log);
runs are tagged with the command and their source."""
import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from evaluation.cli import add_judge_parser
from pipeline.sources.registry import SOURCES

from . import cli_args
from .deploy_commands import add_deploy_commands
from .deployment import DeploymentError, check_settings
from .runner import ENTRY_TAG, RunFailed, StepResult, materialize_keys, open_instance
from .settings import (PROJECT_ROOT, Settings, SettingsError, instance_home, load_settings, save_settings,
                       settings_path)

SAMPLE_SCENES = 24
SAMPLE_RECIPE = "recipes/sample.toml"
SAMPLE_BASELINE = "tiny-llava"


def write_sample(root: Path) -> Path:
    """The whole embedded sample: upstream-shaped mirror plus the rendered scene pool that stands in
    for the spatial generator's image pool (exact depth and masks; no model weights needed), and the
    tiny random checkpoint the tiny finetune starts from (same seed), `evaluate`'s baseline there."""
    from sample.mirror import write_sample_mirror
    from spatialqa_gen.scene_pool import write_scene_pool
    from trainer.config import TrainConfig
    from trainer.model import build_tiny

    root = write_sample_mirror(root)
    write_scene_pool(root / "spatialqa_scenes", SAMPLE_SCENES, seed=0)
    build_tiny(root / SAMPLE_BASELINE, seed=TrainConfig.seed)
    return root


def resolve(args: argparse.Namespace) -> tuple[Path, Settings]:
    """The instance folder and its settings, with this command's --data-root applied. An instance
    serves one data root: asking an existing instance for another one is refused."""
    home = instance_home(args.data_root)
    settings = load_settings(home)
    if args.data_root:
        wanted = str(Path(args.data_root).resolve())
        if settings_path(home).exists() and settings.data_root != wanted:
            raise SystemExit(f"the instance {home} serves data root {settings.data_root}, not {wanted}; "
                             "unset DAGSTER_HOME (each data root gets its own instance) or point it elsewhere")
        settings = dataclasses.replace(settings, data_root=wanted)
    return home, settings


# A mirror URL with credentials reaches the run through Dagster's secret reference ({"env": name}),
# so run storage, event logs and the UI hold the variable's name, never the password.
MIRROR_SECRET_ENV = "SPATIALMIX_MIRROR_WITH_CREDENTIALS"


def _run_config(settings: Settings, **overrides: object) -> dict:
    """The workspace values of this run, recorded in its run config (so the UI shows what it used)."""
    from pipeline.verify import redact

    from .resources import Workspace

    fields: dict = Workspace.from_settings(settings).model_dump() | {k: v for k, v in overrides.items() if v}
    if redact(fields["mirror"]) != fields["mirror"]:
        os.environ[MIRROR_SECRET_ENV] = fields["mirror"]  # read by this process's in-process runs only
        fields["mirror"] = {"env": MIRROR_SECRET_ENV}
    return {"resources": {"workspace": {"config": fields}}}


def _source_keys(defs, sources: list[str]) -> list:
    """Each source's assets, plus those that only read them (e.g. `coco_annotations` for coco)."""
    graph = defs.resolve_asset_graph()
    chosen: set = set()
    for source in sources:
        chosen |= {k for k in graph.get_all_asset_keys() if k.path[-1].startswith(f"{source}_")
                   and k.path[-1].removeprefix(f"{source}_") in ("download", "images", "conversations")}
    added = True
    while added:  # close over assets whose every upstream is already chosen
        extra = {k for k in graph.get_all_asset_keys() - chosen
                 if (parents := graph.get(k).parent_keys) and parents <= chosen}
        added = bool(extra)
        chosen |= extra
    return sorted(chosen)


def print_summary(steps: list[StepResult]) -> None:
    print("\nasset                              runs  summary")
    by_key: dict[str, list[StepResult]] = {}
    for s in steps:
        by_key.setdefault(s.key, []).append(s)
    for key, runs in by_key.items():
        numbers = {}
        for r in runs:
            for k, v in r.metadata.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("dagster/"):
                    numbers[k] = numbers.get(k, 0) + v
        shown = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v:.4g}" for k, v in list(numbers.items())[:6])
        failed = {c for r in runs for c in r.failed_checks}
        print(f"{key:34s} {len(runs):4d}  {shown}" + (f"  FAILED CHECKS: {sorted(failed)}" if failed else ""))


def cmd_ingest(args: argparse.Namespace) -> int:
    from .graph import build_definitions

    home, settings = resolve(args)
    defs = build_definitions(settings)
    config = _run_config(settings, mirror=args.mirror, workers=args.workers)
    steps = materialize_keys(defs, open_instance(home, settings), _source_keys(defs, args.sources), config,
                             tags={ENTRY_TAG: "spatialmix ingest"})
    print_summary(steps)
    print(f"\nruns recorded in the instance {home} (see them with `spatialmix ui`)")
    return 1 if any(s.failed_checks for s in steps) else 0


def cmd_run_sample(args: argparse.Namespace) -> int:
    """The main job: write the sample mirror and the sample's settings, serve the mirror on loopback
    HTTP, materialize every asset."""
    from sample.server import MirrorServer

    from .graph import build_definitions

    args.data_root = args.data_root or "playground/data"
    home, settings = resolve(args)
    root = write_sample(Path(args.mirror_dir))
    # The UI reads the mirror from its folder afterwards (the HTTP server lives only for this command).
    from sample.mirror import sample_source_options

    settings = dataclasses.replace(settings, mirror=str(root), scene_pool=str(root / "spatialqa_scenes"),
                                   recipe=str(PROJECT_ROOT / SAMPLE_RECIPE), finetune_preset="tiny",
                                   launcher="python", workers=args.workers or settings.workers,
                                   sources=settings.sources | sample_source_options(root),
                                   eval_baseline=str(root / SAMPLE_BASELINE))
    save_settings(home, settings)
    defs = build_definitions(settings)
    with MirrorServer(root) as server:
        keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[-1] not in args.skip]
        steps = materialize_keys(defs, open_instance(home, settings), keys, _run_config(settings, mirror=server.url),
                                 tags={ENTRY_TAG: "spatialmix run-sample"})
    print_summary(steps)
    print(f"\ndata root:  {settings.data_root}\nmirror:     {root} (served at {server.url} during this run)")
    print(f"instance:   {home} (settings in {settings_path(home).name}): open the UI with `make ui`")
    return 1 if any(s.failed_checks for s in steps) else 0


def cmd_settings(args: argparse.Namespace) -> int:
    home, settings = resolve(args)
    if args.set:
        settings = dataclasses.replace(settings, **dict(args.set)).with_paths_resolved(Path.cwd())
        check_settings(settings)  # e.g. deployment "ray" without ray_address: refused, nothing written
        save_settings(home, settings)
    from pipeline.verify import redact

    text = settings_path(home).read_text() if settings_path(home).exists() else f"(no settings in {home}: defaults)"
    print(text.replace(settings.mirror, redact(settings.mirror)) if settings.mirror else text)
    return 0


def cmd_sample_mirror(args: argparse.Namespace) -> int:
    root = write_sample(Path(args.dir))
    print(f"sample mirror written to {root}")
    return 0


def cmd_serve_mirror(args: argparse.Namespace) -> int:
    from sample.server import MirrorServer

    with MirrorServer(Path(args.dir), port=args.port) as server:
        print(f"serving {args.dir} at {server.url} (Ctrl-C to stop)", flush=True)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_mixture(args: argparse.Namespace) -> int:
    from pipeline.mixture_diff import main as diff_main

    return diff_main(args.rest)


def ui_command(args: argparse.Namespace) -> list[str]:
    """`dagster dev` on the project's workspace, with --host/--port and everything after `--` passed on."""
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    where = [*(["-h", args.host] if args.host else []), *(["-p", str(args.port)] if args.port else [])]
    # `dagster dev` itself warns that it is superseded by `dg dev` (a separate package): nothing to act on
    quiet = ["-W", "ignore:Function `dev_command` is superseded:FutureWarning"]
    return [sys.executable, *quiet, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *where, *rest]


def cmd_ui(args: argparse.Namespace) -> int:
    home, settings = resolve(args)
    open_instance(home, settings)  # the deployment's dagster.yaml in place, its storage reachable
    print(f"instance {home} (data root {settings.data_root}; settings in {settings_path(home).name})", flush=True)
    child = subprocess.Popen(ui_command(args), env=dict(os.environ, DAGSTER_HOME=str(home)))
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached `dagster dev` too: let it stop its services, then leave
        return child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spatialmix", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample-mirror", help="write the embedded sample mirror into DIR")
    p.add_argument("dir")
    p.set_defaults(func=cmd_sample_mirror)

    p = sub.add_parser("serve-mirror", help="serve a mirror folder over loopback HTTP")
    p.add_argument("dir", type=cli_args.existing_dir)
    p.add_argument("--port", type=cli_args.port, default=8765, help="0: any free port")
    p.set_defaults(func=cmd_serve_mirror)

    p = sub.add_parser("mixture", help="work with built mixtures: `mixture diff A B` compares two "
                                       "(folders, .parquet or LLaVA .json)")
    p.add_argument("action", choices=["diff"])
    p.add_argument("rest", nargs=argparse.REMAINDER, help="A B [--examples N] [--json]")
    p.set_defaults(func=cmd_mixture)

    p = sub.add_parser("ingest", help="materialize the assets of one or more sources (all shards)",
                       epilog=f"sources: {', '.join(SOURCES)}")
    p.add_argument("sources", nargs="+", type=cli_args.source_name, metavar="SOURCE")
    p.add_argument("--mirror", type=cli_args.mirror,
                   help="mirror root (folder, file:// or http(s):// URL); default: the instance's settings")
    p.add_argument("--data-root", help="LLaVA data root (default ./playground/data)")
    p.add_argument("--workers", type=cli_args.workers, default=0,
                   help="image worker processes (default: settings, else all cores)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("run-sample", help="the main job on the embedded sample (no network)")
    p.add_argument("--mirror-dir", default="playground/sample_mirror")
    p.add_argument("--data-root", help="LLaVA data root (default ./playground/data)")
    p.add_argument("--workers", type=cli_args.workers, default=0)
    p.add_argument("--skip", nargs="*", default=[], help="asset names not to materialize")
    p.set_defaults(func=cmd_run_sample)

    p = sub.add_parser("settings", help="show the instance's settings, or change them with --set key=value")
    p.add_argument("--data-root", help="the data root whose instance to use (default ./playground/data)")
    p.add_argument("--set", nargs="*", action="extend", metavar="KEY=VALUE", type=cli_args.setting)
    p.set_defaults(func=cmd_settings)

    add_judge_parser(sub)
    add_deploy_commands(sub, resolve)

    p = sub.add_parser("ui", help="open `dagster dev` on the instance of the data root",
                       epilog="anything after `--` is passed to `dagster dev`")
    p.add_argument("--data-root", help="the data root whose instance to open (default ./playground/data)")
    p.add_argument("--host", help="address the UI listens on (dagster's default: 127.0.0.1)")
    p.add_argument("--port", type=cli_args.port, help="port of the UI (dagster's default: 3000)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_ui)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RunFailed, SettingsError) as err:
        print(f"spatialmix: {err}", file=sys.stderr)
        return 1
    except DeploymentError as err:  # an operator's problem (no server, no shared volume): one plain message
        print(f"spatialmix: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
