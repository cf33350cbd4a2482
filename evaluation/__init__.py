"""Offline, deterministic evaluation of a LLaVA checkpoint on spatial-relation benchmarks.

Stages, each a small module with no Dagster import (the `evaluate` asset is a thin wrapper):
benchmark rows -> eval table (`benchmarks`, `rendered`) -> greedy predictions per shard (`inference`)
-> rule-based verdicts (`judge`, on the parsers in `quantities` and `relations`) -> the per-category
table of Spatial-LLaVA's README (`scores`), driven by `run.evaluate_checkpoint`."""
