"""`spatialmix deploy render` (Kubernetes manifests from the `[deploy]` table of the settings) and
`spatialmix deploy check` (the deployment's settings, its instance storage reachable; under "ray", the
data root shared by every Ray node)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from .deployment import check_instance_storage, check_settings
from .settings import Settings, read_settings

Resolve = Callable[[argparse.Namespace], tuple[Path, Settings]]


def cmd_render(args: argparse.Namespace, resolve: Resolve) -> int:
    from .kube_manifests import deploy_settings, write_manifests

    settings = read_settings(Path(args.settings)) if args.settings else resolve(args)[1]
    for path in write_manifests(deploy_settings(settings.deploy), Path(args.out)):
        print(f"wrote {path}")
    return 0


def cmd_check(args: argparse.Namespace, resolve: Resolve) -> int:
    home, settings = resolve(args)
    check_settings(settings)
    check_instance_storage(settings)
    print(f"deployment {settings.deployment} (instance {home}): instance storage reachable")
    if settings.deployment == "ray":
        from .cluster import check_shared_data_root

        root = Path(settings.data_root)
        nodes = check_shared_data_root(root, settings.ray_address)
        print(f"data root {root}: written by {len(nodes)} Ray node(s) and read back here")
    return 0


def add_deploy_commands(sub: argparse._SubParsersAction, resolve: Resolve) -> None:
    """The `deploy` commands; `resolve` turns their --data-root into the instance and its settings."""
    deploy = sub.add_parser("deploy", help="Kubernetes manifests and deployment checks (docs/deploy.md)")
    commands = deploy.add_subparsers(dest="deploy_command", required=True)

    p = commands.add_parser("render", help="render Helm values, the RayCluster, the volume claim and the "
                                           "cluster's settings from the [deploy] table")
    p.add_argument("--data-root", help="the data root whose instance settings to read (default ./playground/data)")
    p.add_argument("--settings", help="a spatialmix.toml to read instead of the instance's")
    p.add_argument("--out", default="deploy/k8s", help="folder for the rendered manifests")
    p.set_defaults(func=lambda args: cmd_render(args, resolve))

    p = commands.add_parser("check", help="check the instance storage and (deployment ray) the shared data root")
    p.add_argument("--data-root", help="the data root whose instance to check (default ./playground/data)")
    p.set_defaults(func=lambda args: cmd_check(args, resolve))
