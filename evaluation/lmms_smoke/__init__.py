"""The hooks file copied into the one-item lmms-eval task that evaluation.lmms writes."""
