"""Data versions from the step contract, so that Dagster's staleness is honest: a re-run that finds
every step current reports the same version, and nothing downstream turns stale.

A step's fingerprint (code version + config + input content, `pipeline/step.py`) identifies its
outputs; a source's output steps keep their marker beside the output (`<output>.json`). Without a
marker (nothing to vouch for the output) no version is given and Dagster assigns a new one."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import dagster as dg

from pipeline.digests import file_identities
from pipeline.step import STEP_KEY, read_marker


def _version(parts: Iterable[str]) -> dg.DataVersion:
    return dg.DataVersion(hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:24])


def of_markers(markers: Iterable[Path]) -> dg.DataVersion | None:
    """The version of the outputs of these steps: a hash of their fingerprints."""
    prints = []
    for marker in markers:
        body = read_marker(marker)
        if body is None:
            return None
        prints.append(body[STEP_KEY]["fingerprint"])
    return _version(prints) if prints else None


def of_outputs(outputs: Iterable[Path]) -> dg.DataVersion | None:
    """The version of outputs whose step marker sits beside them (`<output>.json`)."""
    return of_markers(sorted({Path(p).with_suffix(".json") for p in outputs}))


def of_files(files: Iterable[Path]) -> dg.DataVersion | None:
    """The version of files that are not a step's outputs (downloads, training metrics): their content
    identity (a download's sha256 comes from its fetch sidecar, so nothing large is read again)."""
    identities = file_identities(sorted(Path(f) for f in files))
    return _version(identities) if identities else None
