"""Mixture recipes: a small versioned TOML file names the components of a training mixture,
how many samples each is expected to contribute, and how overlaps and duplicates are handled.

Changing a component, a count or a policy is an edit to the recipe, never to code.

A component's `expected` is a count, or `"source"`: the count the source's own ingest report derives
from what the upstream actually served (`expected_records` in `<tables>/<source>/conversations.json`,
e.g. the 665K minus the records whose OCR-VQA cover could not be had), resolved by
`resolve_expected` before the build. An optional `[seed_composition]` table states the composition
the recipe reproduces (group -> count) and components name their group (`seed_group = "academic"`);
the mixture manifest reports the deviation per group (`seed_deviation`)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Policy = Literal["keep", "drop"]
DEFAULT_TABLE = "conversations.parquet"


class RecipeError(ValueError):
    """The recipe file is malformed; the message names the offending key."""


@dataclass(frozen=True)
class Component:
    """One contributor to the mixture: a source's conversation table under the tables root."""

    name: str                      # unique within the recipe; reported per component
    source: str                    # folder under the tables root (and provenance `source`)
    table: str = DEFAULT_TABLE     # a parquet file or a folder of parquet parts, inside the source folder
    expected: int | None = None    # records expected in the mixture from this component
    tolerance: float | None = None  # relative; None: the recipe's default
    max_samples: int | None = None  # keep at most this many (seeded random subset), after validation
    fraction: float | None = None   # keep this share (seeded random subset), after validation
    expected_from_source: bool = False  # `expected = "source"`: read from the source's report
    seed_group: str | None = None   # the `[seed_composition]` group this component counts towards


@dataclass(frozen=True)
class Overlap:
    """Samples of `sources` that repeat a sample of `reference`: same image bytes (sha256 from the
    image manifests) and same normalised first question. `keep` reproduces the original mixture."""

    policy: Policy = "keep"
    sources: tuple[str, ...] = ()
    reference: str = "llava_665k"


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    seed: int
    tolerance: float
    components: tuple[Component, ...]
    overlap: Overlap = field(default_factory=Overlap)
    duplicates: Policy = "drop"    # same image path + same conversations
    composition: dict[str, int] = field(default_factory=dict)  # the reproduced seed's composition: group -> count
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # the file as parsed, for the manifest
    sha256: str = ""                                                    # of the file bytes

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def tolerance_of(self, c: Component) -> float:
        return self.tolerance if c.tolerance is None else c.tolerance


def _typed(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    # bool is an int in Python: refuse `expected = true` explicitly
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise RecipeError(f"{where}: `{key}` must be {kind}, got {value!r}")
    return value


def _policy(value: Any, where: str) -> Policy:
    if value not in ("keep", "drop"):
        raise RecipeError(f"{where}: policy must be 'keep' or 'drop', got {value!r}")
    return value


def _component(entry: Any, index: int) -> Component:
    where = f"components[{index}]"
    if not isinstance(entry, dict):
        raise RecipeError(f"{where} must be a table")
    known = {"name", "source", "table", "expected", "tolerance", "max_samples", "fraction", "seed_group"}
    if unknown := set(entry) - known:
        raise RecipeError(f"{where}: unknown keys {sorted(unknown)}")
    source = _typed(entry, "source", str, where)
    if not source:
        raise RecipeError(f"{where}: `source` is required")
    from_source = entry.get("expected") == "source"
    c = Component(
        name=_typed(entry, "name", str, where, source),
        source=source,
        table=_typed(entry, "table", str, where, DEFAULT_TABLE),
        expected=None if from_source else _typed(entry, "expected", int, where),
        tolerance=_number(entry, "tolerance", where),
        max_samples=_typed(entry, "max_samples", int, where),
        fraction=_number(entry, "fraction", where),
        expected_from_source=from_source,
        seed_group=_typed(entry, "seed_group", str, where),
    )
    if c.expected is not None and c.expected < 0:
        raise RecipeError(f"{where}: `expected` must be >= 0")
    if c.max_samples is not None and c.max_samples < 0:
        raise RecipeError(f"{where}: `max_samples` must be >= 0")
    if c.fraction is not None and not 0.0 <= c.fraction <= 1.0:
        raise RecipeError(f"{where}: `fraction` must be within [0, 1]")
    if c.tolerance is not None and c.tolerance < 0:
        raise RecipeError(f"{where}: `tolerance` must be >= 0")
    if Path(c.table).is_absolute() or ".." in Path(c.table).parts:
        raise RecipeError(f"{where}: `table` must be a path inside the source folder, got {c.table!r}")
    return c


def _number(table: dict[str, Any], key: str, where: str) -> float | None:
    value = _typed(table, key, (int, float), where)
    return None if value is None else float(value)


def parse(data: dict[str, Any], sha256: str = "") -> Recipe:
    known = {"name", "version", "seed", "tolerance", "duplicates", "overlap", "components", "seed_composition"}
    if unknown := set(data) - known:
        raise RecipeError(f"recipe: unknown keys {sorted(unknown)}")
    name = _typed(data, "name", str, "recipe")
    if not name or "/" in name or name.startswith(".") or name in ("rejections", "manifest"):
        raise RecipeError(f"recipe: `name` must be a plain file name, got {name!r}")
    entries = data.get("components")
    if not isinstance(entries, list) or not entries:
        raise RecipeError("recipe: at least one [[components]] entry is required")
    components = tuple(_component(e, i) for i, e in enumerate(entries))
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise RecipeError(f"recipe: component names must be unique, got {names}")

    overlap_table = data.get("overlap", {})
    if not isinstance(overlap_table, dict):
        raise RecipeError("recipe: [overlap] must be a table")
    if unknown := set(overlap_table) - {"policy", "sources", "reference"}:
        raise RecipeError(f"overlap: unknown keys {sorted(unknown)}")
    sources = _typed(overlap_table, "sources", list, "overlap", [])
    if not all(isinstance(s, str) for s in sources):
        raise RecipeError("overlap: `sources` must be a list of component names")
    overlap = Overlap(
        policy=_policy(overlap_table.get("policy", "keep"), "overlap"),
        sources=tuple(sources),
        reference=_typed(overlap_table, "reference", str, "overlap", "llava_665k"),
    )
    for s in (*overlap.sources, overlap.reference) if overlap.sources else ():
        if s not in names:
            raise RecipeError(f"overlap: {s!r} is not a component name ({names})")

    composition = data.get("seed_composition", {})
    if not isinstance(composition, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in composition.values()):
        raise RecipeError("recipe: [seed_composition] must map group names to counts")
    for c in components:
        if c.seed_group is not None and c.seed_group not in composition:
            raise RecipeError(f"component {c.name!r}: seed_group {c.seed_group!r} is not in "
                              f"[seed_composition] {sorted(composition)}")
    tolerance = _number(data, "tolerance", "recipe")
    return Recipe(
        name=name,
        version=str(data.get("version", "1")),
        seed=_typed(data, "seed", int, "recipe", 0),
        tolerance=0.0 if tolerance is None else tolerance,
        components=components,
        overlap=overlap,
        duplicates=_policy(data.get("duplicates", "drop"), "duplicates"),
        composition=dict(composition),
        raw=data,
        sha256=sha256,
    )


def load(path: str | Path) -> Recipe:
    """Read a recipe file; errors name the file and the key."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"{path}: not valid TOML: {e}") from e
    try:
        return parse(data, hashlib.sha256(raw).hexdigest())
    except RecipeError as e:
        raise RecipeError(f"{path}: {e}") from e


def check_sources(recipe: Recipe, known: dict[str, set[str]]) -> Recipe:
    """Refuse components naming a source or a table that nothing produces (`known`: source -> its
    conversation tables, from the source registry), so a typo fails before any work."""
    for c in recipe.components:
        if c.source not in known:
            raise RecipeError(f"recipe {recipe.name}: component {c.name!r} names unknown source {c.source!r}; "
                              f"known: {sorted(known)}")
        if c.table not in known[c.source]:
            raise RecipeError(f"recipe {recipe.name}: source {c.source!r} writes {sorted(known[c.source])}, "
                              f"not {c.table!r}")
    return recipe


def resolve_expected(recipe: Recipe, tables_root: Path) -> Recipe:
    """Components with `expected = "source"` get the count their source's ingest report derived
    (`expected_records` in its conversations marker); a source not ingested yet is a clear error."""
    resolved = []
    for c in recipe.components:
        if c.expected_from_source:
            marker = Path(tables_root) / c.source / Path(c.table).with_suffix(".json")
            try:
                expected = json.loads(marker.read_bytes())["details"]["expected_records"]
            except (FileNotFoundError, KeyError, ValueError) as e:
                raise RecipeError(f"recipe {recipe.name}: component {c.name!r} expects what {c.source!r} reports, "
                                  f"but {marker} has no expected_records (ingest {c.source} first)") from e
            c = dataclasses.replace(c, expected=int(expected))
        resolved.append(c)
    return dataclasses.replace(recipe, components=tuple(resolved))


def seed_deviation(recipe: Recipe, records: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per `[seed_composition]` group: the seed's count, what the recipe expects, what the mixture
    holds (`records`: component name -> records), and the deviations from the seed."""
    out = {}
    for group, count in recipe.composition.items():
        members = [c for c in recipe.components if c.seed_group == group]
        expected = sum(c.expected or 0 for c in members)
        held = sum(records.get(c.name, 0) for c in members)
        out[group] = {"seed": count, "expected": expected, "records": held,
                      "expected_minus_seed": expected - count, "records_minus_seed": held - count}
    return out
