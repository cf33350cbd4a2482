"""Offline, deterministic evaluation of a LLaVA checkpoint on spatial-relation benchmarks.

Stages, each a small module with no Dagster import (the assets in assets/evaluation.py are thin
wrappers): hub benchmark files (`sources`, registered as sources of family "benchmark") or rendered
scenes (`rendered`) -> eval table (`benchmarks`, `table`) -> greedy predictions per shard
(`inference`, settings in `presets`) -> rule-based verdicts (`judge`, on the parsers in `quantities`,
`relations` and `questions`) -> the per-category table of Spatial-LLaVA's README (`scores`), driven
by `run.evaluate_checkpoint`. Every stage that writes files is a step of pipeline/step.py."""
