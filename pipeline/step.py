"""The step contract: how every step decides "current or redo", and how it records that it finished.

A step is a unit of work with outputs (an image shard, a hub shard, a conversation table, the overlap
table, a spatial QA shard, the mixture). Its identity is one fingerprint of
- its code `version` (bump it when the outputs for the same inputs change),
- its `config` (every setting that changes the outputs, as canonical JSON),
- the content of its `inputs` (size + sha256 of each file, see `file_identity`).
The step writes its outputs atomically (temp name, rename), then its **marker** last: a JSON file
holding the report and, under the reserved key `step`, the fingerprint and the size and sha256 of each
output; finishing also removes the temp files a killed earlier run left beside them. A step is
current when its marker carries the same fingerprint and every output it lists is still there with
the recorded size; otherwise it is redone from scratch. Like datatrove's completion
markers and img2dataset's per-shard stats files, the marker doubles as the step's report."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .atomic import sweep_stale_temps, write_bytes
from .digests import file_identities, sha256_file

STEP_KEY = "step"


@dataclass(frozen=True)
class Step:
    """One step's identity and its marker. `inputs` are files; `config` must be JSON-serialisable."""

    marker: Path
    version: str
    inputs: Sequence[Path] = ()
    config: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        body = {"version": self.version, "config": self.config, "inputs": sorted(file_identities(self.inputs))}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def current(self) -> dict[str, Any] | None:
        """The stored report when the step already ran on exactly these inputs and its outputs are intact."""
        stored = read_marker(self.marker)
        if stored is None or stored[STEP_KEY].get("fingerprint") != self.fingerprint:
            return None
        base = self.marker.parent
        for rel, out in stored[STEP_KEY].get("outputs", {}).items():
            path = base / rel
            if not path.is_file() or path.stat().st_size != out["bytes"]:
                return None
        return {k: v for k, v in stored.items() if k != STEP_KEY}

    def finish(self, report: Mapping[str, Any], outputs: Iterable[Path],
               known: Mapping[Path, str] | None = None) -> dict[str, Any]:
        """Record the step as done (call after every output is in place): the marker is written last.
        `known` gives sha256s already computed while writing, so large outputs are not read again."""
        base = self.marker.parent
        known = known or {}
        outputs = [Path(p) for p in outputs]
        listed = {os.path.relpath(p, base): {"bytes": Path(p).stat().st_size,
                                             "sha256": known.get(Path(p)) or sha256_file(Path(p))} for p in outputs}
        body = {**report, STEP_KEY: {"version": self.version, "fingerprint": self.fingerprint,
                                     "config": dict(self.config), "outputs": listed}}
        write_bytes(self.marker, (json.dumps(body, indent=1, sort_keys=True, default=str) + "\n").encode())
        for folder in {base, *(p.parent for p in outputs)}:
            sweep_stale_temps(folder)  # what a killed earlier run of this step left behind
        return dict(report)


def report_dict(report: Any) -> dict[str, Any]:
    """A report dataclass as the JSON-ready mapping a marker stores (`dataclasses.asdict` would turn a
    Counter's items into tuple keys): mappings stay mappings, paths become strings, tuples lists."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value
    return plain(report)


def read_marker(marker: Path) -> dict[str, Any] | None:
    """A marker's whole content (report plus the `step` record), or None when absent or unreadable."""
    try:
        body = json.loads(marker.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get(STEP_KEY), dict) else None
