"""Argument types of the `spatialmix` CLI: every value is checked when the command line is parsed, so a
bad one ends in argparse's one-line usage error before any work starts."""
import argparse
import dataclasses
import difflib
from pathlib import Path
from typing import Any

from pipeline.sources.registry import SOURCES

from .settings import DEPLOYMENTS, TABLES, Settings

MIRROR_SCHEMES = ("http://", "https://", "file://")


def source_name(value: str) -> str:
    """A registered source, case-insensitively; an unknown name suggests the closest ones."""
    name = value.strip().lower()
    if name in SOURCES:
        return name
    close = difflib.get_close_matches(name, SOURCES, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(SOURCES)}"
    raise argparse.ArgumentTypeError(f"unknown source {value!r}{hint}")


def port(value: str) -> int:
    """A TCP port, 0..65535 (0: any free port)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 0..65535, got {number}")
    return number


def existing_dir(value: str) -> str:
    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such folder")
    return value


def workers(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"workers must be a whole number >= 0 (0: all cores), got {value!r}")
    return number


def mirror(value: str) -> str:
    """A mirror root: an http(s):// URL, a file:// URL or a folder (both must exist); '' = the real upstream."""
    if not value or value.startswith(("http://", "https://")):
        return value
    if "://" in value and not value.startswith("file://"):
        raise argparse.ArgumentTypeError(f"mirror {value!r}: use a folder or a {', '.join(MIRROR_SCHEMES)} URL")
    folder = Path(value.removeprefix("file://"))
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"mirror {value!r}: no such folder")
    return value


def setting(item: str) -> tuple[str, Any]:
    """`key=value` for `spatialmix settings --set`: a known key, a value of its type, a valid choice."""
    from trainer.config import PRESETS
    from trainer.launch import LAUNCHERS

    key, sep, raw = item.partition("=")
    known = {f.name for f in dataclasses.fields(Settings)} - set(TABLES)
    if not sep or key not in known:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(sorted(known))}"
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a known key, got {item!r}{hint}")
    kind = type(getattr(Settings(), key))
    try:
        value = raw if kind is str else kind(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key} must be {kind.__name__}, got {raw!r}") from None
    choices = {"finetune_preset": tuple(PRESETS), "launcher": (*LAUNCHERS, "ray"), "deployment": DEPLOYMENTS}.get(key)
    if choices and value not in choices:
        raise argparse.ArgumentTypeError(f"{key} must be one of {', '.join(choices)}, got {raw!r}")
    if key == "mirror":
        value = mirror(value)
    if key == "workers":
        value = workers(raw)
    if key == "ray_shard_cpus" and value < 1:
        raise argparse.ArgumentTypeError(f"ray_shard_cpus must be at least 1, got {raw!r}")
    return key, value
