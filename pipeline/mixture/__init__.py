"""Merge the conversation tables named by a recipe into one LLaVA training mixture.

Steps (all record-level work is columnar, in polars): read each component's table, check every record
against the contract of `pipeline/records.py` (the same rules, vectorised), drop exact duplicates,
detect (and keep or drop) samples that repeat the reference set, sample per component, make ids
unique, shuffle from the recipe's seed, then export:

    <out>/<name>.json        LLaVA's format (list of {id, image?, conversations}), streamed
    <out>/<name>.parquet     the same records in the same order, with provenance (CONVERSATIONS)
    <out>/rejections.parquet every record left out and why (REJECTIONS)
    <out>/manifest.json      counts per component vs the recipe, rejections, duplicates, overlap, hashes

Every file is written into a staging folder that becomes a version folder, committed by one pointer
swap (`commit.py`); the manifest records a fingerprint of the inputs, so a rerun over unchanged
inputs does nothing."""

from pipeline.mixture.cli import main
from pipeline.mixture.export import count_json_records, write_llava_json
from pipeline.mixture.merge import MixtureReport, build
from pipeline.mixture.read import CONVERSATIONS_SCHEMA, MixtureError
from pipeline.mixture.contract import images_exist

__all__ = ["CONVERSATIONS_SCHEMA", "MixtureError", "MixtureReport", "build", "count_json_records", "images_exist",
           "main", "write_llava_json"]
