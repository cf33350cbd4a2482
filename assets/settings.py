"""The one settings source of every entry point: `spatialmix.toml` in the Dagster instance folder.

The CLI writes it (`spatialmix run-sample` writes the sample's settings), the definitions read it once
at load time to build the `Workspace` resource and the partitions, and `dagster dev` on the same
instance therefore shows a UI in which every click uses the same data root, mirror, scene pool,
recipe and finetune preset. Nothing else reads the environment for these: engines get explicit
arguments. Each data root has its own instance by default (`<data root>/../.dagster_home`), so runs
against a scratch root never colour the catalog of the real one."""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = "spatialmix.toml"
DEFAULT_DATA_ROOT = "playground/data"
# Where the instance keeps runs and where steps execute (docs/deploy.md): SQLite and in-process steps;
# PostgreSQL storage; PostgreSQL plus every run and step a Ray job on a Ray cluster.
DEPLOYMENTS = ("embedded", "postgres", "ray")
TABLES = ("sources", "deploy")  # settings that are TOML tables, not plain values


class SettingsError(ValueError):
    """The settings file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    data_root: str = DEFAULT_DATA_ROOT      # LLaVA's image folder; tables, cache, mixtures sit beside it
    tables_root: str = ""                   # default <data_root>/../tables
    cache_root: str = ""                    # default <data_root>/../cache
    mirror: str = ""                        # folder, file:// or http:// root laid out as <host>/<path>; "" = upstream
    workers: int = 0                        # image worker processes; 0 = all cores
    scene_pool: str = ""                    # rendered scenes (exact depth and masks) instead of COCO + models
    recipe: str = "recipes/spatial_llava.toml"
    spatialqa_shards: int = 8
    finetune_preset: str = "llava-1.5-7b"   # or "tiny" (random small Llava on CPU)
    launcher: str = "deepspeed"             # "deepspeed", "python", or "ray" (Ray Train; deployment "ray")
    repository: str = ""                    # code repository URL for the UI's code links; "" = git's origin remote
    eval_baseline: str = ""                 # `evaluate`'s baseline (folder or hub id); "" = llava-hf/llava-1.5-7b-hf
    deployment: str = "embedded"            # one of DEPLOYMENTS: the instance's storage and executor
    ray_address: str = ""                   # deployment "ray": the cluster's dashboard URL or GCS address
    ray_shard_cpus: int = 4                 # deployment "ray": CPUs (and image workers) of a shard step
    postgres_host: str = "127.0.0.1"        # deployments "postgres"/"ray": the instance storage's server;
    postgres_port: int = 5432               # its password only ever from DAGSTER_PG_PASSWORD (a secret,
    postgres_user: str = "dagster"          # read through Dagster's `env:` reference)
    postgres_db: str = "dagster"
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-source options, e.g. ocr_vqa.dataset_json
    deploy: dict[str, Any] = field(default_factory=dict)  # Kubernetes manifests (`spatialmix deploy render`)

    def with_paths_resolved(self, base: Path) -> "Settings":
        """Relative paths resolved against `base` (the working directory of the command that wrote them)."""
        def resolve(value: str) -> str:
            return str((base / value).resolve()) if value and "://" not in value else value
        return dataclasses.replace(self, data_root=resolve(self.data_root), tables_root=resolve(self.tables_root),
                                   cache_root=resolve(self.cache_root), mirror=resolve(self.mirror),
                                   scene_pool=resolve(self.scene_pool), recipe=resolve_recipe(self.recipe, base))


def resolve_recipe(value: str, base: Path) -> str:
    """A recipe path: as given if absolute or present under `base`, else relative to the project root."""
    path = Path(value)
    if path.is_absolute():
        return str(path)
    return str((base / path).resolve() if (base / path).exists() else PROJECT_ROOT / path)


def instance_home(data_root: str | None = None) -> Path:
    """The Dagster instance folder: $DAGSTER_HOME when set, else `.dagster_home` beside the data root."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).resolve()
    return (Path(data_root or DEFAULT_DATA_ROOT).resolve().parent / ".dagster_home")


def settings_path(home: Path) -> Path:
    return home / SETTINGS_FILE


def load_settings(home: Path | None = None) -> Settings:
    """The instance's settings (defaults where the file or a key is absent)."""
    path = settings_path(home or instance_home())
    if not path.exists():
        return Settings().with_paths_resolved(Path.cwd())
    return read_settings(path)


def type_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be the setting `key` (a known key), or None (a bool is no int, nor the reverse)."""
    expected = dict if key in TABLES else type(getattr(Settings(), key))
    if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
        return f"`{key}` must be {expected.__name__}, got {value!r}"
    return None


def read_settings(path: Path) -> Settings:
    """The settings of one file, every key and type checked."""
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from e
    known = {f.name: f for f in dataclasses.fields(Settings)}
    if unknown := sorted(set(data) - set(known)):
        raise SettingsError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
    for key, value in data.items():
        if problem := type_problem(key, value):
            raise SettingsError(f"{path}: {problem}")
    if data.get("deployment", "embedded") not in DEPLOYMENTS:
        raise SettingsError(f"{path}: `deployment` must be one of {', '.join(DEPLOYMENTS)}, got {data['deployment']!r}")
    return Settings(**data)


def settings_text(settings: Settings) -> str:
    """The settings as the TOML file `load_settings` reads."""
    lines = [f"# spatialmix settings of this Dagster instance (written by `spatialmix`; edit freely)."]
    for f in dataclasses.fields(Settings):
        if f.name not in TABLES:
            lines.append(f"{f.name} = {_toml(getattr(settings, f.name))}")
    for source, options in sorted(settings.sources.items()):
        lines += _table(f"sources.{source}", options)
    if settings.deploy:
        lines += _table("deploy", settings.deploy)
    return "\n".join(lines) + "\n"


def save_settings(home: Path, settings: Settings) -> Path:
    """Write the settings file (atomically) so every later entry point on this instance uses them."""
    path = settings_path(home)
    text = settings_text(settings)
    if path.exists() and path.read_text() == text:
        return path  # unchanged: a re-run rewrites nothing
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _table(name: str, values: dict[str, Any]) -> list[str]:
    """`[name]` with its plain values, then its sub-tables (e.g. `[deploy.gpu_workers]`)."""
    lines = [f"\n[{name}]"] + [f"{k} = {_toml(v)}" for k, v in sorted(values.items()) if not isinstance(v, dict)]
    for key, value in sorted(values.items()):
        if isinstance(value, dict):
            lines += _table(f"{name}.{key}", value)
    return lines


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
