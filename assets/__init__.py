"""The Dagster layer: thin assets over the engines in pipeline/, spatialqa_gen/ and trainer/."""
