"""Deployments: which instance configuration (dagster.yaml) `spatialmix` writes into the instance
folder, from the `deployment` setting (`assets/settings.py`):

- `embedded` (default, what `make sample` uses): SQLite in the instance folder, steps in-process.
- `postgres`: the same graph with run, event-log and schedule storage in PostgreSQL.
- `ray`: PostgreSQL storage, runs launched as Ray jobs (RayRunLauncher) and every step a Ray job of
  its own with the Ray resources its asset asks for (the executor: `assets/cluster.py`).

A deployment's dagster.yaml is the project's dagster.yaml with the overlays of deploy/instance/
applied in order, so what all of them share (run queue, pools, run monitoring) lives in one file. The
PostgreSQL server, port, user and database come from spatialmix.toml (`postgres_*`); its password is
the one thing read from the environment (DAGSTER_PG_PASSWORD, through Dagster's `env:` reference), so
no password is ever written to a file."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .settings import PROJECT_ROOT, Settings

DEFINITIONS_MODULE = "assets.definitions"  # the code location (pyproject's [tool.dagster], workspace.yaml)
# Per deployment (settings.DEPLOYMENTS), the files of deploy/instance/ laid over dagster.yaml.
OVERLAYS: dict[str, tuple[str, ...]] = {"embedded": (), "postgres": ("postgres.yaml",),
                                        "ray": ("postgres.yaml", "ray.yaml")}
PG_PASSWORD_ENV = "DAGSTER_PG_PASSWORD"  # the only secret; the name Dagster's Helm chart gives it too


class DeploymentError(RuntimeError):
    """A deployment prerequisite is missing; the message is meant for the operator, as is."""


def check_settings(settings: Settings) -> None:
    """The deployment settings that only make sense together."""
    if settings.deployment == "ray" and not settings.ray_address:
        raise DeploymentError('deployment "ray" needs `ray_address`: the Ray cluster\'s dashboard URL '
                              "(http://head:8265) or GCS address (head:6379); `spatialmix settings --set ray_address=...`")
    if settings.launcher == "ray" and settings.deployment != "ray":
        raise DeploymentError('launcher "ray" trains through Ray Train on the Ray cluster: it needs deployment "ray"')
    if settings.ray_shard_cpus < 1:
        raise DeploymentError(f"ray_shard_cpus must be at least 1, got {settings.ray_shard_cpus}")


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if key == "storage":  # a storage block replaces the other (sqlite vs postgres), never merges
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def instance_config(settings: Settings) -> dict[str, Any]:
    """The dagster.yaml of the settings' deployment as a dict (the password left as `{env: NAME}`)."""
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    for name in OVERLAYS[settings.deployment]:
        config = _merge(config, yaml.safe_load((PROJECT_ROOT / "deploy" / "instance" / name).read_text()))
    if "postgres.yaml" in OVERLAYS[settings.deployment]:
        db = config["storage"]["postgres"]["postgres_db"]
        config["storage"]["postgres"]["postgres_db"] = {
            "hostname": settings.postgres_host, "port": settings.postgres_port, "username": settings.postgres_user,
            **db, "db_name": settings.postgres_db}
    if settings.deployment == "ray":
        config["run_launcher"]["config"]["ray"] = {"address": settings.ray_address,
                                                   **config["run_launcher"]["config"]["ray"]}
    return config


def instance_yaml(settings: Settings) -> str:
    if settings.deployment == "embedded":
        return (PROJECT_ROOT / "dagster.yaml").read_text()  # as written, comments included
    overlays = "".join(f" + deploy/instance/{n}" for n in OVERLAYS[settings.deployment])
    header = (f"# Written by spatialmix for deployment `{settings.deployment}` from dagster.yaml{overlays} "
              "and spatialmix.toml; edit those, not this.\n")
    return header + yaml.safe_dump(instance_config(settings), sort_keys=False)


def write_instance_yaml(home: Path, settings: Settings) -> Path:
    """<home>/dagster.yaml for the settings' deployment, rewritten only when it changed."""
    dest = home / "dagster.yaml"
    text = instance_yaml(settings)
    if not dest.is_file() or dest.read_text() != text:
        home.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".dagster.yaml.{os.getpid()}.part")
        tmp.write_text(text)
        os.replace(tmp, dest)
    return dest


@dataclass(frozen=True)
class PostgresConnection:
    host: str
    port: int
    user: str
    password: str
    db: str

    @classmethod
    def of(cls, settings: Settings) -> "PostgresConnection":
        password = os.environ.get(PG_PASSWORD_ENV)
        if not password:
            raise DeploymentError(f"PostgreSQL instance storage (deployment {settings.deployment!r}) needs its password "
                                  f"in {PG_PASSWORD_ENV}; it is never read from a file")
        return cls(settings.postgres_host, settings.postgres_port, settings.postgres_user, password,
                   settings.postgres_db)

    def describe(self) -> str:
        """The connection as an operator would type it, without the password."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.db}"


def check_postgres(conn: PostgresConnection, timeout_s: int = 5) -> None:
    """Connect once; on failure one message naming the connection (Dagster's storage layer would retry
    and then raise a long traceback from every process that opens the instance)."""
    import psycopg2

    try:
        psycopg2.connect(host=conn.host, port=conn.port, user=conn.user, password=conn.password,
                         dbname=conn.db, connect_timeout=timeout_s).close()
    except psycopg2.OperationalError as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DeploymentError(f"PostgreSQL instance storage unreachable at {conn.describe()} (postgres_* in "
                              f"spatialmix.toml, password from {PG_PASSWORD_ENV}): {reason}") from None


def check_instance_storage(settings: Settings) -> None:
    if "postgres.yaml" in OVERLAYS[settings.deployment]:
        check_postgres(PostgresConnection.of(settings))
