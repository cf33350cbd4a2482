"""Metric spatial QA from depth + segmentation (SpatialRGPT style), verified on rendered scenes.

Stages, each its own module with a small interface so any one can be replaced:
regions -> masks -> depth -> lifting -> frame -> facts -> qa, driven per shard by `generate`.
No Dagster import: the asset in `assets/spatialqa.py` is a thin wrapper."""
