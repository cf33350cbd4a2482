"""LLaVA-1.5 stage-2 finetune on transformers' LlavaForConditionalGeneration (no Dagster import).

Reads the mixture JSON (LLaVA's format) or its Parquet twin and nothing else of the project."""
